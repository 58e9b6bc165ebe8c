"""Bad requests get one clear message and change nothing."""

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from curation.models import AuditEntry, ClusterRun, Label, ProposedCluster
from tests.factories import make_report, make_study

from .conftest import cluster_with


@pytest.fixture
def api(curator):
    client = APIClient()
    client.force_authenticate(curator)
    return client


def test_clustering_a_team_whose_diagnoses_are_empty_is_refused(api, personas):
    make_report(make_study(personas.team), diagnosis="")
    make_report(make_study(personas.team), diagnosis="  。\n")
    response = api.post("/api/curation/runs/", {"k": 2}, format="json")
    assert response.status_code == 400
    assert "2 with an empty diagnosis" in response.json()["detail"]
    assert not ClusterRun.objects.exists()


@pytest.mark.parametrize(
    ("k", "message"),
    [(0, "k must be at least 1"), (-3, "k must be at least 1"), (99, "larger than the number")],
)
def test_k_out_of_range_is_refused(api, corpus, k, message):
    response = api.post("/api/curation/runs/", {"k": k}, format="json")
    assert response.status_code == 400 and message in response.json()["detail"]
    assert not ClusterRun.objects.exists()


def test_merging_clusters_of_two_runs_is_refused(api, small_run, curator):
    from curation import services

    other = services.run_clustering(small_run.team, k=6, seed=1, user=curator)
    audited = AuditEntry.objects.count()  # the runs pre-mapped their normal statements
    a, b = cluster_with(small_run, "主动脉硬化"), cluster_with(other, "心影增大")
    body = {"clusters": [{"cluster": a.pk, "version": 1}, {"cluster": b.pk, "version": 1}]}
    response = api.post("/api/curation/actions/merge/", body, format="json")
    assert response.status_code == 400
    assert "different clustering runs" in response.json()["detail"]
    assert not ProposedCluster.objects.exclude(merged_into=None).exists()
    assert AuditEntry.objects.count() == audited


def test_a_label_name_that_exists_is_refused(api, personas):
    assert api.get("/api/curation/labels/").status_code == 200  # seeds the paper's ten
    body = {"key": "effusion2", "name_en": "Pleural Effusion", "name_zh": "积液"}
    response = api.post("/api/curation/labels/", body, format="json")
    assert response.status_code == 400
    assert "name_en 'Pleural Effusion' already exists" in response.json()["detail"]
    assert Label.objects.filter(team=personas.team).count() == 10
    body = {"key": "nodule", "name_en": "nodule", "name_zh": "结节"}
    assert api.post("/api/curation/labels/", body, format="json").status_code == 201


def test_an_empty_rename_and_a_missing_version_are_refused(api, small_run):
    cluster = cluster_with(small_run, "心影增大")
    response = api.post(
        "/api/curation/actions/rename/",
        {"cluster": cluster.pk, "version": cluster.version, "name": "  "},
        format="json",
    )
    assert response.status_code == 400 and "cannot be empty" in response.json()["detail"]
    response = api.post("/api/curation/actions/rename/", {"cluster": cluster.pk, "name": "x"})
    assert response.status_code == 400 and "version" in response.json()
    cluster.refresh_from_db()
    assert cluster.name == "心影增大" and cluster.version == 1


def test_a_viewer_may_read_but_not_curate(small_run, personas):
    api = APIClient()
    api.force_authenticate(personas.teammate)
    cluster = cluster_with(small_run, "心影增大")
    assert api.get(f"/api/curation/clusters/{cluster.pk}/").status_code == 200
    response = api.post(
        "/api/curation/actions/ignore/",
        {"clusters": [{"cluster": cluster.pk, "version": 1}]},
        format="json",
    )
    assert response.status_code == 403
    cluster.refresh_from_db()
    assert cluster.verdict == "open"


def test_the_cluster_command_refuses_bad_k_and_unknown_teams(corpus):
    with pytest.raises(CommandError, match="k must be at least 1"):
        call_command("cluster", "--team", corpus.team.name, "--k", "0")
    with pytest.raises(CommandError, match="unknown team"):
        call_command("cluster", "--team", "nobody", "--k", "3")
    assert not ClusterRun.objects.exists()


def test_freezing_with_nothing_mapped_is_refused(api, small_run, curator):
    from curation import services

    services.undo_last(small_run.team, curator)  # the run's pre-mapping of normal statements
    response = api.post("/api/curation/label-sets/", {"note": "x"}, format="json")
    assert response.status_code == 400 and "map clusters" in response.json()["detail"]
