"""Per-image review: curators accept or correct an image's labels, models' confident
disagreements send images back for review, and a second curator's sample measures agreement."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from labeling.models import Instance
from labeling.vocabulary import NORMAL
from teams.models import Team

from .. import tables
from ..models import CurationSettings, ImageReview, ReviewReason, ReviewStatus
from .common import ConflictError, CurationError, _audit, _check_version
from .label_sets import Vectors, current_vectors
from .team_settings import curation_settings, vocabulary


def _clean_label_keys(team: Team, keys: Sequence[str]) -> list[str]:
    known = [label.key for label in vocabulary(team)]
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise CurationError(f"unknown labels {unknown}; the vocabulary has {', '.join(known)}")
    return sorted(set(keys), key=known.index)


@transaction.atomic
def review_image(team: Team, user, review_id: int, *, labels: Sequence[str], version: int):
    """Accept the proposed labels of an image, or correct them."""
    review = ImageReview.objects.select_for_update().of_team(team).filter(pk=review_id).first()
    if review is None:
        raise CurationError(f"no review {review_id} in team {team.name}")
    _check_version("this review", review.version, version)
    keys = _clean_label_keys(team, labels)
    if not keys:
        raise CurationError("an image needs at least one label (normal is a label)")
    second = review.in_second_sample and review.status != ReviewStatus.PENDING
    if second and review.reviewer_id not in (None, user.pk):
        if review.second_labels is not None:
            raise ConflictError("this image already has its second review")
        review.second_labels, review.second_reviewer = keys, user
    else:
        review.labels, review.reviewer, review.reviewed_at = keys, user, timezone.now()
        # Keys come in vocabulary order, proposals in any order: compare them as sets.
        same = set(keys) == set(review.proposed)
        review.status = ReviewStatus.ACCEPTED if same else ReviewStatus.CORRECTED
    review.version += 1
    review.save()
    _audit(team, user, "review", f"image {review.instance_id}: {', '.join(keys)}", {}, {
        "review": review.pk, "labels": keys})  # fmt: skip
    return review


@dataclass(frozen=True)
class Disagreement:
    """A run confidently contradicting one label of one image: "missed" when the image has the
    label and the run scores it at most 1 - confidence, "unreported" when it lacks the label
    and the run scores it at least the confidence."""

    sop_uid: str
    label: str
    kind: str
    probability: float
    labels: tuple[str, ...] = ()  # the image's labels in the run's label set


@dataclass(frozen=True)
class QueuedEvidence:
    created: int = 0  # new pending reviews
    added: int = 0  # pending reviews that gained evidence
    reopened: int = 0  # decided reviews pending again, their decision still in force
    unchanged: int = 0  # every finding already recorded
    unknown: int = 0  # images no longer in the team


def queue_model_disagreements(
    team: Team, user, *, run_id: int, run_name: str, found: Sequence[Disagreement]
) -> QueuedEvidence:
    """Send a run's confident disagreements to the review queue, one review per image.

    An image without a review gets a pending one proposing its current labels (the mapping's,
    else the run's). A pending review gains the evidence. A decided one gains it and is pending
    again, proposing the labels decided before, which stay in force until a curator decides
    anew. A finding already recorded (same run, label and direction) changes nothing, so
    sending the same page twice is a no-op.
    """
    curation_settings(team)
    by_uid: dict[str, list[Disagreement]] = defaultdict(list)
    for item in found:
        by_uid[item.sop_uid].append(item)
    with transaction.atomic():
        # One sender at a time per team, never during a freeze: one review per image.
        CurationSettings.objects.select_for_update().get(team=team)
        instances = dict(
            Instance.objects.of_team(team).filter(sop_uid__in=list(by_uid)).values_list(
                "sop_uid", "pk")
        )  # fmt: skip
        reviews = {
            review.instance_id: review
            for review in ImageReview.objects.select_for_update()
            .of_team(team)
            .filter(instance_id__in=list(instances.values()))
        }
        vectors = current_vectors(team) if len(reviews) < len(instances) else None
        known = [label.key for label in vocabulary(team)]
        counts = Counter(unknown=len(by_uid) - len(instances))
        sent_at = timezone.now().isoformat()
        for sop_uid, pk in sorted(instances.items()):
            entries = [
                {"run": run_id, "run_name": run_name, "label": item.label, "kind": item.kind,
                 "probability": round(float(item.probability), 4), "sent_at": sent_at}
                for item in by_uid[sop_uid]
            ]  # fmt: skip
            review = reviews.get(pk)
            if review is None:
                proposed = _proposal(vectors, sop_uid, by_uid[sop_uid][0].labels, known)
                ImageReview.objects.create(team=team, instance_id=pk, proposed=proposed,
                                           reason=ReviewReason.MODEL, evidence=entries)  # fmt: skip
                counts["created"] += 1
            else:
                counts[_add_evidence(review, entries)] += 1
        result = QueuedEvidence(**counts)
        _audit(team, user, "model review", f"run {run_id}: {len(instances)} image(s) to review",
               {}, {"run": run_id, **result.__dict__})  # fmt: skip
    return result


def _proposal(vectors: Vectors, sop_uid: str, run_labels: Sequence[str], known: list[str]):
    """What the next label set would hold for an image nobody reviewed: the mapping's labels
    (normal too when it conflicts), else the labels of the run's label set."""
    labels = vectors.labels.get(sop_uid)
    if labels:
        return [NORMAL, *labels] if sop_uid in vectors.conflicts else list(labels)
    return sorted((k for k in set(run_labels) if k in known), key=known.index)


def _add_evidence(review: ImageReview, entries: list[dict]) -> str:
    """Record the findings the review lacks; a decided review is pending again."""
    recorded = {(e.get("run"), e.get("label"), e.get("kind")) for e in review.evidence}
    new = [e for e in entries if (e["run"], e["label"], e["kind"]) not in recorded]
    if not new:
        return "unchanged"
    review.evidence = [*review.evidence, *new]
    outcome = "added"
    if review.status != ReviewStatus.PENDING:
        review.status, review.proposed, outcome = ReviewStatus.PENDING, review.labels, "reopened"
    review.version += 1
    review.save(update_fields=["evidence", "status", "proposed", "version"])
    return outcome


@transaction.atomic
def sample_for_second_review(team: Team, user, *, size: int, seed: int = 0) -> int:
    """Put a random sample of reviewed images in front of a second curator."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise CurationError(f"size must be a positive whole number, got {size!r}")
    done = list(
        ImageReview.objects.select_for_update()
        .of_team(team)
        .exclude(status=ReviewStatus.PENDING)
        .filter(in_second_sample=False)
        .order_by("pk")
    )
    chosen = random.Random(seed).sample(done, min(size, len(done)))
    ImageReview.objects.filter(pk__in=[r.pk for r in chosen]).update(in_second_sample=True)
    return len(chosen)


def agreement(team: Team) -> dict:
    """Cohen's kappa per label between first and second reviews of the sampled images."""
    pairs = list(
        ImageReview.objects.of_team(team)
        .filter(in_second_sample=True, second_labels__isnull=False)
        .values_list("labels", "second_labels")
    )
    rows = []
    for label in vocabulary(team):
        first = [label.key in (a or []) for a, _ in pairs]
        second = [label.key in (b or []) for _, b in pairs]
        kappa = tables.cohen_kappa(first, second)
        rows.append({"key": label.key, "en": label.name_en, "zh": label.name_zh,
                     "kappa": None if kappa is None else round(kappa, 3)})  # fmt: skip
    return {"pairs": len(pairs), "labels": rows}
