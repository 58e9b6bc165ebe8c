"""A team with something of everything a backup must carry, made the way users make it.

Demo images ingested (studies, series, instances, reports, the training cache), a clustering run
curated by two people (rename, merge, a mapping: audit entries, clause decisions, a merged
cluster pointing at its target), a frozen label set and its review queue, a tiny CPU training
run with checkpoints and test predictions, a prediction job on one study, a Grad-CAM map, a
model-review entry naming the run, the run marked current, a PACS connection with a password,
and a job still queued.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

from django.conf import settings

from curation import services as curation
from curation.models import Label
from jobs import services as job_services
from jobs.models import Job
from lab.backup import plan
from labeling.models import DicomPeer, PacsConnection
from results import heatmaps
from tests.training.label_sets import frozen_label_set
from tests.training.runs import TINY, run_inline, trained_job
from training.model_registry import mark_current
from training.runs import RunFolder

KEY = "a long enough passphrase for tests"


def build(personas, tmp_path: Path) -> dict:
    team, owner, teammate = personas.team, personas.owner, personas.teammate
    truth = frozen_label_set(team, tmp_path, images=32, seed=5)
    run = curation.run_clustering(team, curation.suggested_k(team), seed=0, user=owner)
    assert run.status == "succeeded", run.error
    live = list(
        run.clusters.filter(merged_into=None, polarity="affirmed").order_by("-clause_count")
    )
    curation.rename_cluster(team, owner, live[0].pk, name="renamed first", version=live[0].version)
    live[0].refresh_from_db()
    normal = Label.objects.get(team=team, key="normal")
    curation.set_verdict(team, owner, {live[0].pk: live[0].version}, verdict="label",
                         label_id=normal.pk)  # fmt: skip
    curation.merge_clusters(team, teammate, {live[1].pk: live[1].version,
                                             live[2].pk: live[2].version})  # fmt: skip
    curation.freeze_label_set(team, owner, note="curated")

    train = trained_job(team, owner, truth)
    tested = train.predictions.select_related("instance__study").first().instance
    predict = job_services.create_job(team, owner, "predict",
                                      {"source_job": train.pk, "studies": [tested.study_id]})  # fmt: skip
    predict = run_inline(predict)
    assert predict.status == "succeeded", predict.error + predict.traceback
    heatmap = heatmaps.request_heatmap(train, tested, "abnormal", owner)
    assert run_inline(heatmap.job).status == "succeeded"
    curation.queue_model_disagreements(team, owner, run_id=train.pk, run_name=train.name, found=[
        curation.Disagreement(tested.sop_uid, "normal", "missed", 0.01, ("normal",))])  # fmt: skip
    mark_current(train, teammate)
    PacsConnection.objects.create(team=team, name="PACS", url="https://pacs.example.org/dicom-web",
                                  username="reader", password="pacs-password-1")  # fmt: skip
    DicomPeer.objects.create(team=team, ae_title="MODALITY1", host="203.0.113.7",
                             description="the CR room")  # fmt: skip
    queued = job_services.create_job(team, teammate, "train",
                                     {"label_set": truth.pk, "engine": TINY}, name="waiting")  # fmt: skip
    return {"train": train, "predict": predict, "heatmap": heatmap, "queued": queued}


def row_counts(team) -> Counter:
    return Counter({m.label: m.rows(team).count() for m in plan.build()})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): sha256(p) for p in folder.rglob("*") if p.is_file()}


def team_files(team) -> dict:
    """Every file of the team, in a form two copies of one team share: DICOM by SOP UID, the
    cache by path, and each job's folder by the job's position among the team's jobs, Grad-CAM
    maps named by SOP UID, and JSON files that name run folders read with each job's folder
    written as ``<job N>``. SHA-256 for everything else."""
    from labeling.models import Instance

    uids = dict(Instance.objects.of_team(team).values_list("pk", "sop_uid"))
    dicom = {
        i.sop_uid: sha256(Path(settings.DICOM_STORE_DIR) / i.file_path)
        for i in Instance.objects.of_team(team)
    }
    cache = tree_hashes(Path(settings.CACHE_STORE_DIR) / str(team.pk))
    jobs = list(Job.objects.filter(team=team).order_by("pk"))
    roots = {str(RunFolder.of(job).root): f"<job {n}>" for n, job in enumerate(jobs)}
    runs = {}
    for position, job in enumerate(jobs):
        folder, files = RunFolder.of(job).root, {}
        for name, digest in tree_hashes(folder).items():
            if match := GRADCAM.fullmatch(name):
                name = f"gradcam/{uids[int(match.group(1))]}-{match.group(2)}.png"
            elif name.endswith(".json"):
                digest = _rooted(json.loads((folder / name).read_text()), roots)
            files[name] = digest
        runs[position] = files
    return {"dicom": dicom, "cache": cache, "runs": runs}


GRADCAM = re.compile(r"gradcam/(\d+)-(\d+)\.png")


def _rooted(value, roots: dict[str, str]):
    if isinstance(value, str):
        for root, name in roots.items():
            if value == root or value.startswith(root + "/"):
                return name + value[len(root) :]
        return value
    if isinstance(value, list):
        return [_rooted(item, roots) for item in value]
    if isinstance(value, dict):
        return {key: _rooted(item, roots) for key, item in value.items()}
    return value
