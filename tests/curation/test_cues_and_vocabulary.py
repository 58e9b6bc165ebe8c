"""Curators edit the team's cue lists and label vocabulary on their own pages; viewers read."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from curation import services
from curation.models import AuditEntry, ClauseOccurrence, Label

from .conftest import cluster_with


def page(response) -> str:
    return response.content.decode()


def cue_form(row, **changes) -> dict:
    fields = {name: "\n".join(getattr(row, name)) for name in ("negation", "uncertainty", "pseudo")}
    return {**fields, "version": row.version, **changes}


def polarities(team) -> dict[tuple[int, int], str]:
    """Each clause's polarity by (report, position): saving cues rebuilds the clause rows."""
    rows = ClauseOccurrence.objects.of_team(team).values_list("report_id", "position", "polarity")
    return {(report, position): pol for report, position, pol in rows}


def test_saving_cue_lists_says_how_many_clauses_changed_polarity(client, small_run, curator):
    team = small_run.team
    row = services.curation_settings(team)
    before = polarities(team)
    negation = "\n".join(cue for cue in row.negation if cue not in ("未见", "未"))
    client.force_login(curator)
    response = client.post(reverse("curation:cues"), cue_form(row, negation=negation), follow=True)
    after = polarities(team)
    moved = sum(before[pk] != after[pk] for pk in before)
    assert moved >= 5  # every 未见… clause of the corpus
    assert f"0 clauses added, 0 removed, {moved} changed polarity." in page(response)
    assert "未见" not in services.curation_settings(team).negation


def test_bad_cue_lists_get_a_message_and_change_nothing(client, small_run, curator):
    team = small_run.team
    row = services.curation_settings(team)
    client.force_login(curator)
    clash = client.post(reverse("curation:cues"), cue_form(row, pseudo="未见\n欠锐利"))
    assert clash.status_code == 400 and "appear in both negation and pseudo" in page(clash)
    empty = client.post(reverse("curation:cues"), cue_form(row, negation="  \n"))
    assert empty.status_code == 400 and "Keep at least one negation cue" in page(empty)
    stale = client.post(reverse("curation:cues"), cue_form(row, version=row.version - 1))
    assert stale.status_code == 400 and "changed by someone else" in page(stale)
    assert services.curation_settings(team).version == row.version


def test_a_viewer_reads_the_cue_lists_but_cannot_save_them(client, small_run, personas):
    row = services.curation_settings(small_run.team)
    client.force_login(personas.teammate)
    html = page(client.get(reverse("curation:cues")))
    assert "未见" in html and "disabled" in html and "Save and re-split" not in html
    assert client.post(reverse("curation:cues"), cue_form(row)).status_code == 403


def test_the_cue_api_answers_with_the_number_of_changed_clauses(small_run, curator):
    api = APIClient()
    api.force_authenticate(curator)
    cues = api.get("/api/curation/cues/").json()
    response = api.put("/api/curation/cues/", cues, format="json")
    assert response.status_code == 200 and response.json()["changed"] == 0


@pytest.fixture
def vocabulary_page(client, personas, curator):
    services.curation_settings(personas.team)
    client.force_login(curator)
    return client


def keys(team) -> list[str]:
    return [label.key for label in services.vocabulary(team)]


def test_a_curator_adds_renames_and_reorders_labels(vocabulary_page, personas):
    client, team = vocabulary_page, personas.team
    added = client.post(
        reverse("curation:labels"),
        {"key": "nodule", "name_en": "nodule", "name_zh": "结节"},
        follow=True,
    )
    assert "Label nodule / 结节 added." in page(added) and keys(team)[-1] == "nodule"
    nodule = Label.objects.get(team=team, key="nodule")
    renamed = client.post(
        reverse("curation:label-rename", args=[nodule.pk]),
        {"name_en": "pulmonary nodule", "name_zh": "肺结节", "was_en": "nodule", "was_zh": "结节"},
        follow=True,
    )
    assert "Label renamed to pulmonary nodule / 肺结节." in page(renamed)
    client.post(reverse("curation:label-move", args=[nodule.pk]), {"direction": "up"})
    assert keys(team)[-2:] == ["nodule", "bronchitis"]
    first = services.vocabulary(team)[0]
    client.post(reverse("curation:label-move", args=[first.pk]), {"direction": "up"})
    assert keys(team)[0] == "normal"  # already first: stays
    assert AuditEntry.objects.filter(team=team, action__in=["rename_label", "move_label"]).count()


def test_bad_label_edits_get_a_clear_message(vocabulary_page, personas):
    client, team = vocabulary_page, personas.team
    taken = client.post(
        reverse("curation:labels"), {"key": "emphysema2", "name_en": "Emphysema", "name_zh": "x"}
    )
    assert taken.status_code == 400 and "already exists" in page(taken)
    bad_key = client.post(
        reverse("curation:labels"), {"key": "has space", "name_en": "a", "name_zh": "b"}
    )
    assert bad_key.status_code == 400 and "valid “slug”" in page(bad_key)
    emphysema = Label.objects.get(team=team, key="emphysema")
    stale = client.post(
        reverse("curation:label-rename", args=[emphysema.pk]),
        {"name_en": "lung emphysema", "name_zh": "肺气肿", "was_en": "old", "was_zh": "肺气肿"},
        follow=True,
    )
    assert "was renamed by someone else" in page(stale)
    empty = client.post(
        reverse("curation:label-rename", args=[emphysema.pk]),
        {"name_en": "", "name_zh": "肺气肿", "was_en": "emphysema", "was_zh": "肺气肿"},
        follow=True,
    )
    assert "English name: This field is required." in page(empty)
    assert Label.objects.get(pk=emphysema.pk).name_en == "emphysema"
    assert len(keys(team)) == 10


def test_a_label_is_deleted_only_when_nothing_uses_it(client, small_run, curator):
    team = small_run.team
    client.force_login(curator)
    unused = Label.objects.get(team=team, key="bronchitis")
    deleted = client.post(reverse("curation:label-delete", args=[unused.pk]), follow=True)
    assert "Label bronchitis deleted." in page(deleted) and "bronchitis" not in keys(team)

    aorta = Label.objects.get(team=team, key="aortosclerosis")
    cluster = cluster_with(small_run, "主动脉硬化")
    services.set_verdict(team, curator, {cluster.pk: cluster.version}, verdict="label",
                         label_id=aorta.pk)  # fmt: skip
    used = client.post(reverse("curation:label-delete", args=[aorta.pk]), follow=True)
    assert "is used by 3 clause decisions and 1 clusters" in page(used)

    services.freeze_label_set(team, curator)
    heart = Label.objects.get(team=team, key="increased_heart_shadow")
    frozen = client.post(reverse("curation:label-delete", args=[heart.pk]), follow=True)
    assert "part of frozen label sets (v1)" in page(frozen)
    assert keys(team).count("aortosclerosis") == 1 and "increased_heart_shadow" in keys(team)


def test_a_viewer_sees_the_vocabulary_without_forms_and_gets_403_on_every_edit(client, personas):
    label = services.vocabulary(personas.team)[0]
    client.force_login(personas.teammate)
    html = page(client.get(reverse("curation:labels")))
    assert "未见明显异常" in html and "add-label-form" not in html and "rename-form" not in html
    new = {"key": "x", "name_en": "x", "name_zh": "x"}
    assert client.post(reverse("curation:labels"), new).status_code == 403
    for route in ("curation:label-rename", "curation:label-move", "curation:label-delete"):
        assert client.post(reverse(route, args=[label.pk])).status_code == 403
    assert Label.objects.filter(pk=label.pk).exists()


def test_the_label_api_renames_and_refuses_to_delete_a_used_label(small_run, curator):
    team = small_run.team
    api = APIClient()
    api.force_authenticate(curator)
    heart = Label.objects.get(team=team, key="increased_heart_shadow")
    body = {"name_en": "cardiomegaly", "name_zh": "心影增大", "was_en": heart.name_en,
            "was_zh": heart.name_zh}  # fmt: skip
    renamed = api.patch(f"/api/curation/labels/{heart.pk}/", body, format="json")
    assert renamed.status_code == 200 and renamed.json()["name_en"] == "cardiomegaly"
    assert api.patch(f"/api/curation/labels/{heart.pk}/", body, format="json").status_code == 409
    cluster = cluster_with(small_run, "心影增大")
    services.set_verdict(team, curator, {cluster.pk: cluster.version}, verdict="label",
                         label_id=heart.pk)  # fmt: skip
    refused = api.delete(f"/api/curation/labels/{heart.pk}/")
    assert refused.status_code == 400 and "map them to another label" in refused.json()["detail"]
    unused = Label.objects.get(team=team, key="emphysema")
    assert api.delete(f"/api/curation/labels/{unused.pk}/").status_code == 204
