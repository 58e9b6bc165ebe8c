"""A run queued over the API is a cluster job: claimed once, progress and result on both rows."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from curation import services
from curation.models import ClusterRun, ProposedCluster
from jobs.models import Job
from tests.training.runs import run_inline

from .conftest import cluster_with


@pytest.fixture
def api(curator):
    client = APIClient()
    client.force_authenticate(curator)
    return client


def test_a_run_posted_over_the_api_is_enqueued_on_commit_as_a_job_and_runs(
    api, corpus, monkeypatch, django_capture_on_commit_callbacks
):
    from lab.celery import app

    sent = []
    monkeypatch.setattr(
        app, "send_task", lambda name, args, queue: sent.append((name, args, queue))
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/curation/runs/", {"k": 6, "seed": 2}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    job = Job.objects.get(pk=response.json()["job"])
    assert sent == [("training.run_job", [job.pk], "default")]
    assert job.kind == "cluster" and job.config == {"cluster_run": response.json()["id"], "k": 6,
                                                    "seed": 2, "distance": "normalized"}  # fmt: skip
    job = run_inline(job)  # what the worker does with the message
    run = api.get(f"/api/curation/runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded" and run["progress"] == 1.0 and run["seed"] == 2
    assert job.status == "succeeded" and job.progress["step"] == job.progress["total_steps"]
    assert job.metrics["clauses"] == run["n_clauses"] and job.metrics["cluster_run"] == run["id"]
    clusters = api.get(f"/api/curation/clusters/?run={run['id']}").json()["results"]
    assert sum(c["clause_count"] for c in clusters) == run["n_clauses"]


def test_a_claimed_run_is_not_run_twice_and_a_missing_one_is_skipped(corpus, curator):
    run = services.start_clustering(corpus.team, curator, k=6, enqueue=False)
    # In-process runs have a job too (the truth of their status), never sent to a worker.
    assert run.job.kind == "cluster" and run.job.status == "queued"
    assert services.claim_run(run.pk)
    assert not services.claim_run(run.pk)
    assert not services.claim_run_for_job(run.pk, 10**9)  # not that job's run
    queued = services.start_clustering(corpus.team, curator, k=6)
    first = run_inline(queued.job)
    assert first.status == "succeeded"
    Job.objects.filter(pk=first.pk).update(status="queued")  # a redelivered message
    again = run_inline(first)  # the run has succeeded: the job fails, nothing is stored twice
    assert again.status == "failed" and "already finished" in again.error
    assert ProposedCluster.objects.filter(run=queued).count() == first.metrics["clusters"]
    assert not services.claim_run(10**9)


def test_a_run_that_fails_records_why_on_the_run_and_the_job(corpus, curator):
    run = services.start_clustering(corpus.team, curator, k=6)
    ClusterRun.objects.filter(pk=run.pk).update(k=500)
    job = run_inline(run.job)
    run.refresh_from_db()
    assert run.status == "failed" and "larger than the number of unique clauses" in run.error
    assert job.status == "failed" and "larger than the number of unique clauses" in job.error
    assert not ProposedCluster.objects.filter(run=run).exists()


def test_cluster_command_prints_a_json_summary(corpus, capsys):
    call_command("cluster", "--team", corpus.team.name, "--k", "6", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["k"] == 6 and summary["clauses"] == 21 and summary["distance"] == "normalized"
    assert sum(c["clauses"] for c in summary["clusters"]) == 21
    assert ClusterRun.objects.get().status == "succeeded"


def test_the_cluster_command_runs_a_job_in_process_that_the_row_records(
    corpus, capsys, monkeypatch, django_capture_on_commit_callbacks
):
    from lab.celery import app

    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: pytest.fail("sent to a broker"))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("cluster", "--team", corpus.team.name, "--k", "6", "--json")
    summary = json.loads(capsys.readouterr().out)
    run = ClusterRun.objects.select_related("job").get(pk=summary["run"])
    job = run.job
    assert (job.kind, job.status, job.attempts, job.owner) == ("cluster", "succeeded", 1, None)
    assert job.config == {"cluster_run": run.pk, "k": 6, "seed": 0, "distance": "normalized"}
    assert job.worker and job.started_at <= job.finished_at
    assert job.metrics["clusters"] == len(summary["clusters"]) and run.stage == "done"
    assert run.progress == 1.0 and run.started_at == job.started_at


def test_an_in_process_run_that_crashes_fails_its_job_once_without_a_broker(
    corpus, monkeypatch, django_capture_on_commit_callbacks
):
    from lab.celery import app

    def boom(*args, **kwargs):
        raise RuntimeError("the clustering broke")

    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: pytest.fail("sent to a broker"))
    monkeypatch.setattr("curation.services.runs.cluster_clauses", boom)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(CommandError, match="RuntimeError: the clustering broke"):
            call_command("cluster", "--team", corpus.team.name, "--k", "6")
    run = ClusterRun.objects.select_related("job").get()
    assert run.status == "failed" and run.job.attempts == run.job.max_attempts == 1
    assert "RuntimeError: the clustering broke" in run.job.error and "Traceback" in run.error


def test_cluster_command_without_k_uses_the_suggested_k(corpus, capsys):
    call_command("cluster", "--team", corpus.team.name, "--json")
    summary = json.loads(capsys.readouterr().out)
    assert 3 <= summary["k"] <= summary["unique"]


def test_actions_statistics_label_sets_and_reviews_over_the_api(api, small_run, corpus):
    labels = {row["key"]: row["id"] for row in api.get("/api/curation/labels/").json()}
    normal = cluster_with(small_run, "心肺膈未见明显异常")
    heart = cluster_with(small_run, "心影增大")
    for cluster, key in ((normal, "normal"), (heart, "increased_heart_shadow")):
        body = {"clusters": [{"cluster": cluster.pk, "version": cluster.version}],
                "label": labels[key]}  # fmt: skip
        assert api.post("/api/curation/actions/map/", body, format="json").status_code == 200
    stats = api.get("/api/curation/statistics/").json()
    rows = {row["key"]: row for row in stats["rows"]}
    assert rows["normal"]["total"] == 3 and rows["increased_heart_shadow"]["total"] == 2
    assert stats["conflicts"] == 1
    frozen = api.post("/api/curation/label-sets/", {"note": "v1"}, format="json").json()
    assert frozen["version"] == 1 and len(frozen["content_hash"]) == 64
    reviews = api.get("/api/curation/reviews/").json()["results"]
    assert len(reviews) == 1 and reviews[0]["diagnosis"] == "心影增大。心肺膈未见明显异常"
    decided = api.put(
        f"/api/curation/reviews/{reviews[0]['id']}/",
        {"labels": ["increased_heart_shadow"], "version": 1},
        format="json",
    )
    assert decided.status_code == 200 and decided.json()["status"] == "corrected"
    second = api.post("/api/curation/label-sets/", {}, format="json").json()
    compare = api.get(f"/api/curation/label-sets/{second['id']}/compare/").json()
    assert compare["a"] == 1 and compare["b"] == 2 and compare["changed_count"] == 0
    assert api.post("/api/curation/actions/undo/", {}, format="json").status_code == 200
    assert api.get("/api/curation/unmapped/").json()["count"] == 0
    cues = api.get("/api/curation/cues/").json()
    assert "未见" in cues["negation"] and cues["version"] == 1
