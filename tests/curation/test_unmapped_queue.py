"""The unmapped queue: clauses no curated cluster covers, decided by text so re-clustering and
undo treat them like any other decision."""

# Fixtures shared with other modules are imported by name; pytest, not the code, uses them.
# ruff: noqa: F401, F811

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from curation import services, views
from curation.models import ClauseDecision, Label
from tests.factories import make_instance, make_report, make_study

from .test_label_sets import curated  # fixture

FRACTURE = "左侧第肋骨陈旧性骨折"  # normalised: the digit is gone


@pytest.fixture
def arrived(curated, corpus, curator):
    """Two new studies after curation: one clause matches a curated medoid, two match nothing."""
    first = make_study(corpus.team)
    make_report(first, diagnosis="双肺纹理增多明显。左侧第5肋骨陈旧性骨折")
    make_instance(first)
    second = make_study(corpus.team)
    make_report(second, diagnosis="左侧第6肋骨陈旧性骨折；未见肺结节")
    make_instance(second)
    return first, second


@pytest.fixture
def api(curator):
    client = APIClient()
    client.force_authenticate(curator)
    return client


def decide(api, texts, verdict, label=None):
    body = {"texts": texts, "verdict": verdict, "label": label}
    return api.post("/api/curation/unmapped/decide/", body, format="json")


def test_auto_label_button_reports_matches_and_lists_what_is_left_with_sample_reports(
    client, arrived, curator
):
    first, second = arrived
    client.force_login(curator)
    response = client.post(reverse("curation:unmapped"), follow=True)
    html = response.content.decode()
    assert "1 clauses matched a curated cluster, 2 remain unmapped" in html
    assert "2 unmapped clause texts, 3 occurrences" in html
    assert html.index(FRACTURE) < html.index("未见肺结节")  # written twice before once
    assert "2 occurrences" in html
    for study in (first, second):
        assert reverse("labeling:study-detail", args=[study.pk]) in html


def test_the_queue_is_paginated(client, arrived, curator, monkeypatch):
    services.auto_label_new_reports(arrived[0].team, curator)
    monkeypatch.setattr(views, "UNMAPPED_PER_PAGE", 1)
    client.force_login(curator)
    first = client.get(reverse("curation:unmapped")).content.decode()
    second = client.get(reverse("curation:unmapped") + "?page=2").content.decode()
    assert f'data-text="{FRACTURE}"' in first and 'data-text="未见肺结节"' not in first
    assert "Page 1 of 2" in first and 'rel="next"' in first
    assert 'data-text="未见肺结节"' in second and 'rel="prev"' in second


def test_a_text_mapped_from_the_queue_labels_its_images_and_survives_reclustering(
    api, arrived, curator
):
    first, second = arrived
    team = first.team
    services.auto_label_new_reports(team, curator)
    label = Label.objects.get(team=team, key="pleural_thickening")
    assert decide(api, [FRACTURE], "label", label.pk).status_code == 200
    assert decide(api, ["未见肺结节"], "no_label").status_code == 200
    assert services.unmapped_texts(team) == []
    labels = services.current_vectors(team).labels
    assert labels[second.instances.get().sop_uid] == ["pleural_thickening"]

    services.run_clustering(team, k=8, seed=1, user=curator)
    assert services.unmapped_texts(team) == []
    labels = services.current_vectors(team).labels
    assert labels[second.instances.get().sop_uid] == ["pleural_thickening"]
    assert ClauseDecision.objects.get(team=team, normalized="未见肺结节").verdict == "no_label"


def test_undo_puts_a_queue_decision_back(api, arrived, curator):
    services.auto_label_new_reports(arrived[0].team, curator)
    decide(api, [FRACTURE, "未见肺结节"], "ignored")
    assert services.unmapped_texts(arrived[0].team) == []
    assert api.post("/api/curation/actions/undo/").status_code == 200
    assert [n for n, _, _ in services.unmapped_texts(arrived[0].team)] == [FRACTURE, "未见肺结节"]


def test_bad_queue_decisions_are_refused_and_change_nothing(api, arrived, curator, personas):
    team = arrived[0].team
    services.auto_label_new_reports(team, curator)
    effusion = Label.objects.get(team=team, key="pleural_effusion")
    negated = decide(api, ["未见肺结节"], "label", effusion.pk)
    assert negated.status_code == 400 and "only affirmed clauses" in negated.json()["detail"]
    unknown = decide(api, ["从未写过的句子"], "ignored")
    assert unknown.status_code == 400 and "no clause" in unknown.json()["detail"]
    assert decide(api, [FRACTURE], "label").status_code == 400  # no label given
    assert not ClauseDecision.objects.filter(normalized__in=[FRACTURE, "未见肺结节"]).exists()

    assert decide(api, [FRACTURE], "ignored").status_code == 200
    again = decide(api, [FRACTURE], "no_label")
    assert again.status_code == 409 and "decided by someone else" in again.json()["detail"]
    assert ClauseDecision.objects.get(normalized=FRACTURE).verdict == "ignored"

    viewer = APIClient()
    viewer.force_authenticate(personas.teammate)
    assert decide(viewer, ["未见肺结节"], "ignored").status_code == 403


def test_a_viewer_sees_the_queue_without_actions_and_cannot_auto_label(client, arrived, personas):
    services.auto_label_new_reports(arrived[0].team, personas.owner)
    client.force_login(personas.teammate)
    html = client.get(reverse("curation:unmapped")).content.decode()
    assert FRACTURE in html and "auto-label-form" not in html
    assert client.post(reverse("curation:unmapped")).status_code == 403
