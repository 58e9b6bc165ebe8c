"""The study list and the study page: the DICOM store's studies with what the layers above add
(the latest frozen labels, each run's predictions, Grad-CAM overlays), so they are assembled here,
at the top of the layers they show. Mounted under the ``labeling`` URL namespace by ``lab/urls.py``
beside the store's own pages (``labeling/urls.py``), so their names never changed."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext as _

from curation.models import LabelSet
from labeling.forms import StudyFilterForm
from labeling.models import Instance, Study
from teams.access import get_visible_or_404
from training.services import study_predictions

from .heatmaps import viewer_options

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
            .prefetch_related(
                Prefetch("instances", Instance.objects.select_related("series").order_by("id"))
            )
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
        # The root of labeling/dicomweb/urls.py, wherever lab/urls.py mounts it.
        "dicomwebRoot": reverse("dicomweb:studies").removesuffix("/studies"),
        "studyUid": study.study_uid,
        "series": series,
        "strings": {
            "sequence": _("sequence"),
            "binary": _("binary data"),
            "noImages": _("This study has no images."),
        },
    }


urlpatterns = [
    path("studies/", study_list, name="study-list"),
    path("studies/<int:pk>/", study_detail, name="study-detail"),
]
