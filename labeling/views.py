"""Study pages. Lists show the active team; any page of a team you do not belong to is a 404."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lab.access import get_visible_or_404

from .models import Study

STUDIES_PER_PAGE = 50


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = (
        Study.objects.of_team(request.team)
        .select_related("report")
        .prefetch_related("instances")
        .order_by("-study_date", "-id")
        if request.team
        else Study.objects.none()
    )
    page = Paginator(studies, STUDIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "labeling/study_list.html", {"page": page})


@login_required
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_visible_or_404(Study.objects.select_related("team"), request.user, pk=pk)
    instances = study.instances.select_related("series").all()
    report = getattr(study, "report", None)
    return render(
        request,
        "labeling/study_detail.html",
        {"study": study, "instances": instances, "report": report},
    )
