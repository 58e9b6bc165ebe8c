"""Curation pages: the workspace, a cluster's details, label sets and the review queue.

Pages show the active team; another team's cluster or label set is a 404. Actions go through the
API (curation/static/curation/workspace.js posts them and swaps in the partials rendered here),
except freezing a label set, which is a plain form.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from lab.access import CAN_CURATE, get_visible_or_404, require_role, role_in

from . import services
from .models import ClusterRun, ImageReview, LabelSet, ProposedCluster, ReviewStatus, RunStatus

GALLERY_IMAGES = 24
PARTIALS = {"clusters": "curation/_clusters.html", "stats": "curation/_stats.html"}


def _can_curate(request: HttpRequest) -> bool:
    return request.team is not None and role_in(request.user, request.team) in CAN_CURATE


@login_required
def workspace(request: HttpRequest) -> HttpResponse:
    """Clusters of a run (default: the latest finished one) by size, with live Table I."""
    team = request.team
    context = {"team": team, "can_curate": _can_curate(request), "clusters": [], "runs": []}
    if team is not None:
        runs = ClusterRun.objects.of_team(team)
        chosen = request.GET.get("run")
        run = (
            get_visible_or_404(runs, request.user, pk=chosen)
            if chosen
            else services.latest_run(team)
        )
        clusters = []
        if run is not None:
            clusters = (
                ProposedCluster.objects.filter(run=run, merged_into=None)
                .select_related("label")
                .prefetch_related("members")
                .order_by("-clause_count", "id")
            )
        context.update(
            run=run,
            runs=runs[:10],
            active_run=runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first(),
            clusters=clusters,
            labels=services.vocabulary(team),
            stats=services.live_statistics(team),
            unmapped=len(services.unmapped_texts(team)),
        )
    partial = PARTIALS.get(request.GET.get("partial", ""))
    return render(request, partial or "curation/workspace.html", context)


@login_required
def cluster_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One cluster: its clauses with polarity, word frequencies, and the images behind it."""
    cluster = get_visible_or_404(
        ProposedCluster.objects.select_related("run", "label"), request.user, pk=pk
    )
    members = list(cluster.members.all())
    context = {
        "cluster": cluster,
        "members": members,
        "words": services.word_frequencies(cluster),
        "images": services.cluster_images(cluster, GALLERY_IMAGES),
        "can_curate": _can_curate(request),
    }
    template = "curation/_cluster_detail.html" if request.GET.get("partial") else None
    return render(request, template or "curation/cluster_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def label_sets(request: HttpRequest) -> HttpResponse:
    """Frozen label sets, newest first; POST freezes the current mapping."""
    team = request.team
    if request.method == "POST" and team is not None:
        require_role(request.user, team, CAN_CURATE)
        try:
            label_set = services.freeze_label_set(team, request.user, request.POST.get("note", ""))
        except services.CurationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("Label set v%(version)s frozen (%(hash)s).")
                % {"version": label_set.version, "hash": label_set.content_hash[:12]},
            )
            return redirect("curation:label-set-detail", pk=label_set.pk)
        return redirect("curation:label-sets")
    sets = LabelSet.objects.of_team(team).select_related("author") if team else []
    stats = services.live_statistics(team) if team else None
    return render(
        request,
        "curation/label_sets.html",
        {"label_sets": sets, "stats": stats, "can_curate": _can_curate(request)},
    )


@login_required
def label_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    label_set = get_visible_or_404(LabelSet.objects.select_related("author"), request.user, pk=pk)
    others = LabelSet.objects.filter(team=label_set.team).exclude(pk=label_set.pk)
    other_id = request.GET.get("other")
    other = (
        others.filter(pk=other_id).first()
        if other_id and other_id.isdigit()
        else others.filter(version__lt=label_set.version).first()
    )
    comparison = services.compare_label_sets(other, label_set) if other else None
    return render(
        request,
        "curation/label_set_detail.html",
        {"label_set": label_set, "others": others, "other": other, "comparison": comparison},
    )


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """Images whose labels need a curator's eye, with agreement between two curators."""
    team = request.team
    reviews = []
    if team is not None:
        reviews = (
            ImageReview.objects.of_team(team)
            .select_related("instance__study__report")
            .order_by("status", "id")
        )
        mine = request.GET.get("second")
        if mine:
            reviews = reviews.filter(in_second_sample=True, second_labels=None).exclude(
                reviewer=request.user
            )
    return render(
        request,
        "curation/review.html",
        {
            "reviews": reviews,
            "pending": [r for r in reviews if r.status == ReviewStatus.PENDING],
            "labels": services.vocabulary(team) if team else [],
            "agreement": services.agreement(team) if team else None,
            "can_curate": _can_curate(request),
        },
    )
