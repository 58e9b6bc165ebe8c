"""What evaluation and prediction jobs read and write: their inputs (a usable source run, a label
set with the same vocabulary) and the per-image predictions every job stores.

The job lifecycle itself (create, claim, cancel, retry, reap) is the jobs layer's
(``jobs.services``); launching goes through training/launch.py, which calls ``check_job_inputs``
here; this module holds what only training jobs need.
"""

from __future__ import annotations

from django.db import transaction

from jobs.models import Job, JobStatus

from .models import JobKind, Prediction


class MissingInput(ValueError):
    """A job config names an object (label set, job, study) its team does not have."""


def check_job_inputs(team, kind: str, config: dict) -> dict[str, str]:
    """Field -> message for references that exist in the team but do not fit the job.

    References the team does not have raise ``MissingInput`` (a 404 on the API: another team's
    objects are never confirmed to exist).
    """
    label_set = config.get("label_set")
    if label_set is not None and label_keys(team, label_set) is None:
        raise MissingInput(f"label set {label_set} does not exist in this team")
    if kind == JobKind.TRAIN:
        return {}
    source_id = config["source_job"]
    if not Job.objects.filter(team=team, pk=source_id).exists():
        raise MissingInput(f"job {source_id} does not exist in this team")
    studies = set(config.get("studies") or ())
    if studies:
        from labeling.models import Study

        found = set(Study.objects.of_team(team).filter(pk__in=studies).values_list("pk", flat=True))
        if studies - found:
            raise MissingInput(f"study {min(studies - found)} does not exist in this team")
    source = usable_source(team, source_id)
    if source is None:
        return {"source_job": f"job {source_id} is not a training job that succeeded"}
    problem = vocabulary_error(source, label_set) if label_set is not None else ""
    return {"label_set": problem} if problem else {}


def usable_source(team, job_id) -> Job | None:
    """A team's finished training job that evaluation or prediction can use; None otherwise."""
    return Job.objects.filter(
        team=team, pk=job_id, kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED
    ).first()


def label_keys(team, label_set_id) -> list[str] | None:
    """A team's label set's vocabulary, in vector order; None when the team has no such set."""
    from curation.models import LabelSet

    label_set = LabelSet.objects.filter(team=team, pk=label_set_id).only("labels").first()
    return None if label_set is None else [label["key"] for label in label_set.labels]


def vocabulary_error(source: Job, label_set_id: int) -> str:
    """Why a label set cannot be scored by a run (a different vocabulary); "" when it can."""
    trained = label_keys(source.team, source.config.get("label_set"))
    other = label_keys(source.team, label_set_id)
    if trained is None or other is None or trained == other:
        return ""
    return (
        f"label set {label_set_id} has labels {other}; job {source.pk} was trained on {trained} "
        "(the same labels in the same order are needed)"
    )


@transaction.atomic
def store_predictions(job: Job, records: list[dict]) -> int:
    """Replace a job's stored predictions with these records (image_id = SOP Instance UID).

    Replacing, not appending: a resumed or retried job stores its predictions once.
    """
    from labeling.models import Instance

    uids = {record["image_id"] for record in records}
    instances = dict(
        Instance.objects.filter(team=job.team, sop_uid__in=uids).values_list("sop_uid", "pk")
    )
    rows, seen = [], set()
    for record in records:
        instance_id = instances.get(record["image_id"])
        if instance_id is None or instance_id in seen:
            continue
        seen.add(instance_id)
        rows.append(
            Prediction(team=job.team, job=job, instance_id=instance_id,
                       split=record.get("split", ""), probabilities=record["probabilities"])
        )  # fmt: skip
    Prediction.objects.filter(job=job).delete()
    Prediction.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def study_predictions(study, limit: int = 5) -> list[dict]:
    """Per image of a study, the predictions of its most recent jobs, most probable first."""
    predictions = (
        Prediction.objects.of_team(study.team)
        .filter(instance__study=study)
        .select_related("job", "instance")
        .order_by("instance_id", "-created", "-id")
    )
    by_instance: dict[int, dict] = {}
    for prediction in predictions:
        entry = by_instance.setdefault(
            prediction.instance_id, {"instance": prediction.instance, "predictions": []}
        )
        if len(entry["predictions"]) < limit:
            entry["predictions"].append(prediction)
    return list(by_instance.values())
