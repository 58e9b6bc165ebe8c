"""Study pages. Lists show the active team; any page of a team you do not belong to is a 404."""

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control

from lab.access import CAN_IMPORT, get_visible_or_404, require_role, role_in
from lab.models import Role
from training import services as job_services

from . import pacs as pacs_client
from . import services
from .dicom import render_png
from .forms import PacsConnectionForm, PacsSearchForm, StudyFilterForm
from .models import Instance, PacsConnection, Study

STUDIES_PER_PAGE = 50


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    form = StudyFilterForm(
        request.GET or None,
        label_set=latest_label_set(request.team),
        language=request.LANGUAGE_CODE,
    )
    studies = Study.objects.none()
    if request.team is not None:
        studies = Study.objects.of_team(request.team)
        if form.is_bound and form.is_valid():
            studies = form.apply(studies)
        studies = (
            studies.select_related("report")
            .prefetch_related(Prefetch("instances", Instance.objects.order_by("id")))
            .order_by("-study_date", "-id")
        )
    page = Paginator(studies, STUDIES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "labeling/study_list.html",
        {"page": page, "form": form, "query": query.urlencode()},
    )


@login_required
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from results.heatmaps import viewer_options
    from training.services import study_predictions

    study = get_visible_or_404(Study.objects.select_related("team"), request.user, pk=pk)
    instances = list(study.instances.select_related("series").all())
    report = getattr(study, "report", None)
    frozen = frozen_labels(study, request.LANGUAGE_CODE)
    for instance in instances:
        instance.frozen_labels = frozen["by_image"].get(instance.sop_uid) if frozen else None
    predictions = study_predictions(study)
    return render(
        request,
        "labeling/study_detail.html",
        {
            "study": study,
            "instances": instances,
            "report": report,
            "viewer_config": viewer_config(study, instances),
            "predictions": predictions,
            "heatmap_config": viewer_options(study, predictions, request.GET.dict()),
            "frozen": frozen,
        },
    )


def latest_label_set(team):
    from curation.models import LabelSet

    return LabelSet.objects.of_team(team).order_by("-version").first() if team else None


def frozen_labels(study: Study, language: str) -> dict | None:
    """The study's images' labels in the team's latest frozen label set, named in the page's
    language; None before any set is frozen."""
    label_set = latest_label_set(study.team)
    if label_set is None:
        return None
    names = {
        label["key"]: label.get("zh" if language.startswith("zh") else "en") or label["key"]
        for label in label_set.labels
    }
    rows = label_set.images.filter(sop_uid__in=study.instances.values("sop_uid"))
    by_image = {row.sop_uid: [names.get(key, key) for key in row.labels] for row in rows}
    return {"version": label_set.version, "by_image": by_image}


def viewer_config(study: Study, instances) -> dict:
    """What the viewer needs to fetch its stack (json_script), with its words translated here."""
    series = list(dict.fromkeys(instance.series.series_uid for instance in instances))
    return {
        # The root of labeling/dicomweb_urls.py, wherever lab/urls.py mounts it.
        "dicomwebRoot": reverse("dicomweb:studies").removesuffix("/studies"),
        "studyUid": study.study_uid,
        "series": series,
        "strings": {
            "sequence": _("sequence"),
            "binary": _("binary data"),
            "noImages": _("This study has no images."),
        },
    }


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
    messages = {
        "queued": _("queued"),
        "uploading": _("uploading…"),
        "imported": _("imported"),
        "duplicate": _("already there"),
        "rejected": _("rejected"),
        "network": _("the connection failed; try again"),
        "unknown_keys": _("no study for:"),
        "reports_done": _("%(created)s reports created, %(updated)s updated"),
        "summary": _("%(imported)s imported, %(duplicate)s already there, %(rejected)s rejected"),
    }
    return render(
        request,
        "labeling/upload.html",
        {
            "team": team,
            "can_import": can_import,
            "deid": _("on") if team and team.deidentify else _("off"),
            "upload_messages": messages,
        },
    )


@login_required
def pacs(request: HttpRequest) -> HttpResponse:
    """The team's PACS: its connection (admins), a QIDO search, and pulling what is chosen."""
    team = request.team
    if team is None:
        return redirect("home")
    role = role_in(request.user, team)
    connection = PacsConnection.objects.filter(team=team).first()
    connection_form = PacsConnectionForm(instance=connection)
    if request.method == "POST" and request.POST.get("action") == "connection":
        require_role(request.user, team, {Role.ADMIN})
        connection_form = PacsConnectionForm(request.POST, instance=connection)
        if connection_form.is_valid():
            saved = connection_form.save(commit=False)
            saved.team = team
            saved.save()
            messages.success(request, _("PACS connection saved."))
            return redirect("labeling:pacs")
    elif request.method == "POST" and request.POST.get("action") == "pull":
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
        try:
            results = pacs_client.search(connection, **search_form.cleaned_data)
        except pacs_client.PacsError as exc:
            error = str(exc)
    return render(
        request,
        "labeling/pacs.html",
        {
            "connection": connection,
            "connection_form": connection_form,
            "search_form": search_form,
            "results": results,
            "error": error,
            "is_admin": role == Role.ADMIN,
            "can_pull": role in CAN_IMPORT,
        },
    )
