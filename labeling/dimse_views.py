"""The DICOM listener page: the team's AE title, port and peers (admins change them), whether
the listener process is running (its heartbeat), the last associations and rejected files."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from teams.access import CAN_CONFIGURE_PACS, require_role, role_in

from .dimse.forms import ListenerForm, PeerForm
from .dimse.listener import HEARTBEAT_SECONDS, listener_for
from .models import DicomAssociation, DicomPeer, DicomRejection

SHOWN = 20


@login_required
def dicom_listener(request: HttpRequest) -> HttpResponse:
    team = request.team
    if team is None:
        return redirect("home")
    role = role_in(request.user, team)
    listener = listener_for(team, create=False)
    listener_form, peer_form = ListenerForm(instance=listener), PeerForm(team=team)
    action = request.POST.get("action") if request.method == "POST" else None
    if action:
        require_role(request.user, team, CAN_CONFIGURE_PACS)
    if action == "listener":
        listener_form = ListenerForm(request.POST, instance=listener)
        if listener_form.is_valid():
            listener_form.save()
            messages.success(request, _("Listener settings saved."))
            return redirect("labeling:dicom-listener")
    elif action == "add-peer":
        peer_form = PeerForm(request.POST, team=team)
        if peer_form.is_valid():
            peer = peer_form.save(commit=False)
            peer.team = team
            peer.save()
            messages.success(request, _("Peer added."))
            return redirect("labeling:dicom-listener")
    elif action == "remove-peer":
        peer = get_object_or_404(DicomPeer.objects.of_team(team), pk=request.POST.get("peer"))
        peer.delete()
        messages.success(request, _("Peer removed."))
        return redirect("labeling:dicom-listener")
    fresh = timezone.now() - timedelta(seconds=HEARTBEAT_SECONDS * 3)
    running = bool(listener.pk and listener.heartbeat_at and listener.heartbeat_at >= fresh)
    return render(
        request,
        "labeling/dicom_listener.html",
        {
            "listener": listener,
            "running": running,
            "listening": running and listener.listening,
            "peers": DicomPeer.objects.of_team(team),
            "associations": DicomAssociation.objects.of_team(team)[:SHOWN],
            "rejections": DicomRejection.objects.of_team(team)[:SHOWN],
            "listener_form": listener_form,
            "peer_form": peer_form,
            "is_admin": role in CAN_CONFIGURE_PACS,
        },
    )
