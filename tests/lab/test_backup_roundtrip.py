"""A whole team through backup and restore, twice into one installation: once beside the team
it came from under a new name, once under its own name after that team was deleted. Each copy
has the same rows per table and the same files (SHA-256) as the source, every reference points
inside the copy, and the copy works: its run predicts, its curation undoes, its users log in.

Runs on whatever database the suite runs on (SQLite by default, PostgreSQL with DATABASE_URL).
"""

import io
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from curation import services as curation
from curation.models import AuditEntry, ClusterRun, ImageReview, LabelSet, LabelSetImage
from jobs import services as job_services
from jobs.models import Job
from labeling.models import Instance, PacsConnection, Study
from labeling.services import store_path
from results import heatmaps
from results.models import Heatmap
from teams.models import Membership, Team
from tests.training.runs import run_inline
from training.models import CurrentModel
from training.runs import RunFolder

from . import backup_team
from .backup_team import KEY, row_counts, team_files

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def command(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def assert_references_stay_inside(copy: Team) -> None:
    jobs = {job.pk: job for job in Job.objects.filter(team=copy)}
    label_sets = {ls.pk: ls for ls in LabelSet.objects.filter(team=copy)}
    for job in jobs.values():
        if "label_set" in job.config:
            assert job.config["label_set"] in label_sets
        if "source_job" in job.config:
            assert job.config["source_job"] in jobs
        if job.kind == "predict":
            assert set(job.config["studies"]) <= set(
                Study.objects.filter(team=copy).values_list("pk", flat=True)
            )
        if job.kind == "cluster":
            assert ClusterRun.objects.get(pk=job.config["cluster_run"]).job_id == job.pk
            assert job.metrics["cluster_run"] == job.config["cluster_run"]
        if job.kind == "gradcam":
            heatmap = Heatmap.objects.get(pk=job.metrics["heatmap"])
            assert heatmap.team_id == copy.pk and heatmap.job_id == job.pk
            assert job.config["run"] == heatmap.run_id
            assert job.config["instance"] == heatmap.instance_id
        if job.output_dir:
            assert job.output_dir == str(RunFolder.of(job).root)
    for row in LabelSetImage.objects.filter(team=copy).select_related("instance"):
        assert row.instance.team_id == copy.pk and row.instance.sop_uid == row.sop_uid
    for instance in Instance.objects.filter(team=copy):
        assert instance.file_path == str(store_path(copy, instance.sop_uid))
    clusters = set(copy_clusters(copy))
    for entry in AuditEntry.objects.filter(team=copy):
        for snapshot in (entry.before, entry.after):
            for key, state in snapshot.get("clusters", {}).items():
                assert int(key) in clusters, (entry.action, key)
                assert state["merged_into"] in clusters | {None}
        if "label_set" in entry.after:
            assert entry.after["label_set"] in label_sets
        if "run" in entry.after:
            assert entry.after["run"] in jobs
    for review in ImageReview.objects.filter(team=copy):
        for evidence in review.evidence:
            assert jobs[evidence["run"]].kind == "train"
    heatmap = Heatmap.objects.get(team=copy)
    assert heatmaps.png_path(heatmap.run, heatmap.instance_id, heatmap.label).is_file()
    assert heatmaps.is_ready(heatmap)


def delete_team(team) -> None:
    """A team whose labels are in use cannot be deleted in one go (they are protected): unmap
    them first."""
    from curation.models import ClauseDecision, ProposedCluster

    ClauseDecision.objects.filter(team=team).update(label=None)
    ProposedCluster.objects.filter(team=team).update(label=None)
    team.delete()


def copy_clusters(team) -> dict[int, str]:
    from curation.models import ProposedCluster

    return dict(ProposedCluster.objects.filter(team=team).values_list("pk", "name"))


def test_a_team_restored_twice_into_one_installation_matches_its_source(personas, tmp_path):
    made = backup_team.build(personas, tmp_path)
    source = personas.team
    source_counts, source_files = row_counts(source), team_files(source)
    assert all(source_counts.values()), f"the fixture lacks rows of {source_counts}"
    assert source_files["runs"] and source_files["cache"] and source_files["dicom"]
    other_counts = row_counts(personas.other_team)
    archive = tmp_path / "radiology.cxrbackup"
    key_file = tmp_path / "backup.key"
    key_file.write_text(KEY + "\n")
    summary = command("backup", "--team", source.name, str(archive), "--key-file", str(key_file))
    assert summary["rows"] == dict(source_counts)
    assert summary["active_jobs"] == [made["queued"].pk]
    assert sorted(p.name for p in tmp_path.glob("*radiology*")) == ["radiology.cxrbackup"]
    data = archive.read_bytes()
    assert b"pacs-password-1" not in data and source.pseudonym_secret.encode() not in data

    # 1. Beside its source, under a new name.
    restored = command("restore", str(archive), "--team", "Radiology C",
                       "--key-file", str(key_file))  # fmt: skip
    copy = Team.objects.get(name="Radiology C")
    assert restored["team_id"] == copy.pk and restored["users_created"] == []
    assert row_counts(copy) == source_counts
    assert team_files(copy) == source_files
    assert_references_stay_inside(copy)
    assert copy.pseudonym_secret == source.pseudonym_secret
    assert (copy.deidentify, copy.remap_uids) == (source.deidentify, source.remap_uids)
    assert PacsConnection.objects.get(team=copy).password == "pacs-password-1"
    assert row_counts(source) == source_counts and row_counts(personas.other_team) == other_counts
    queued = Job.objects.get(team=copy, name="waiting")
    assert queued.status == "failed" and "interrupted" in queued.error
    assert restored["interrupted_jobs"] == [queued.pk]

    # 2. Under its own name, once the source team, its files and one of its users are gone.
    source_pk, source_name = source.pk, source.name
    delete_team(source)
    for root in (settings.DICOM_STORE_DIR, settings.CACHE_STORE_DIR, settings.RUNS_DIR):
        shutil.rmtree(Path(root) / str(source_pk))
    get_user_model().objects.filter(username="teammate").delete()
    restored = command("restore", str(archive), "--key-file", str(key_file))
    again = Team.objects.get(name=source_name)
    assert row_counts(again) == source_counts
    assert team_files(again) == source_files
    assert_references_stay_inside(again)
    # The first copy is untouched, but for the deleted user's membership.
    assert row_counts(copy) == source_counts - Counter({"teams.membership": 1})
    assert row_counts(personas.other_team) == other_counts
    # The missing user comes back inactive, and what was theirs is theirs again.
    assert restored["users_created"] == ["teammate"]
    teammate = get_user_model().objects.get(username="teammate")
    assert not teammate.is_active and not teammate.has_usable_password()
    assert Membership.objects.get(team=again, user=teammate).role == "viewer"
    assert CurrentModel.objects.get(team=again).marked_by == teammate
    assert AuditEntry.objects.get(team=again, action="merge").user == teammate
    assert Job.objects.get(team=again, name="waiting").owner == teammate

    # The copy works on its own: its run predicts (reading its restored dataset and config)...
    train = Job.objects.get(team=again, kind="train", status="succeeded")
    tested = train.predictions.select_related("instance").first().instance
    predict = job_services.create_job(again, personas.owner, "predict",
                                      {"source_job": train.pk, "studies": [tested.study_id]})  # fmt: skip
    predict = run_inline(predict)
    assert predict.status == "succeeded", predict.error + predict.traceback
    assert predict.predictions.get().instance == tested
    # ... and a curator's last action undoes, on the copy's clusters only.
    before = copy_clusters(copy)
    entry = curation.undo_last(again, personas.owner)
    assert entry.action == "undo" and copy_clusters(copy) == before
