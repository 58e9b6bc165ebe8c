"""Label vectors and label sets: per-image labels from the current decisions, live statistics,
freezing them into an immutable versioned set, and comparing two sets.

Freezing warns (``label_shortfalls``) about labels with fewer images than a training task needs:
the paper's minimum of five per label in training, validation and test (its emphysema case),
for single-label images (the single-disease task) and for all images (multi-label). A freeze
may leave out the labels no image carries (``leave_out_empty``), so a successor of a set that
had them holds only labels with examples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction

from labeling.models import Instance
from labeling.text import AFFIRMED
from labeling.vocabulary import NORMAL
from teams.models import Team

from .. import tables
from ..models import (
    ClauseDecision,
    ClauseOccurrence,
    CurationSettings,
    ImageReview,
    LabelSet,
    LabelSetImage,
    Verdict,
)
from .common import CurationError, _audit
from .normal import hedged_studies
from .team_settings import curation_settings, vocabulary


@dataclass
class Vectors:
    """Per-image label keys (by SOP Instance UID), which images conflict, and instance ids."""

    labels: dict[str, list[str]]
    conflicts: set[str]
    instances: dict[str, int]
    unlabelled: int


def current_vectors(team: Team) -> Vectors:
    """Per-image labels from the current decisions, reviews applied.

    A study's labels come from its mapped clauses: affirmed clauses carry their label, and the
    normal label may come from a negated clause (that is how normal is written). Every image of
    the study gets them. Normal next to a disease is a conflict: the image goes to the review
    queue and, until reviewed, keeps only its diseases.
    """
    vocab = {label.pk: label.key for label in vocabulary(team)}
    decisions = {
        normalized: vocab.get(label_id)
        for normalized, label_id in ClauseDecision.objects.of_team(team)
        .filter(verdict=Verdict.LABEL)
        .values_list("normalized", "label_id")
    }
    by_study: dict[int, set[str]] = defaultdict(set)
    for study_id, normalized, pol in ClauseOccurrence.objects.of_team(team).values_list(
        "study_id", "normalized", "polarity"
    ):
        key = decisions.get(normalized)
        if key is not None and (pol == AFFIRMED or key == NORMAL):
            by_study[study_id].add(key)
    for study_id in hedged_studies(team):  # normal means no hedged finding either (normal.py)
        by_study[study_id].discard(NORMAL)
    # A decided image keeps its labels while new model evidence has it pending again.
    reviewed = {
        instance_id: labels
        for instance_id, labels in ImageReview.objects.of_team(team)
        .filter(labels__isnull=False)
        .values_list("instance_id", "labels")
    }
    vectors = Vectors({}, set(), {}, 0)
    for pk, sop_uid, study_id in (
        Instance.objects.of_team(team)
        .filter(quarantined=False)
        .values_list("pk", "sop_uid", "study_id")
    ):
        keys = set(reviewed[pk]) if pk in reviewed else set(by_study.get(study_id, ()))
        if pk not in reviewed and NORMAL in keys and len(keys) > 1:
            keys.discard(NORMAL)
            vectors.conflicts.add(sop_uid)
        if not keys:
            vectors.unlabelled += 1
            continue
        order = list(vocab.values())
        vectors.labels[sop_uid] = sorted(keys, key=lambda k: order.index(k) if k in order else 99)
        vectors.instances[sop_uid] = pk
    return vectors


def _label_dicts(team: Team) -> list[dict]:
    return [{"key": lb.key, "en": lb.name_en, "zh": lb.name_zh} for lb in vocabulary(team)]


def live_statistics(team: Team) -> dict:
    """Table I of the current mapping (not frozen), with the images it leaves out."""
    vectors = current_vectors(team)
    return _statistics(vectors.labels, _label_dicts(team), vectors)


def _statistics(labels_by_image: dict, label_dicts: list[dict], vectors: Vectors | None) -> dict:
    rows = tables.table_one(labels_by_image, label_dicts)
    stats = {
        "images": len(labels_by_image),
        "rows": [row.as_dict() for row in rows],
    }
    if vectors is not None:
        stats.update(conflicts=len(vectors.conflicts), unlabelled=vectors.unlabelled)
    return stats


def freeze_label_set(team: Team, user, note: str = "") -> LabelSet:
    """The label set of the current mapping: a new version, or the latest one if unchanged."""
    return freeze_or_reuse_label_set(team, user, note)[0]


def freeze_or_reuse_label_set(
    team: Team, user, note: str = "", *, leave_out_empty: bool = False
) -> tuple[LabelSet, bool]:
    """Freeze the current mapping into the next immutable, hashed label set version, unless the
    latest version already holds exactly it: then that one comes back, with ``False``.

    "Exactly" is the content hash and which images are unreviewed conflicts (the hash leaves
    those out, training does not). Only the latest version counts: going back to an earlier
    mapping (A, then B, then A) makes a new version. Freezes of one team run one at a time, on
    a lock of its settings row, so two at once give one version, not two alike.
    ``leave_out_empty`` leaves the labels no image carries out of the new set's vocabulary.
    """
    curation_settings(team)
    with transaction.atomic():
        CurationSettings.objects.select_for_update().get(team=team)
        vectors = current_vectors(team)
        if not vectors.labels:
            raise CurationError(
                "no image has a label yet: map clusters to labels before freezing a label set"
            )
        _queue_conflicts(team, vectors)
        labels = _label_dicts(team)
        if leave_out_empty:
            labels = labels_with_examples(labels, vectors.labels)
        content_hash = tables.content_hash(vectors.labels, labels)
        latest = LabelSet.objects.of_team(team).order_by("-version").first()
        if latest is not None and _holds(latest, content_hash, vectors.conflicts):
            return latest, False
        label_set = LabelSet.objects.create(
            team=team,
            version=(latest.version if latest else 0) + 1,
            content_hash=content_hash,
            labels=labels,
            statistics=_statistics(vectors.labels, labels, vectors),
            note=note.strip()[:500],
            author=user,
        )
        LabelSetImage.objects.bulk_create(
            (
                LabelSetImage(
                    team=team,
                    label_set=label_set,
                    instance_id=vectors.instances[sop_uid],
                    sop_uid=sop_uid,
                    labels=keys,
                    conflict=sop_uid in vectors.conflicts,
                )
                for sop_uid, keys in vectors.labels.items()
            ),
            batch_size=2000,
        )
        _audit(team, user, "freeze", f"label set v{label_set.version} {label_set.content_hash[:12]}",
               {}, {"label_set": label_set.pk})  # fmt: skip
    return label_set, True


# The paper's minimum per label and split (its emphysema: 5 validation, 5 test); the training
# engine's splits.MIN_PER_LABEL, which this layer may not import (a test keeps the two in step).
MIN_PER_SPLIT = 5
NEEDED = 3 * MIN_PER_SPLIT  # images a label needs for a task: training, validation and test


def label_shortfalls(statistics: dict) -> list[dict]:
    """Labels of a Table I (``statistics["rows"]``) with fewer images than a task needs.

    Each entry: the row (key, en, zh, total, single) and ``tasks``, the tasks it falls short
    for: single_disease counts single-label images, multi_label all of them. A label with no
    image at all is ``empty`` (a freeze can leave it out).
    """
    short = []
    for row in statistics.get("rows", []):
        tasks = [task for task, have in (("single_disease", row["single"]),
                                         ("multi_label", row["total"])) if have < NEEDED]  # fmt: skip
        if tasks:
            short.append({**row, "tasks": tasks, "empty": row["total"] == 0, "needed": NEEDED})
    return short


def labels_with_examples(labels: list[dict], vectors: dict[str, list[str]]) -> list[dict]:
    """The vocabulary without the labels no image carries (normal always stays)."""
    used = {key for keys in vectors.values() for key in keys}
    return [label for label in labels if label["key"] in used or label["key"] == NORMAL]


def _holds(label_set: LabelSet, content_hash: str, conflicts: set[str]) -> bool:
    """Whether ``label_set`` has this content and these unreviewed conflicts."""
    if label_set.content_hash != content_hash:
        return False
    flagged = label_set.images.filter(conflict=True).values_list("sop_uid", flat=True)
    return set(flagged) == conflicts


def _queue_conflicts(team: Team, vectors: Vectors) -> None:
    existing = set(ImageReview.objects.of_team(team).values_list("instance__sop_uid", flat=True))
    ImageReview.objects.bulk_create(
        ImageReview(
            team=team,
            instance_id=vectors.instances[sop_uid],
            reason="conflict",
            proposed=[NORMAL, *vectors.labels[sop_uid]],
        )
        for sop_uid in sorted(vectors.conflicts - existing)
    )


def label_set_vectors(label_set: LabelSet) -> dict[str, list[str]]:
    return dict(label_set.images.values_list("sop_uid", "labels"))


def compare_label_sets(a: LabelSet, b: LabelSet) -> dict:
    """What changed from ``a`` to ``b``: per-label counts and the images that changed."""
    if a.team_id != b.team_id:
        raise CurationError("label sets of two different teams cannot be compared")
    labels = list({lb["key"]: lb for lb in [*a.labels, *b.labels]}.values())
    result = tables.compare(label_set_vectors(a), label_set_vectors(b), labels)
    return {"a": a.version, "b": b.version, **result.as_dict()}
