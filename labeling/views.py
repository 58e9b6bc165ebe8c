"""The store's own pages: upload, PACS, thumbnails. Any page of a team you do not belong to is a
404. The study list and study page, which also show labels and predictions, are assembled above
(``results/studies.py``)."""

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from jobs import services as job_services
from teams.access import CAN_CONFIGURE_PACS, CAN_IMPORT, get_visible_or_404, require_role, role_in
from teams.models import Role

from . import dimse_scu, services, uploads
from . import pacs as pacs_client
from .dicom import render_png
from .forms import PacsConnectionForm, PacsSearchForm
from .models import DicomListener, Instance, PacsConnection

ERROR_TILE_SIZE = 64


@login_required
@cache_control(private=True, max_age=3600)
def thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    """The training cache's image as PNG: what the model is trained on is what people see."""
    instance = get_visible_or_404(Instance.objects.select_related("team"), request.user, pk=pk)
    pixels = services.cached_image(instance)
    if pixels is None:
        response = HttpResponse(render_png(_error_tile()), content_type="image/png")
        response["X-Decode-Error"] = instance.decode_error or "not in the training cache"
        return response
    return HttpResponse(render_png(pixels), content_type="image/png")


def _error_tile() -> np.ndarray:
    """A dark tile crossed in grey, so an undecodable image is visibly not an X-ray."""
    tile = np.full((ERROR_TILE_SIZE, ERROR_TILE_SIZE), 24, dtype=np.uint8)
    diagonal = np.arange(ERROR_TILE_SIZE)
    tile[diagonal, diagonal] = tile[diagonal, ERROR_TILE_SIZE - 1 - diagonal] = 160
    return tile


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    team = request.team
    can_import = team is not None and role_in(request.user, team) in CAN_IMPORT
    return render(
        request,
        "labeling/upload.html",
        {
            "team": team,
            "can_import": can_import,
            "deid": _("on") if team and team.deidentify else _("off"),
            "upload_messages": uploads.page_messages(),
        },
    )


@login_required
def pacs(request: HttpRequest) -> HttpResponse:
    """The team's PACS: its connection (admins), a search (QIDO-RS or C-FIND), and pulling what
    is chosen (a job)."""
    team = request.team
    if team is None:
        return redirect("home")
    role = role_in(request.user, team)
    connection = PacsConnection.objects.filter(team=team).first()
    connection_form, tested = PacsConnectionForm(instance=connection), None
    action = request.POST.get("action") if request.method == "POST" else None
    if action in ("connection", "test"):
        require_role(request.user, team, CAN_CONFIGURE_PACS)
        connection_form = PacsConnectionForm(request.POST, instance=connection)
        if connection_form.is_valid() and action == "test":
            # What was typed, before it is saved: nothing is stored.
            candidate = connection_form.save(commit=False)
            candidate.team = team
            tested = _test_connection(candidate)
            connection = PacsConnection.objects.filter(team=team).first()
        elif connection_form.is_valid():
            saved = connection_form.save(commit=False)
            saved.team = team
            saved.save()
            messages.success(request, _("PACS connection saved."))
            if connection_form.password_dropped:
                messages.warning(
                    request,
                    _(
                        "The address changed, so the stored password was dropped: enter it "
                        "again if the PACS needs one."
                    ),
                )
            return redirect("labeling:pacs")
    elif action == "pull":
        require_role(request.user, team, CAN_IMPORT)
        studies = [uid for uid in request.POST.getlist("study") if uid.strip()]
        if connection is None or not studies:
            messages.error(request, _("Choose at least one study to pull."))
            return redirect("labeling:pacs")
        job = job_services.create_job(
            team, request.user, "pacs_pull", {"studies": studies[:1000]},
            name=_("pull %(count)d studies from %(pacs)s") % {"count": len(studies), "pacs": connection.name},
        )  # fmt: skip
        return redirect("training:job-detail", pk=job.pk)
    search_form, results, error = PacsSearchForm(request.GET or None), None, ""
    if connection is not None and search_form.is_bound and search_form.is_valid():
        search = dimse_scu.search if connection.is_dimse else pacs_client.search
        try:
            results = search(connection, **search_form.cleaned_data)
        except pacs_client.PacsError as exc:
            error = str(exc)
    return render(
        request,
        "labeling/pacs.html",
        {
            "connection": connection,
            "connection_form": connection_form,
            "tested": tested,
            "listener": DicomListener.objects.filter(team=team).first(),
            "search_form": search_form,
            "results": results,
            "error": error,
            "is_admin": role == Role.ADMIN,
            "can_pull": role in CAN_IMPORT,
        },
    )


@login_required
@require_POST
def pacs_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Test the saved connection (C-ECHO or one QIDO-RS request): any member of its team."""
    connection = get_visible_or_404(PacsConnection, request.user, pk=pk)
    ok, sentence = _test_connection(connection)
    (messages.success if ok else messages.error)(request, sentence)
    return redirect("labeling:pacs")


def _test_connection(connection: PacsConnection) -> tuple[bool, str]:
    """Whether the PACS answers, in one sentence."""
    try:
        if connection.is_dimse:
            dimse_scu.echo(connection)
        else:
            pacs_client.probe(connection)
    except pacs_client.PacsError as exc:
        return False, _("The connection does not work: %(reason)s") % {"reason": exc}
    if connection.is_dimse:
        return True, _("The connection works: the PACS answered a C-ECHO.")
    return True, _("The connection works: the PACS answered a study search (QIDO-RS).")
