"""Ids written inside JSON columns, and how a restore translates them to the new rows' ids.

Foreign keys are columns the plan sees (plan.py); these are ids the apps keep inside JSON: a
job's config names its label set or source run, an audit entry's snapshot names clusters, labels
and cluster members, an image review's evidence names the runs behind it. ``JSON_FIELDS`` lists
every JSON column of every team model, with the function that translates its ids or ``None``
when it holds none; tests/lab/test_backup_plan.py fails when a JSON column is missing here.

An id whose row is not in the archive (a cluster an undo deleted, say) becomes ``None``, or a
negative number where it is a dictionary key: no row has it, so an undo still finds the cluster
gone and refuses, as it would have in the source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

JOB, LABEL_SET, CLUSTER_RUN = "jobs.job", "curation.labelset", "curation.clusterrun"
INSTANCE, STUDY, HEATMAP = "labeling.instance", "labeling.study", "results.heatmap"
CLUSTER, MEMBER, LABEL = "curation.proposedcluster", "curation.clustermember", "curation.label"
REVIEW = "curation.imagereview"


class IdMaps:
    """Old id -> new id, per model label, for the models something refers to."""

    def __init__(self) -> None:
        self.maps: dict[str, dict[int, int]] = {}

    def add(self, label: str, old: int, new: int) -> None:
        self.maps.setdefault(label, {})[old] = new

    def new(self, label: str, old: Any) -> int | None:
        if isinstance(old, bool) or not isinstance(old, int):
            return None
        return self.maps.get(label, {}).get(old)

    def value(self, label: str, old: Any) -> Any:
        """An id translated; anything that is not an id (a key, a UID) is left as it is."""
        if isinstance(old, bool) or not isinstance(old, int):
            return old
        return self.new(label, old)


Remap = Callable[[Any, Mapping[str, Any], IdMaps], Any]

# Per job kind: the keys of its config and metrics that hold ids, and whose. A kind missing here
# cannot be backed up (tests/lab/test_backup_plan.py checks every registered kind is listed).
JOB_KIND_IDS: dict[str, dict[str, str]] = {
    "cluster": {"cluster_run": CLUSTER_RUN},
    "train": {"label_set": LABEL_SET},
    "evaluate": {"source_job": JOB, "label_set": LABEL_SET},
    "predict": {"source_job": JOB, "label_set": LABEL_SET, "studies": STUDY},
    "gradcam": {"run": JOB, "instance": INSTANCE, "heatmap": HEATMAP},
    "pacs_pull": {},  # "studies" are Study Instance UIDs there, not ids
}


def remap_keys(value: Any, keys: Mapping[str, str], ids: IdMaps) -> Any:
    """Top-level keys of a dict whose values are ids (or lists of ids) of the given models."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, label in keys.items():
        if key not in out:
            continue
        if isinstance(out[key], list):
            out[key] = [new for old in out[key] if (new := ids.value(label, old)) is not None]
        else:
            out[key] = ids.value(label, out[key])
    return out


def job_json(value: Any, row: Mapping[str, Any], ids: IdMaps) -> Any:
    return remap_keys(value, JOB_KIND_IDS.get(row.get("kind", ""), {}), ids)


def _cluster_state(state: Any, ids: IdMaps) -> Any:
    if not isinstance(state, dict):
        return state
    out = remap_keys(state, {"label": LABEL, "merged_into": CLUSTER, "members": MEMBER}, ids)
    if isinstance(out.get("member_state"), dict):  # member id -> [distance, outlier]
        out["member_state"] = {
            str(new): flags
            for old, flags in out["member_state"].items()
            if str(old).isdigit() and (new := ids.new(MEMBER, int(old))) is not None
        }
    return out


def _decision_state(state: Any, ids: IdMaps) -> Any:
    return remap_keys(state, {"label": LABEL}, ids) if isinstance(state, dict) else state


def audit_json(value: Any, row: Mapping[str, Any], ids: IdMaps) -> Any:
    """Curation snapshots ({"clusters": {id: state}, "decisions": {text: state}, and the
    "removed_members" an outlier choice took out, by cluster}) and the ids a review, a model
    review or a freeze records ("review", "run", "label_set")."""
    if not isinstance(value, dict):
        return value
    out = remap_keys(value, {"review": REVIEW, "run": JOB, "label_set": LABEL_SET}, ids)
    if isinstance(out.get("clusters"), dict):
        clusters = {}
        for key, state in out["clusters"].items():
            text = str(key)
            if text.lstrip("-").isdigit():
                new = ids.new(CLUSTER, int(text))
                text = str(new if new is not None else -abs(int(text)))
            clusters[text] = _cluster_state(state, ids)
        out["clusters"] = clusters
    if isinstance(out.get("decisions"), dict):
        out["decisions"] = {t: _decision_state(s, ids) for t, s in out["decisions"].items()}
    if isinstance(out.get("removed_members"), list):  # rows an outlier choice took out
        out["removed_members"] = [remap_keys(m, {"cluster": CLUSTER}, ids)
                                  for m in out["removed_members"]]  # fmt: skip
    return out


def evidence_json(value: Any, row: Mapping[str, Any], ids: IdMaps) -> Any:
    """An image review's evidence: one entry per (run, label, direction), naming the run."""
    if not isinstance(value, list):
        return value
    return [remap_keys(entry, {"run": JOB}, ids) for entry in value]


JSON_FIELDS: dict[str, dict[str, Remap | None]] = {
    "jobs.job": {
        "config": job_json,
        "metrics": job_json,
        "tags": None,  # registry labels
        "progress": None,  # phase, epoch, step, loss...
        "history": None,  # progress points
    },
    "curation.auditentry": {"before": audit_json, "after": audit_json},
    "curation.imagereview": {
        "evidence": evidence_json,
        "proposed": None,  # label keys
        "labels": None,
        "second_labels": None,
    },
    "curation.curationsettings": {
        "negation": None,
        "uncertainty": None,
        "pseudo": None,
        "terminators": None,  # scope terminators, or null for the defaults
        "synonyms": None,
    },
    "curation.clausedecision": {"review_pieces": None},  # clause texts a re-split made
    "curation.clusterrun": {"cues": None, "timings": None, "k_curve": None, "synonyms": None},
    "curation.labelset": {"labels": None, "statistics": None},  # keys, names and counts
    "curation.labelsetimage": {"labels": None},
    "training.prediction": {"probabilities": None},  # class name -> probability
}


def referenced_models() -> set[str]:
    """Models whose ids some JSON column holds: their old -> new maps are kept."""
    kinds = {label for keys in JOB_KIND_IDS.values() for label in keys.values()}
    return kinds | {REVIEW, JOB, LABEL_SET, CLUSTER, MEMBER, LABEL}
