"""The listener page's forms: the team's AE title and port, and its peers."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .. import netpolicy, pacs
from ..models import DicomListener, DicomPeer


class ListenerForm(forms.ModelForm):
    class Meta:
        model = DicomListener
        fields = ["ae_title", "port", "enabled"]
        error_messages = {"port": {"unique": _("Another team's listener uses this port.")}}

    def clean_ae_title(self) -> str:
        return self.cleaned_data["ae_title"].strip()


class PeerForm(forms.ModelForm):
    class Meta:
        model = DicomPeer
        fields = ["ae_title", "host", "description"]
        help_texts = {
            "host": _(
                "IP address or host name the peer connects from. A private or internal address "
                "must first be allowed by the server's operator."
            )
        }

    def __init__(self, *args, team=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_ae_title(self) -> str:
        return self.cleaned_data["ae_title"].strip()

    def clean_host(self) -> str:
        host = self.cleaned_data["host"].strip().lower()
        try:
            pacs.check_peer(host, 104)
        except netpolicy.DestinationRefused as refusal:
            pacs.egress_log.warning("DICOM peer address refused: %s", refusal)
            raise forms.ValidationError(
                pacs.refusal_message(refusal.reason), code=refusal.reason
            ) from None
        return host

    def clean(self) -> dict:
        data = super().clean()
        title, host = data.get("ae_title"), data.get("host")
        if title and host and DicomPeer.objects.filter(team=self.team, ae_title=title, host=host):
            raise forms.ValidationError(_("This peer is already on the list."))
        return data
