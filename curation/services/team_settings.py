"""A team's curation settings: its cue lists (negation, uncertainty, pseudo), its scope
terminators, and its label vocabulary (add, rename, reorder, delete), seeded on first use.

Saving cues or terminators re-splits the team's stored reports (``clauses.sync_clauses``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max

from labeling.text import DEFAULT_CUES, CueLists
from labeling.vocabulary import PAPER_LABELS
from teams.models import Team

from ..models import (
    ClauseDecision,
    CurationSettings,
    Label,
    LabelSet,
    ProposedCluster,
)
from .clauses import ClauseSync, sync_clauses
from .common import ConflictError, CurationError, _audit, _check_version


def curation_settings(team: Team) -> CurationSettings:
    """The team's settings row; the first call seeds default cues and the paper's ten labels."""
    found = CurationSettings.objects.filter(team=team).first()
    if found is not None:
        return found
    with transaction.atomic():
        row, created = CurationSettings.objects.get_or_create(
            team=team,
            defaults={
                "negation": list(DEFAULT_CUES.negation),
                "uncertainty": list(DEFAULT_CUES.uncertainty),
                "pseudo": list(DEFAULT_CUES.pseudo),
            },
        )
        if created and not Label.objects.filter(team=team).exists():
            Label.objects.bulk_create(
                Label(team=team, key=label.key, name_en=label.en, name_zh=label.zh, position=i)
                for i, label in enumerate(PAPER_LABELS)
            )
    return row


def team_cues(team: Team) -> CueLists:
    """The team's cue lists and terminators (the defaults of ``labeling.text`` until edited)."""
    row = curation_settings(team)
    terminators = DEFAULT_CUES.terminators if row.terminators is None else row.terminators
    return CueLists(row.negation, row.uncertainty, row.pseudo, terminators=terminators)


def vocabulary(team: Team) -> list[Label]:
    curation_settings(team)
    return list(Label.objects.of_team(team).order_by("position", "id"))


def _cue_snapshot(cues: CueLists) -> dict:
    return {
        "negation": list(cues.negation),
        "uncertainty": list(cues.uncertainty),
        "pseudo": list(cues.pseudo),
        "terminators": list(cues.terminators),
    }


@dataclass(frozen=True)
class CueUpdate:
    """The saved cue lists and what re-splitting the stored reports with them did: clauses
    added, removed and changed in polarity, and decisions now waiting for review."""

    settings: CurationSettings
    changed: int
    added: int = 0
    removed: int = 0
    to_review: int = 0


def update_cues(
    team: Team,
    user,
    *,
    negation: Sequence[str],
    uncertainty: Sequence[str],
    pseudo: Sequence[str],
    terminators: Sequence[str] | None = None,
    version: int,
) -> CueUpdate:
    """Replace the team's cue lists (and terminators, unless ``None``: kept as they are) and
    re-split every stored report with them, in one transaction."""
    row = curation_settings(team)
    if terminators is None:
        terminators = team_cues(team).terminators
    try:
        cues = CueLists(tuple(negation), tuple(uncertainty), tuple(pseudo),
                        terminators=tuple(terminators))  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise CurationError(str(exc)) from None
    with transaction.atomic():
        row = CurationSettings.objects.select_for_update().get(team=team)
        _check_version("cue lists", row.version, version)
        before = _cue_snapshot(team_cues(team))
        row.negation, row.uncertainty, row.pseudo = (
            list(cues.negation),
            list(cues.uncertainty),
            list(cues.pseudo),
        )
        row.terminators = list(cues.terminators)
        row.version += 1
        row.save()
        sync = sync_clauses(team, cues)
        summary = (
            f"cue lists changed; {sync.added} clauses added, {sync.removed} removed, "
            f"{sync.changed} changed polarity; {sync.to_review} decisions to review"
        )
        _audit(team, user, "cues", summary, {"cues": before}, {"cues": _cue_snapshot(cues)})
    return CueUpdate(row, sync.changed, sync.added, sync.removed, sync.to_review)


def resplit_reports(team: Team, user=None) -> ClauseSync:
    """Re-split the team's stored reports with its current cues and terminators (after an
    upgrade of the splitter, ``manage.py resplit``); audited like a change of cues."""
    with transaction.atomic():
        CurationSettings.objects.select_for_update().get(pk=curation_settings(team).pk)
        sync = sync_clauses(team, team_cues(team))
        _audit(team, user, "resplit", f"reports re-split; {sync.added} clauses added, "
               f"{sync.removed} removed, {sync.changed} changed polarity; {sync.to_review} "
               "decisions to review", {}, {})  # fmt: skip
    return sync


def add_label(team: Team, user, *, key: str, name_en: str, name_zh: str) -> Label:
    """A new vocabulary entry; a key or name the team already uses is refused."""
    key, name_en, name_zh = key.strip(), " ".join(name_en.split()), name_zh.strip()
    if not key or not name_en or not name_zh:
        raise CurationError("a label needs a key, an English name and a Chinese name")
    curation_settings(team)
    with transaction.atomic():
        labels = Label.objects.select_for_update().of_team(team)
        for field_name, value in (("key", key), ("name_en", name_en), ("name_zh", name_zh)):
            if labels.filter(**{f"{field_name}__iexact": value}).exists():
                raise CurationError(f"a label with {field_name} {value!r} already exists")
        position = (labels.aggregate(Max("position"))["position__max"] or 0) + 1
        label = Label.objects.create(
            team=team, key=key, name_en=name_en, name_zh=name_zh, position=position
        )
        _audit(team, user, "add_label", f"label {key} added", {}, {"label": key})
    return label


@dataclass(frozen=True)
class LabelUsage:
    """What holds on to a label: curated decisions, clusters and frozen label set versions."""

    decisions: int
    clusters: int
    label_sets: tuple[int, ...]

    @property
    def in_use(self) -> bool:
        return bool(self.decisions or self.clusters or self.label_sets)


def label_usage(team: Team) -> dict[int, LabelUsage]:
    """Usage of every label of the team, by label id (the vocabulary page shows it)."""
    decisions = Counter(
        ClauseDecision.objects.of_team(team)
        .filter(label__isnull=False)
        .values_list("label_id", flat=True)
    )
    clusters = Counter(
        ProposedCluster.objects.of_team(team)
        .filter(label__isnull=False)
        .values_list("label_id", flat=True)
    )
    sets_by_key: dict[str, list[int]] = defaultdict(list)
    for version, labels in LabelSet.objects.of_team(team).values_list("version", "labels"):
        for entry in labels:
            sets_by_key[entry["key"]].append(version)
    return {
        label.pk: LabelUsage(
            decisions[label.pk], clusters[label.pk], tuple(sorted(sets_by_key[label.key]))
        )
        for label in vocabulary(team)
    }


def _locked_label(team: Team, label_id: int) -> Label:
    label = Label.objects.select_for_update().of_team(team).filter(pk=label_id).first()
    if label is None:
        raise CurationError(f"no label {label_id!r} in the vocabulary of team {team.name}")
    return label


@transaction.atomic
def rename_label(
    team: Team, user, label_id: int, *, name_en: str, name_zh: str, was_en: str, was_zh: str
) -> Label:
    """New English and Chinese names; ``was_*`` are the names the curator saw, so two curators
    renaming one label at once get a conflict. The key (stored in frozen sets) never changes."""
    name_en, name_zh = " ".join(name_en.split()), name_zh.strip()
    if not name_en or not name_zh:
        raise CurationError("a label needs an English name and a Chinese name")
    label = _locked_label(team, label_id)
    if (label.name_en, label.name_zh) != (was_en, was_zh):
        raise ConflictError(
            f"label {label.key} was renamed by someone else (now {label.name_en} / "
            f"{label.name_zh}); reload and try again"
        )
    others = Label.objects.of_team(team).exclude(pk=label.pk)
    for field_name, value in (("name_en", name_en), ("name_zh", name_zh)):
        if others.filter(**{f"{field_name}__iexact": value}).exists():
            raise CurationError(f"a label with {field_name} {value!r} already exists")
    before = {"en": label.name_en, "zh": label.name_zh}
    label.name_en, label.name_zh = name_en, name_zh
    label.save(update_fields=["name_en", "name_zh"])
    _audit(team, user, "rename_label", f"label {label.key}: {before['en']} → {name_en}",
           {"label": label.key, **before}, {"label": label.key, "en": name_en, "zh": name_zh})  # fmt: skip
    return label


@transaction.atomic
def move_label(team: Team, user, label_id: int, *, offset: int) -> list[Label]:
    """Move a label up (negative offset) or down the vocabulary; the order is the order of
    label vectors in the next frozen set. Positions are renumbered 0..n-1."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset == 0:
        raise CurationError(f"offset must be a non-zero whole number, got {offset!r}")
    _locked_label(team, label_id)
    labels = list(Label.objects.select_for_update().of_team(team).order_by("position", "id"))
    before = [label.key for label in labels]
    index = next(i for i, label in enumerate(labels) if label.pk == int(label_id))
    moved = labels.pop(index)
    labels.insert(max(0, min(len(labels), index + offset)), moved)
    for position, label in enumerate(labels):
        label.position = position
    Label.objects.bulk_update(labels, ["position"])
    _audit(team, user, "move_label", f"label {moved.key} moved", {"order": before},
           {"order": [label.key for label in labels]})  # fmt: skip
    return labels


@transaction.atomic
def delete_label(team: Team, user, label_id: int) -> None:
    """Remove a label nobody relies on; one that decisions, clusters or a frozen set use stays."""
    label = _locked_label(team, label_id)
    usage = label_usage(team)[label.pk]
    if usage.label_sets:
        versions = ", ".join(f"v{v}" for v in usage.label_sets)
        raise CurationError(
            f"label {label.name_en!r} is part of frozen label sets ({versions}) and cannot be "
            "deleted; rename it instead"
        )
    if usage.decisions or usage.clusters:
        raise CurationError(
            f"label {label.name_en!r} is used by {usage.decisions} clause decisions and "
            f"{usage.clusters} clusters; map them to another label first"
        )
    _audit(team, user, "delete_label", f"label {label.key} deleted",
           {"label": label.key, "en": label.name_en, "zh": label.name_zh}, {})  # fmt: skip
    label.delete()
