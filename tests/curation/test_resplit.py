"""Terminators are edited like cue lists; saving either re-splits the team's stored reports, says
what moved, and lists every decision that lost its clause text for review (never dropped)."""

import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from curation import services
from curation.models import (
    AuditEntry,
    ClauseDecision,
    ClauseOccurrence,
    ClusterMember,
    CurationSettings,
    LabelSetImage,
)
from labeling.text import normalize, split_clauses

from .conftest import cluster_with

MIXED_EN = "No pleural effusion with mild cardiomegaly"
MIXED_ZH = "未见胸腔积液伴心影增大"


def page(response) -> str:
    return response.content.decode()


def cue_form(team, **changes) -> dict:
    row, cues = services.curation_settings(team), services.team_cues(team)
    fields = {name: "\n".join(getattr(cues, name)) for name in
              ("negation", "uncertainty", "pseudo", "terminators")}  # fmt: skip
    return {**fields, "version": row.version, **changes}


def set_terminators(team, user, terminators) -> services.CueUpdate:
    row, cues = services.curation_settings(team), services.team_cues(team)
    return services.update_cues(
        team, user, negation=cues.negation, uncertainty=cues.uncertainty, pseudo=cues.pseudo,
        terminators=terminators, version=row.version,
    )  # fmt: skip


def occurrences(team) -> Counter:
    return Counter(
        ClauseOccurrence.objects.of_team(team).values_list("report_id", "normalized", "polarity")
    )


@pytest.fixture
def mixed(corpus, curator):
    """The corpus plus two mixed-scope reports, split with no terminators, clustered, and the
    English mixed clause mapped to "no label" by a curator."""
    from tests.factories import make_instance, make_report, make_study

    for diagnosis in (MIXED_EN, MIXED_ZH):
        study = make_study(corpus.team, patient_id=f"M{len(diagnosis)}")
        make_report(study, diagnosis=diagnosis)
        make_instance(study)
    set_terminators(corpus.team, curator, [])
    run = services.run_clustering(corpus.team, k=8, seed=0, user=curator)
    cluster = cluster_with(run, normalize(MIXED_EN))
    services.set_verdict(corpus.team, curator, {cluster.pk: cluster.version}, verdict="no_label")
    return run


def test_a_new_terminator_re_splits_and_the_page_says_what_moved(client, mixed, curator):
    team = mixed.team
    assert split_clauses(MIXED_EN, services.team_cues(team)) == [MIXED_EN]
    before = occurrences(team)
    client.force_login(curator)
    form = cue_form(team, terminators="with\n伴")
    response = client.post(reverse("curation:cues"), form, follow=True)
    after = occurrences(team)
    assert services.team_cues(team).terminators == ("with", "伴")
    pieces = split_clauses(MIXED_EN, services.team_cues(team))
    assert len(pieces) == 2
    added, removed = sum((after - before).values()), sum((before - after).values())
    assert added >= 2 and removed >= 1
    assert (
        f"Cue lists saved and reports re-split: {added} clauses added, {removed} removed, "
        "0 changed polarity." in page(response)
    )
    assert "1 decision lost its clause and waits for review." in page(response)
    entry = AuditEntry.objects.filter(team=team, action="cues").latest("id")
    assert entry.after["cues"]["terminators"] == ["with", "伴"] and "1 decisions" in entry.summary


def test_a_divided_decision_is_listed_with_its_old_text_and_new_pieces(client, mixed, curator):
    team = mixed.team
    set_terminators(team, curator, ["with", "伴"])
    decision = ClauseDecision.objects.get(team=team, normalized=normalize(MIXED_EN))
    pieces = split_clauses(MIXED_EN, services.team_cues(team))
    assert decision.verdict == "no_label" and decision.review == "divided"
    assert decision.review_text == MIXED_EN and decision.review_pieces == pieces
    client.force_login(curator)
    html = page(client.get(reverse("curation:resplit-review")))
    assert "1 decision to review" in html and MIXED_EN in html
    assert all(piece in html for piece in pieces)
    cues_page = page(client.get(reverse("curation:cues")))
    assert "1 decision waits for review after re-splitting" in cues_page


def test_taking_the_terminator_back_brings_the_text_back_and_clears_its_review(mixed, curator):
    team = mixed.team
    set_terminators(team, curator, ["with", "伴"])
    result = set_terminators(team, curator, [])
    assert result.to_review == 0 and not services.decisions_to_review(team)
    assert ClauseOccurrence.objects.filter(team=team, normalized=normalize(MIXED_EN)).exists()


def test_a_decided_piece_that_a_removed_terminator_joins_again_is_listed(mixed, curator):
    team = mixed.team
    set_terminators(team, curator, ["with"])
    first, _second = split_clauses(MIXED_EN, services.team_cues(team))
    run = services.run_clustering(team, k=8, seed=0, user=curator)
    piece = cluster_with(run, normalize(first))
    services.set_verdict(team, curator, {piece.pk: piece.version}, verdict="ignored")
    result = set_terminators(team, curator, [])
    joined = ClauseDecision.objects.get(team=team, normalized=normalize(first))
    assert joined.review == "joined" and joined.review_text == first
    assert joined.review_pieces == [MIXED_EN] and joined.verdict == "ignored"
    divided = ClauseDecision.objects.get(team=team, normalized=normalize(MIXED_EN))
    assert divided.review == ""  # its text is written again
    assert result.to_review == len(services.decisions_to_review(team)) >= 1


def test_frozen_label_sets_and_earlier_runs_keep_what_they_hold(mixed, curator):
    team = mixed.team
    heart = cluster_with(mixed, "心影增大")
    services.set_verdict(team, curator, {heart.pk: heart.version}, verdict="label",
                         label_id=services.vocabulary(team)[3].pk)  # fmt: skip
    frozen = services.freeze_label_set(team, curator)
    images = sorted(LabelSetImage.objects.filter(label_set=frozen).values_list("sop_uid", "labels"))
    members = sorted(ClusterMember.objects.filter(cluster__run=mixed).values_list("normalized"))
    set_terminators(team, curator, ["with", "伴"])
    frozen.refresh_from_db()
    again = sorted(LabelSetImage.objects.filter(label_set=frozen).values_list("sop_uid", "labels"))
    assert again == images
    assert sorted(ClusterMember.objects.filter(cluster__run=mixed).values_list("normalized")) == (
        members
    )
    assert normalize(MIXED_EN) in {m for (m,) in members}
    run = services.run_clustering(team, k=8, seed=0, user=curator)
    texts = set(ClusterMember.objects.filter(cluster__run=run).values_list("normalized", flat=True))
    assert normalize(MIXED_EN) not in texts
    assert {normalize(p) for p in split_clauses(MIXED_EN, services.team_cues(team))} <= texts


def test_bad_terminators_get_a_form_error_and_change_nothing(client, mixed, curator):
    team = mixed.team
    row, before = services.curation_settings(team), occurrences(team)
    client.force_login(curator)
    clash = client.post(reverse("curation:cues"), cue_form(team, terminators="with\n未见"))
    assert clash.status_code == 400 and "未见" in page(clash)
    stale = client.post(
        reverse("curation:cues"), cue_form(team, terminators="with", version=row.version - 1)
    )
    assert stale.status_code == 400 and "changed by someone else" in page(stale)
    assert CurationSettings.objects.get(team=team).version == row.version
    assert services.team_cues(team).terminators == ()
    assert occurrences(team) == before and not services.decisions_to_review(team)


def test_marking_a_review_as_seen_keeps_the_decision_and_is_audited(client, mixed, curator):
    team = mixed.team
    set_terminators(team, curator, ["with"])
    (decision,) = services.decisions_to_review(team)
    client.force_login(curator)
    response = client.post(
        reverse("curation:resplit-review"), {"decision": decision.pk}, follow=True
    )
    assert "Marked as reviewed" in page(response) and "0 decisions to review" in page(response)
    decision.refresh_from_db()
    assert decision.review == "" and decision.verdict == "no_label"
    assert AuditEntry.objects.filter(team=team, action="settle_review").count() == 1
    again = client.post(reverse("curation:resplit-review"), {"decision": "x"}, follow=True)
    assert "no longer waits for review" in page(again)


def test_viewers_read_the_review_list_and_outsiders_cannot_touch_it(client, mixed, personas):
    team = mixed.team
    set_terminators(team, personas.owner, ["with"])
    (decision,) = services.decisions_to_review(team)
    client.force_login(personas.teammate)
    html = page(client.get(reverse("curation:resplit-review")))
    assert MIXED_EN in html and "Mark as reviewed" not in html
    url = reverse("curation:resplit-review")
    assert client.post(url, {"decision": decision.pk}).status_code == 403
    client.force_login(personas.outsider)
    assert MIXED_EN not in page(client.get(url))
    client.post(url, {"decision": decision.pk})
    decision.refresh_from_db()
    assert decision.review == "divided"


def test_the_api_takes_terminators_and_answers_what_moved(mixed, curator):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(curator)
    cues = api.get("/api/curation/cues/").json()
    assert cues["terminators"] == []
    response = api.put("/api/curation/cues/", {**cues, "terminators": ["with"]}, format="json")
    body = response.json()
    assert response.status_code == 200 and body["terminators"] == ["with"]
    assert body["to_review"] == 1 and body["added"] >= 2 and body["removed"] >= 1
    kept = api.put("/api/curation/cues/", {k: v for k, v in body.items() if k != "terminators"},
                   format="json")  # fmt: skip
    assert kept.status_code == 200 and kept.json()["terminators"] == ["with"]


def test_the_resplit_command_counts_the_decisions_an_upgraded_splitter_divides(mixed):
    team = mixed.team
    # What an upgrade of the splitter does: the stored clauses were split by other rules.
    CurationSettings.objects.filter(team=team).update(terminators=["with", "伴"])
    out = StringIO()
    call_command("resplit", "--team", team.name, "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["decisions_to_review"] == 1 and summary["added"] >= 2
    assert summary["clauses"] == ClauseOccurrence.objects.filter(team=team).count()
    out = StringIO()
    call_command("resplit", "--team", team.name, stdout=out)
    assert "0 added, 0 removed, 0 changed polarity; 1 decisions to review" in out.getvalue()
