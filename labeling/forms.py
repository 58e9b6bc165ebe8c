"""Filters of the studies list and the PACS forms, validated like any other input."""

import re

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from . import netpolicy, pacs
from .dimse_scu import DEFAULT_CALLING_AET
from .models import Instance, PacsConnection, Report, Series

TRISTATE = [("", _("any")), ("yes", _("yes")), ("no", _("no"))]


class StudyFilterForm(forms.Form):
    q = forms.CharField(label=_("Accession or patient"), required=False, max_length=64)
    label = forms.ChoiceField(label=_("Label"), required=False, choices=[("", _("any"))])
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput({"type": "date"})
    )
    modality = forms.CharField(label=_("Modality"), required=False, max_length=16)
    has_report = forms.ChoiceField(label=_("Has report"), choices=TRISTATE, required=False)
    decode_error = forms.ChoiceField(label=_("Decode error"), choices=TRISTATE, required=False)

    def __init__(self, *args, label_set=None, language: str = "en", **kwargs) -> None:
        """``label_set``: the team's latest frozen set, whose labels the label filter offers."""
        super().__init__(*args, **kwargs)
        self.label_set = label_set
        if label_set is not None:
            name = "zh" if language.startswith("zh") else "en"
            self.fields["label"].choices = [("", _("any"))] + [
                (label["key"], label.get(name) or label["key"]) for label in label_set.labels
            ]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data

    def apply(self, studies: QuerySet) -> QuerySet:
        data = self.cleaned_data
        if data.get("label") and self.label_set is not None:
            rows = self.label_set.images.values_list("sop_uid", "labels")
            uids = [uid for uid, labels in rows if data["label"] in labels]
            studies = studies.filter(instances__sop_uid__in=uids).distinct()
        if data.get("q"):
            studies = studies.filter(
                Q(accession_number__icontains=data["q"]) | Q(patient_id__icontains=data["q"])
            )
        if data.get("date_from"):
            studies = studies.filter(study_date__gte=data["date_from"])
        if data.get("date_to"):
            studies = studies.filter(study_date__lte=data["date_to"])
        if data.get("modality"):
            studies = studies.filter(
                Exists(Series.objects.filter(study=OuterRef("pk"), modality=data["modality"]))
            )
        studies = _tristate(
            studies, data.get("has_report"), Exists(Report.objects.filter(study=OuterRef("pk")))
        )
        broken = Instance.objects.filter(study=OuterRef("pk")).exclude(decode_error="")
        return _tristate(studies, data.get("decode_error"), Exists(broken))


def _tristate(studies: QuerySet, choice: str | None, condition) -> QuerySet:
    if choice == "yes":
        return studies.filter(condition)
    if choice == "no":
        return studies.exclude(condition)
    return studies


AE_TITLE = re.compile(r"[ -\[\]-~]{1,16}")  # printable ASCII without a backslash (PS3.5 6.2)
PORT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(65535)]


def clean_ae_title(value: str) -> str:
    """An AE title without its insignificant leading and trailing spaces."""
    value = value.strip()
    if not AE_TITLE.fullmatch(value):
        raise forms.ValidationError(
            _("An AE title has 1 to 16 letters, digits, spaces or symbols, and no backslash."),
            code="ae_title",
        )
    return value


class PacsConnectionForm(forms.ModelForm):
    """A team's PACS connection, over DICOMweb (a URL) or DIMSE (host, port and AE titles).

    Every address must pass the destination policy (``labeling/netpolicy.py``) now, as it will
    on every request or association; the password is write-only. The other protocol's fields
    are kept as they are, so that switching back loses nothing."""

    url = forms.URLField(
        label=_("DICOMweb URL"),
        max_length=300,
        required=False,
        assume_scheme="https",
        help_text=_(
            "http:// or https://, without a user name, password or #fragment. A private or "
            "internal address must first be allowed by the server's operator."
        ),
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        max_length=300,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "Leave empty to keep the stored password, as long as the address keeps its scheme, "
            "host and port: a new one drops the stored password, so enter it again."
        ),
    )
    host = forms.CharField(
        label=_("Host"),
        required=False,
        max_length=253,
        help_text=_("The PACS's DICOM host name or IP address (DIMSE)."),
    )
    port = forms.IntegerField(
        label=_("Port"), required=False, validators=PORT_VALIDATORS, help_text=_("Often 104.")
    )
    called_aet = forms.CharField(
        label=_("Called AE title"),
        required=False,
        max_length=16,
        strip=False,
        help_text=_("The PACS's own AE title."),
    )
    calling_aet = forms.CharField(
        label=_("Calling AE title"),
        required=False,
        max_length=16,
        strip=False,
        initial=DEFAULT_CALLING_AET,
        help_text=_("Ours, as the PACS knows this server."),
    )
    field_order = [
        "name",
        "protocol",
        "url",
        "username",
        "password",
        "proxy",
        "host",
        "port",
        "called_aet",
        "calling_aet",
        "retrieve",
    ]

    class Meta:
        model = PacsConnection
        fields = [
            "name",
            "protocol",
            "url",
            "username",
            "proxy",
            "host",
            "port",
            "called_aet",
            "calling_aet",
            "retrieve",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance if self.instance.pk else None
        self.stored_url = stored.url if stored else ""
        self.stored_password = stored.password if stored else ""
        self.password_dropped = False
        # A form posted without them (a script written before DIMSE) means DICOMweb, C-MOVE.
        self.fields["protocol"].required = self.fields["retrieve"].required = False
        if stored and stored.password_unreadable:
            self.fields["password"].help_text = _(
                "The stored password cannot be decrypted with this server's key: enter it again."
            )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url:
            return url
        try:
            pacs.check_url(url)
        except netpolicy.DestinationRefused as refusal:
            pacs.egress_log.warning("PACS address refused: %s", refusal)
            raise forms.ValidationError(
                pacs.refusal_message(refusal.reason), code=refusal.reason
            ) from None
        return url

    def clean_protocol(self) -> str:
        return self.cleaned_data["protocol"] or PacsConnection.Protocol.DICOMWEB

    def clean_retrieve(self) -> str:
        return self.cleaned_data["retrieve"] or PacsConnection.Retrieve.MOVE

    def clean_host(self) -> str:
        return self.cleaned_data["host"].strip()

    def clean(self) -> dict:
        data = super().clean()
        if data.get("protocol") == PacsConnection.Protocol.DIMSE:
            self._clean_dimse(data)
        elif "url" in data and not data["url"]:
            self.add_error("url", forms.ValidationError(_("Enter the DICOMweb URL."), "required"))
        # The password is never sent back to the browser, so an empty field keeps the stored
        # one; but only for the same origin, or a new URL would receive the old password.
        if not data.get("password") and self.stored_password and "url" in data:
            self.password_dropped = not netpolicy.same_origin(self.stored_url, data["url"])
        return data

    def _clean_dimse(self, data: dict) -> None:
        if data.get("proxy"):
            self.add_error("proxy", _("Proxy mode needs DICOMweb: DIMSE has nothing to forward."))
        for name in ("host", "port", "called_aet"):
            if name in data and data[name] in ("", None):
                self.add_error(name, forms.ValidationError(_("Needed for DIMSE."), "required"))
        for name in ("called_aet", "calling_aet"):
            if data.get(name):
                try:
                    data[name] = clean_ae_title(data[name])
                except forms.ValidationError as error:
                    self.add_error(name, error)
        if not data.get("calling_aet") and "calling_aet" not in self.errors:
            data["calling_aet"] = DEFAULT_CALLING_AET
        if data.get("host") and data.get("port"):
            try:
                pacs.check_peer(data["host"], data["port"])
            except netpolicy.DestinationRefused as refusal:
                pacs.egress_log.warning("DIMSE peer refused: %s", refusal)
                self.add_error(
                    "host",
                    forms.ValidationError(pacs.refusal_message(refusal.reason), refusal.reason),
                )

    def save(self, commit: bool = True) -> PacsConnection:
        connection = super().save(commit=False)
        if self.cleaned_data.get("password"):
            connection.password = self.cleaned_data["password"]
        elif self.password_dropped or not self.stored_password:
            connection.password = ""
        if commit:
            connection.save()
        return connection


class PacsSearchForm(forms.Form):
    patient = forms.CharField(label=_("Patient ID"), required=False, max_length=64)
    accession = forms.CharField(label=_("Accession"), required=False, max_length=64)
    modality = forms.CharField(label=_("Modality"), required=False, max_length=16)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput({"type": "date"})
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data
