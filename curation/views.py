"""Curation pages: the workspace, a cluster's details, label sets, the review queue, the
unmapped queue, the team's cue lists, distance settings (synonyms, auto-label threshold)
and label vocabulary, and the decisions a re-split of the reports left to review.

Pages show the active team; another team's cluster, label set or label is a 404. Curation
actions go through the API (workspace.js and unmapped.js post them and swap in the partials
rendered here); freezing a label set, auto-labelling and editing cues or labels are plain forms
that answer with a message. Only curators and admins may change anything (403 for viewers).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from labeling.distance import DEFAULT_DISTANCE, DISTANCES
from teams.access import CAN_CURATE, CAN_FREEZE, get_visible_or_404, require_role, role_in

from . import services
from .display import names_by_key
from .forms import CuesForm, DistanceSettingsForm, LabelForm, LabelNamesForm
from .models import (
    ClusterRun,
    ImageReview,
    Label,
    LabelSet,
    ProposedCluster,
    ReviewStatus,
    RunStatus,
)

GALLERY_IMAGES = 24
UNMAPPED_PER_PAGE = 50
PARTIALS = {"clusters": "curation/_clusters.html", "stats": "curation/_stats.html"}
DEFAULT_SORT = "purity"  # services.CLUSTER_ORDER: the least pure first
OUTLIERS_ON_CARD = 3


def _both(singular: str, plural: str) -> list[str]:
    """The one and the many form of a message whose count only the browser knows."""
    return [ngettext(singular, plural, 1), ngettext(singular, plural, 2)]


def _workspace_strings() -> dict:
    """What workspace.js says, in the user's language; %(n)s, %(name)s, … filled in there."""
    return {
        "selected": _both("%(n)s cluster selected · Esc clears", "%(n)s clusters selected · Esc clears"),
        "focused": _("Nothing selected: actions apply to the focused cluster “%(name)s”."),
        "none": _("Nothing selected: click a cluster, Shift+click to add more."),
        "label": _both("“%(name)s” mapped to %(label)s.", "%(n)s clusters mapped to %(label)s."),
        "no_label": _both("“%(name)s” marked as carrying no label.",
                          "%(n)s clusters marked as carrying no label."),
        "ignored": _both("“%(name)s” ignored.", "%(n)s clusters ignored."),
        "open": _both("“%(name)s” reopened.", "%(n)s clusters reopened."),
        "merge": _both("%(n)s cluster merged into “%(name)s”.",
                       "%(n)s clusters merged into “%(name)s”."),
        "rename": _("“%(old)s” renamed to “%(name)s”."),
        "split": _both("%(n)s clause moved to “%(name)s”.", "%(n)s clauses moved to “%(name)s”."),
        "undone": _("Undone: %(summary)s"),
        "outliers_unmapped": _both("%(n)s outlier sent to the unmapped queue.",
                                   "%(n)s outliers sent to the unmapped queue."),
        "outliers_split": _both("%(n)s outlier split off into its own cluster.",
                                "%(n)s outliers split off into their own cluster."),
        "choice_keep": _both("Keep them: labels %(n)s image", "Keep them: labels %(n)s images"),
        "choice_unmapped": _both("Send them to the unmapped queue: labels %(n)s image",
                                 "Send them to the unmapped queue: labels %(n)s images"),
        "choice_split": _both("Split them off into their own cluster: labels %(n)s image",
                              "Split them off into their own cluster: labels %(n)s images"),
        "choice_title": _both("%(n)s outlier: what should happen to it?",
                              "%(n)s outliers: what should happen to them?"),
        "undo": _("Undo"),
        "confirm_title": _both("Change a cluster you did not click?",
                               "Change clusters you did not click?"),
        "confirm_text": _both(
            "This action would change a cluster you did not click since your last action:",
            "This action would change clusters you did not click since your last action:",
        ),
    }  # fmt: skip


def _unmapped_strings() -> dict:
    """What unmapped.js says; %(n)s, %(label)s, %(text)s filled in there."""
    return {
        "selected": _both("%(n)s clause text selected · Esc clears",
                          "%(n)s clause texts selected · Esc clears"),
        "none": _("Nothing selected: actions apply to the clause under the cursor (x selects)."),
        "label": _both("“%(text)s” mapped to %(label)s.", "%(n)s clause texts mapped to %(label)s."),
        "no_label": _both("“%(text)s” marked as carrying no label.",
                          "%(n)s clause texts marked as carrying no label."),
        "ignored": _both("“%(text)s” ignored.", "%(n)s clause texts ignored."),
        "undone": _("Your last action was undone."),
        "undo": _("Undo"),
    }  # fmt: skip


def _can_curate(request: HttpRequest) -> bool:
    return request.team is not None and role_in(request.user, request.team) in CAN_CURATE


@login_required
def workspace(request: HttpRequest) -> HttpResponse:
    """Clusters of a run (default: the latest finished one), least pure first (``?sort=size``:
    by size), with live Table I."""
    team = request.team
    sort = request.GET.get("sort", DEFAULT_SORT)
    sort = sort if sort in services.CLUSTER_ORDER else DEFAULT_SORT
    context = {
        "team": team, "can_curate": _can_curate(request), "clusters": [], "runs": [],
        "sort": sort, "distances": DISTANCES, "default_distance": DEFAULT_DISTANCE,
    }  # fmt: skip
    if team is not None:
        runs = ClusterRun.objects.of_team(team).select_related("job")  # statuses are the jobs'
        chosen = request.GET.get("run")
        run = (
            get_visible_or_404(runs, request.user, pk=chosen)
            if chosen
            else services.latest_run(team)
        )
        clusters = []
        if run is not None:
            clusters = list(
                ProposedCluster.objects.filter(run=run, merged_into=None)
                .select_related("label")
                .prefetch_related("members")
                .order_by(*services.CLUSTER_ORDER[sort])
            )
        for cluster in clusters:  # what the card quotes of its outliers: the most written
            cluster.shown_outliers = [m for m in cluster.members.all() if m.outlier][
                :OUTLIERS_ON_CARD
            ]
        context.update(
            run=run,
            runs=runs[:10],
            active_run=runs.with_status(RunStatus.QUEUED, RunStatus.RUNNING).first(),
            clusters=clusters,
            labels=services.vocabulary(team),
            stats=services.live_statistics(team),
            unmapped=len(services.unmapped_texts(team)),
            strings=_workspace_strings(),
        )
    partial = PARTIALS.get(request.GET.get("partial", ""))
    return render(request, partial or "curation/workspace.html", context)


@login_required
def cluster_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One cluster: its clauses with polarity, word frequencies, and the images behind it."""
    cluster = get_visible_or_404(
        ProposedCluster.objects.select_related("run", "label"), request.user, pk=pk
    )
    # Outliers first, then the furthest from the medoid: what a curator should read first.
    members = list(
        cluster.members.order_by(
            "-outlier", F("distance").desc(nulls_last=True), "-count", "normalized"
        )
    )
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
        require_role(request.user, team, CAN_FREEZE)
        try:
            label_set, created = services.freeze_or_reuse_label_set(
                team, request.user, request.POST.get("note", ""),
                leave_out_empty=request.POST.get("leave_out_empty") == "on",
            )  # fmt: skip
        except services.CurationError as exc:
            messages.error(request, str(exc))
        else:
            said = {"version": label_set.version, "hash": label_set.content_hash[:12]}
            if created:
                messages.success(request, _("Label set v%(version)s frozen (%(hash)s).") % said)
                _warn_shortfalls(request, label_set)
            else:
                messages.info(
                    request,
                    _("Nothing changed since label set v%(version)s (%(hash)s): no new version.")
                    % said,
                )
            return redirect("curation:label-set-detail", pk=label_set.pk)
        return redirect("curation:label-sets")
    sets = LabelSet.objects.of_team(team).select_related("author") if team else []
    stats = services.live_statistics(team) if team else None
    shortfalls = services.label_shortfalls(stats) if stats else []
    return render(
        request,
        "curation/label_sets.html",
        {"label_sets": sets, "stats": stats, "can_curate": _can_curate(request),
         "shortfalls": shortfalls, "any_empty": any(s["empty"] for s in shortfalls)},
    )  # fmt: skip


def _warn_shortfalls(request: HttpRequest, label_set: LabelSet) -> None:
    """After a freeze: one warning naming the labels with too few images for a task."""
    short = services.label_shortfalls(label_set.statistics)
    if short:
        chinese = (get_language() or "").startswith("zh")
        names = ", ".join(f"{row['zh' if chinese else 'en']} ({row['single']}/{row['total']})"
                          for row in short)  # fmt: skip
        messages.warning(
            request,
            _("Fewer than %(needed)s images (single-label / all) for a training task: "
              "%(labels)s. The launch form can leave them out.")
            % {"needed": services.label_sets.NEEDED, "labels": names},
        )  # fmt: skip


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
        {"label_set": label_set, "others": others, "other": other, "comparison": comparison,
         "names": names_by_key([*(other.labels if other else []), *label_set.labels]),
         "shortfalls": services.label_shortfalls(label_set.statistics)},
    )  # fmt: skip


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
    labels = services.vocabulary(team) if team else []
    names = names_by_key(labels)
    reviews = list(reviews)
    for review in reviews:  # a run's confident disagreements, with the label's name
        review.shown_evidence = [{**e, "name": names.get(e["label"], e["label"])}
                                 for e in review.evidence]  # fmt: skip
    return render(
        request,
        "curation/review.html",
        {
            "reviews": reviews,
            "pending": [r for r in reviews if r.status == ReviewStatus.PENDING],
            "labels": labels,
            "label_names": names,
            "agreement": services.agreement(team) if team else None,
            "can_curate": _can_curate(request),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def unmapped(request: HttpRequest) -> HttpResponse:
    """Clause texts no curated cluster covers, most written first; POST auto-labels new reports."""
    team = request.team
    if request.method == "POST" and team is not None:
        require_role(request.user, team, CAN_CURATE)
        try:
            result = services.auto_label_new_reports(team, request.user)
        except services.CurationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("Auto-labelling: %(matched)s clauses matched a curated cluster, "
                  "%(unmapped)s remain unmapped.")
                % {"matched": result.matched, "unmapped": result.unmapped},
            )  # fmt: skip
        return redirect("curation:unmapped")
    rows = services.unmapped_texts(team) if team else []
    page = Paginator(rows, UNMAPPED_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "texts": services.describe_unmapped(team, page.object_list) if team else [],
        "total_clauses": sum(count for _, _, count in rows),
        "labels": services.vocabulary(team) if team else [],
        "can_curate": _can_curate(request),
        "team": team,
        "strings": _unmapped_strings(),
        "auto_label_distance": (
            services.curation_settings(team).auto_label_distance if team else None
        ),
    }
    partial = "curation/_unmapped.html" if request.GET.get("partial") else None
    return render(request, partial or "curation/unmapped.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def cues(request: HttpRequest) -> HttpResponse:
    """The team's cue lists and terminators; saving re-splits the stored reports and says how
    many clauses were added, removed or changed polarity, and how many decisions need review."""
    team = request.team
    if team is None:
        return render(request, "curation/cues.html", {"form": None})
    row = services.curation_settings(team)
    form = CuesForm(initial=CuesForm.initial_from(row, services.team_cues(team)))
    status = 200
    if request.method == "POST":
        require_role(request.user, team, CAN_CURATE)
        form = CuesForm(request.POST)
        if form.is_valid():
            try:
                result = services.update_cues(team, request.user, **form.cleaned_data)
            except services.CurationError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _resplit_message(result))
                return redirect("curation:cues")
        status = 400
    context = {
        "form": form,
        "settings": row,
        "can_curate": _can_curate(request),
        "to_review": len(services.decisions_to_review(team)),
    }
    return render(request, "curation/cues.html", context, status=status)


def _resplit_message(result) -> str:
    saved = _(
        "Cue lists saved and reports re-split: %(added)s clauses added, %(removed)s removed, "
        "%(changed)s changed polarity."
    ) % {"added": result.added, "removed": result.removed, "changed": result.changed}
    if not result.to_review:
        return saved
    review = ngettext(
        "%(n)s decision lost its clause and waits for review.",
        "%(n)s decisions lost their clauses and wait for review.",
        result.to_review,
    ) % {"n": result.to_review}
    return f"{saved} {review}"


@login_required
@require_http_methods(["GET", "POST"])
def resplit_review(request: HttpRequest) -> HttpResponse:
    """Decisions whose clause text a re-split divided or joined: the text as it was written and
    the clauses that replace it. POST marks one as seen."""
    team = request.team
    if request.method == "POST" and team is not None:
        require_role(request.user, team, CAN_CURATE)
        try:
            decision = services.settle_review(team, request.user, request.POST.get("decision"))
        except (services.CurationError, ValueError):
            messages.error(request, _("That decision no longer waits for review."))
        else:
            messages.success(request, _("Marked as reviewed: %(text)s") % {
                "text": decision.normalized})  # fmt: skip
        return redirect("curation:resplit-review")
    decisions = services.decisions_to_review(team) if team else []
    context = {"decisions": decisions, "can_curate": _can_curate(request), "team": team}
    return render(request, "curation/resplit_review.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def distance_settings(request: HttpRequest) -> HttpResponse:
    """The team's synonym table and auto-label threshold; a wrong line is named, nothing saved."""
    team = request.team
    if team is None:
        return render(request, "curation/distance.html", {"form": None})
    row = services.curation_settings(team)
    initial = {
        "synonyms": services.format_synonyms(row.synonyms),
        "auto_label_distance": row.auto_label_distance,
        "version": row.version,
    }
    form = DistanceSettingsForm(initial=initial)
    status = 200
    if request.method == "POST":
        require_role(request.user, team, CAN_CURATE)
        form = DistanceSettingsForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.update_distance_settings(
                    team, request.user, synonyms=services.parse_synonyms(data["synonyms"]),
                    auto_label_distance=data["auto_label_distance"], version=data["version"],
                )  # fmt: skip
            except services.CurationError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Distance settings saved; new runs use them."))
                return redirect("curation:distance")
        status = 400
    context = {"form": form, "settings": row, "can_curate": _can_curate(request)}
    return render(request, "curation/distance.html", context, status=status)


def _vocabulary_page(request: HttpRequest, form: LabelForm, status: int = 200) -> HttpResponse:
    team = request.team
    labels = services.vocabulary(team) if team else []
    usage = services.label_usage(team) if team else {}
    rows = [(label, usage[label.pk]) for label in labels]
    context = {"rows": rows, "form": form, "can_curate": _can_curate(request), "team": team}
    return render(request, "curation/labels.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def labels(request: HttpRequest) -> HttpResponse:
    """The team's label vocabulary with what uses each label; POST adds one."""
    team = request.team
    if request.method != "POST" or team is None:
        return _vocabulary_page(request, LabelForm())
    require_role(request.user, team, CAN_CURATE)
    form = LabelForm(request.POST)
    if form.is_valid():
        try:
            label = services.add_label(team, request.user, **form.cleaned_data)
        except services.CurationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Label %(name)s added.") % {"name": label})
            return redirect("curation:labels")
    return _vocabulary_page(request, form, status=400)


def _curated_label(request: HttpRequest, pk: int) -> Label:
    label = get_visible_or_404(Label, request.user, pk=pk)
    require_role(request.user, label.team, CAN_CURATE)
    return label


def _report(request: HttpRequest, action, success: str) -> HttpResponse:
    """Run a vocabulary action; its refusal or its success becomes a message on the page."""
    try:
        action()
    except services.CurationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success)
    return redirect("curation:labels")


@login_required
@require_POST
def label_rename(request: HttpRequest, pk: int) -> HttpResponse:
    label = _curated_label(request, pk)
    form = LabelNamesForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            name = form.fields[field].label if field in form.fields else None
            messages.error(request, f"{name or field}: {' '.join(errors)}")
        return redirect("curation:labels")
    return _report(
        request,
        lambda: services.rename_label(label.team, request.user, label.pk, **form.cleaned_data),
        _("Label renamed to %(en)s / %(zh)s.") % {
            "en": form.cleaned_data["name_en"], "zh": form.cleaned_data["name_zh"]},
    )  # fmt: skip


@login_required
@require_POST
def label_move(request: HttpRequest, pk: int) -> HttpResponse:
    label = _curated_label(request, pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    return _report(
        request,
        lambda: services.move_label(label.team, request.user, label.pk, offset=offset),
        _("Label %(name)s moved.") % {"name": label.name_en},
    )


@login_required
@require_POST
def label_delete(request: HttpRequest, pk: int) -> HttpResponse:
    label = _curated_label(request, pk)
    return _report(
        request,
        lambda: services.delete_label(label.team, request.user, label.pk),
        _("Label %(name)s deleted.") % {"name": label.name_en},
    )
