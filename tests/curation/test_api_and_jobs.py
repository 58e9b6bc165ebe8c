"""The run row is the job: queued over the API, claimed once, progress and result on the row."""

import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from curation import services, tasks
from curation.models import ClusterRun, ProposedCluster

from .conftest import cluster_with


@pytest.fixture
def api(curator):
    client = APIClient()
    client.force_authenticate(curator)
    return client


def test_a_run_posted_over_the_api_is_enqueued_on_commit_and_runs(
    api, corpus, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.run_clustering_task, "delay", lambda run_id: sent.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/curation/runs/", {"k": 8, "seed": 2}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert sent == [response.json()["id"]]
    tasks.run_clustering_task(sent[0])  # what the worker does with the message
    run = api.get(f"/api/curation/runs/{sent[0]}/").json()
    assert run["status"] == "succeeded" and run["progress"] == 1.0 and run["seed"] == 2
    clusters = api.get(f"/api/curation/clusters/?run={sent[0]}").json()["results"]
    assert sum(c["clause_count"] for c in clusters) == run["n_clauses"]


def test_a_claimed_run_is_not_run_twice_and_a_missing_one_is_skipped(corpus, curator):
    run = services.start_clustering(corpus.team, curator, k=8, enqueue=False)
    assert services.claim_run(run.pk)
    assert not services.claim_run(run.pk)
    tasks.run_clustering_task(run.pk)  # already claimed: does nothing
    assert ClusterRun.objects.get(pk=run.pk).status == "running"
    assert not ProposedCluster.objects.exists()
    tasks.run_clustering_task(10**9)


def test_a_run_that_fails_records_why(corpus, curator):
    run = services.start_clustering(corpus.team, curator, k=8, enqueue=False)
    ClusterRun.objects.filter(pk=run.pk).update(k=500)
    tasks.run_clustering_task(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "larger than the number of unique clauses" in run.error


def test_cluster_command_prints_a_json_summary(corpus, capsys):
    call_command("cluster", "--team", corpus.team.name, "--k", "8", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["k"] == 8 and summary["clauses"] == 21
    assert sum(c["clauses"] for c in summary["clusters"]) == 21
    assert ClusterRun.objects.get().status == "succeeded"


def test_cluster_command_without_k_uses_the_suggested_k(corpus, capsys):
    call_command("cluster", "--team", corpus.team.name, "--json")
    summary = json.loads(capsys.readouterr().out)
    assert 3 <= summary["k"] <= summary["unique"]


def test_actions_statistics_label_sets_and_reviews_over_the_api(api, small_run, corpus):
    labels = {row["key"]: row["id"] for row in api.get("/api/curation/labels/").json()}
    normal = cluster_with(small_run, "心肺膈未见明显异常")
    heart = cluster_with(small_run, "心影增大")
    for cluster, key in ((normal, "normal"), (heart, "increased_heart_shadow")):
        body = {"clusters": [{"cluster": cluster.pk, "version": 1}], "label": labels[key]}
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
