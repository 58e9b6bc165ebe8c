"""The clustering's distance is a curator's choice, stored on the run; the synonym table is
the team's to edit; the auto-label threshold is a normalised distance (issue #15, item 4)."""

import pytest
from rest_framework.test import APIClient

from curation import services
from curation.models import ClusterRun, CurationSettings

from .test_outliers import PLANTED, plant


@pytest.fixture
def api(personas):
    client = APIClient()
    client.force_authenticate(personas.owner)
    return client


def test_a_run_over_the_api_names_its_distance_and_only_the_default_takes_synonyms(
    api, corpus, personas
):
    table = services.curation_settings(corpus.team).synonyms
    paper = api.post("/api/curation/runs/", {"k": 5, "distance": "paper"}, format="json")
    default = api.post("/api/curation/runs/", {"k": 5}, format="json")
    assert paper.status_code == default.status_code == 202
    assert (paper.json()["distance"], paper.json()["synonyms"]) == ("paper", [])
    assert (default.json()["distance"], default.json()["synonyms"]) == ("normalized", table)
    heart = next(group for group in table if group[0] == "心影增大")
    assert heart[:4] == ["心影增大", "心脏增大", "心影扩大", "心影增宽"]


@pytest.mark.parametrize(
    "body",
    [
        {"k": 8, "distance": "cosine"},
        {"k": 8, "distance": "paper", "outlier_threshold": 2.5},
        {"k": 8, "outlier_threshold": 1.5},
        {"k": 8, "outlier_threshold": "far"},
    ],
)
def test_an_unknown_distance_or_a_threshold_in_the_wrong_unit_is_refused(api, corpus, body):
    response = api.post("/api/curation/runs/", body, format="json")
    assert response.status_code == 400 and response.json()
    assert not ClusterRun.objects.exists()


def test_the_paper_distance_counts_whole_edits(personas, curator):
    planted = plant(personas.team, curator, distance="paper")
    members = {m.normalized: m for m in planted.aorta.members.all()}
    assert planted.run.outlier_threshold == 5 and planted.run.distance == "paper"
    assert members["主动脉弓硬化"].distance == 0 and members["主动脉硬化"].distance == 1
    assert members[PLANTED].distance == 8 and members[PLANTED].outlier


def test_the_team_synonym_table_decides_what_counts_as_the_same_finding(personas, curator):
    row = services.curation_settings(personas.team)
    with_table = plant(personas.team, curator)
    assert with_table.heart.members.get(normalized="心影增宽").distance == 0.0
    services.update_distance_settings(
        personas.team, curator, synonyms=[], auto_label_distance=0.25, version=row.version
    )
    again = services.run_clustering(personas.team, k=2, seed=0, user=curator)
    from .conftest import cluster_with

    widened = cluster_with(again, "心影增宽").members.get(normalized="心影增宽")
    assert widened.distance == pytest.approx(0.25)  # 1 edit of 4 characters
    assert again.synonyms == [] and with_table.run.synonyms == row.synonyms


def test_the_distance_page_saves_a_table_and_names_the_wrong_line(client, personas):
    client.force_login(personas.owner)
    page = client.get("/curation/distance/")
    assert page.status_code == 200 and "心影增大 = 心脏增大 = 心影扩大" in page.content.decode()
    version = services.curation_settings(personas.team).version
    saved = client.post(
        "/curation/distance/",
        {"synonyms": "心影增大 = 心影增宽\n\nCardiomegaly = enlarged heart",
         "auto_label_distance": "0.3", "version": version},
    )  # fmt: skip
    assert saved.status_code == 302
    row = services.curation_settings(personas.team)
    assert row.synonyms == [["心影增大", "心影增宽"], ["cardiomegaly", "enlarged heart"]]
    assert row.auto_label_distance == 0.3
    for text, said in [
        ("心影增大", "give at least two forms"),
        ("心影增大 = 心影增宽\n胸水 = 心影增宽", "心影增宽 is already in group 1"),
        ("心影增大 = = 心影增宽", "a form is empty"),
    ]:
        refused = client.post(
            "/curation/distance/",
            {"synonyms": text, "auto_label_distance": "0.3", "version": row.version},
        )
        assert refused.status_code == 400 and said in refused.content.decode()
    too_far = client.post(
        "/curation/distance/",
        {"synonyms": "", "auto_label_distance": "2", "version": row.version},
    )
    assert too_far.status_code == 400
    assert CurationSettings.objects.get(team=personas.team).synonyms == row.synonyms


def test_a_viewer_may_read_the_distance_settings_but_not_change_them(client, personas):
    client.force_login(personas.teammate)
    assert client.get("/curation/distance/").status_code == 200
    version = services.curation_settings(personas.team).version
    response = client.post(
        "/curation/distance/", {"synonyms": "", "auto_label_distance": "0.3", "version": version}
    )
    assert response.status_code == 403


def test_the_distance_api_reads_writes_and_refuses_a_stale_version(api, personas):
    read = api.get("/api/curation/distance/").json()
    assert read["auto_label_distance"] == 0.25 and ["", "左侧", "右侧"] == [
        form for form in read["synonyms"][0] if form in ("", "左侧", "右侧")
    ]  # the first group drops words that do not change the finding
    body = {"synonyms": [["胸腔积液", "胸水"]], "auto_label_distance": 0.2,
            "version": read["version"]}  # fmt: skip
    assert api.put("/api/curation/distance/", body, format="json").status_code == 200
    assert api.put("/api/curation/distance/", body, format="json").status_code == 409
    fresh = api.get("/api/curation/distance/").json()
    bad = {**body, "version": fresh["version"], "auto_label_distance": 3}
    assert api.put("/api/curation/distance/", bad, format="json").status_code == 400
    assert fresh["synonyms"] == [["胸腔积液", "胸水"]] and fresh["auto_label_distance"] == 0.2


def test_auto_labelling_takes_a_share_not_edits(api, personas, curator):
    planted = plant(personas.team, curator)
    cluster = planted.heart
    heart = next(
        lb for lb in services.vocabulary(personas.team) if lb.key == "increased_heart_shadow"
    )
    services.set_verdict(
        personas.team, curator, {cluster.pk: cluster.version}, verdict="label", label_id=heart.pk
    )
    from tests.factories import make_instance, make_report, make_study

    study = make_study(personas.team)
    make_report(study, diagnosis="心影增大形态")  # 2 edits from 心影增大: 2 / 6 of the longer
    make_instance(study)
    refused = api.post("/api/curation/auto-label/", {"max_distance": 2}, format="json")
    assert refused.status_code == 400
    near = api.post("/api/curation/auto-label/", {"max_distance": 0.3}, format="json").json()
    assert near == {"matched": 0, "unmapped": 1}
    far = api.post("/api/curation/auto-label/", {"max_distance": 0.34}, format="json").json()
    assert far == {"matched": 1, "unmapped": 0}
