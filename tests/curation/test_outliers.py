"""Clusters show their outliers (issue #15, item 3): a corpus with a planted outlier.

With k=2 the one report of a left pleural effusion has to join a cluster, and it joins the
aortosclerosis one (the issue's 左少量胸腔积液 inside 主动脉弓硬化). Each member carries its
distance to the medoid, the effusion is flagged, the cluster's purity drops, and mapping the
cluster asks what to do with it: each choice labels other images, and undo takes it all back.
One image per report, so images and reports count alike.
"""

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from curation import services
from curation.models import AuditEntry, ClauseDecision, ClusterMember, Label, ProposedCluster

from .conftest import cluster_with

PLANTED = "左侧少量胸腔积液"
AORTA = ("主动脉弓硬化",) * 4 + ("主动脉硬化",) * 3 + (PLANTED,)
HEART = ("心影增大",) * 6 + ("心影增宽",) * 3  # the larger cluster, and a pure one


@dataclass
class Planted:
    team: object
    run: object
    aorta: object  # the cluster the outlier sits in
    heart: object
    images: dict  # diagnosis -> the SOP Instance UIDs of its images

    def sops(self, *diagnoses: str) -> set[str]:
        return {sop for diagnosis in diagnoses for sop in self.images[diagnosis]}


def plant(team, curator, **run_options) -> Planted:
    from tests.factories import make_instance, make_report, make_study

    images: dict[str, list[str]] = {}
    for i, diagnosis in enumerate(AORTA + HEART):
        study = make_study(team, patient_id=f"P{i}")
        make_report(study, diagnosis=diagnosis)
        images.setdefault(diagnosis, []).append(make_instance(study).sop_uid)
    run = services.run_clustering(team, k=2, seed=0, user=curator, **run_options)
    return Planted(
        team, run, cluster_with(run, "主动脉弓硬化"), cluster_with(run, "心影增大"), images
    )


@pytest.fixture
def planted(personas, curator) -> Planted:
    return plant(personas.team, curator)


def aortosclerosis(team) -> Label:
    return Label.objects.get(team=team, key="aortosclerosis")


def labelled(team, key: str) -> set[str]:
    vectors = services.current_vectors(team).labels
    return {sop for sop, keys in vectors.items() if key in keys}


def map_aorta(planted: Planted, curator, outliers: str):
    cluster = planted.aorta
    return services.set_verdict(
        planted.team, curator, {cluster.pk: cluster.version}, verdict="label",
        label_id=aortosclerosis(planted.team).pk, outliers=outliers,
    )  # fmt: skip


def test_every_member_carries_its_distance_and_the_planted_outlier_is_flagged(planted):
    members = {m.normalized: m for m in planted.aorta.members.all()}
    assert set(members) == {"主动脉弓硬化", "主动脉硬化", PLANTED}
    # 主动脉弓 reads as 主动脉 in the default synonym table: the same text, distance 0.
    assert members["主动脉弓硬化"].distance == 0.0 and members["主动脉硬化"].distance == 0.0
    assert members[PLANTED].distance == 1.0  # nothing in common with 主动脉硬化
    assert [m.normalized for m in members.values() if m.outlier] == [PLANTED]
    assert planted.run.distance == "normalized" and planted.run.outlier_threshold == 0.6
    aorta, heart = planted.aorta, planted.heart
    assert (aorta.outlier_count, aorta.outlier_unique) == (1, 1)
    assert aorta.purity == pytest.approx(7 / 8)
    assert (heart.outlier_count, heart.purity) == (0, 1.0)


def test_the_card_says_how_many_outliers_and_what_they_say(client, planted, personas):
    client.force_login(personas.owner)
    page = client.get("/curation/").content.decode()
    cards = {card.split('"', 1)[0]: card for card in page.split('data-id="')[1:]}
    card = cards[str(planted.aorta.pk)]
    assert 'data-outliers="1"' in card
    outliers = card[card.index('class="outliers"') :]
    assert "1 outlier" in outliers and PLANTED in outliers
    assert "purity 0.88" in card
    heart = cards[str(planted.heart.pk)]
    assert 'data-outliers="0"' in heart and 'class="outliers"' not in heart


def test_the_detail_lists_every_member_with_its_distance_and_marks_the_outliers(
    client, planted, personas
):
    client.force_login(personas.owner)
    html = client.get(f"/curation/clusters/{planted.aorta.pk}/").content.decode()
    rows = html.split('<tr class="member')[1:]
    assert len(rows) == 3
    first = rows[0]  # outliers first
    assert first.startswith(" outlier") and PLANTED in first and ">1</td>" in first
    assert all(" outlier" not in row.split(">")[0] for row in rows[1:])
    assert all(">0</td>" in row for row in rows[1:])
    assert "Purity 0.88" in html


def test_the_workspace_lists_the_least_pure_first_and_sorts_by_size_on_request(
    client, planted, personas
):
    client.force_login(personas.owner)
    default = client.get("/curation/").content.decode()
    by_size = client.get("/curation/?sort=size").content.decode()
    aorta, heart = f'data-id="{planted.aorta.pk}"', f'data-id="{planted.heart.pk}"'
    assert default.index(aorta) < default.index(heart)  # purity 0.88 before 1.0
    assert by_size.index(heart) < by_size.index(aorta)  # 9 clauses before 8
    assert 'value="purity" selected' in default and 'value="size" selected' in by_size
    api = APIClient()
    api.force_authenticate(personas.owner)
    listed = api.get(f"/api/curation/clusters/?run={planted.run.pk}&sort=purity").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["id"] for r in rows] == [planted.aorta.pk, planted.heart.pk]
    assert rows[0]["purity"] == pytest.approx(7 / 8) and rows[0]["outlier_count"] == 1
    assert api.get("/api/curation/clusters/?sort=worst").status_code == 400


def test_outliers_sent_to_the_queue_stay_unlabelled_and_undo_brings_them_back(planted, curator):
    map_aorta(planted, curator, "unmapped")

    inliers = planted.sops("主动脉弓硬化", "主动脉硬化")
    assert labelled(planted.team, "aortosclerosis") == inliers
    assert PLANTED in [n for n, _, _ in services.unmapped_texts(planted.team)]
    aorta = ProposedCluster.objects.get(pk=planted.aorta.pk)
    assert PLANTED not in aorta.members.values_list("normalized", flat=True)
    assert (aorta.purity, aorta.outlier_count, aorta.verdict) == (1.0, 0, "label")
    assert not ClauseDecision.objects.filter(team=planted.team, normalized=PLANTED).exists()
    assert "1 outliers: unmapped" in AuditEntry.objects.filter(team=planted.team).first().summary

    services.undo_last(planted.team, curator)

    aorta.refresh_from_db()
    back = aorta.members.get(normalized=PLANTED)
    assert back.outlier and back.distance == 1.0
    assert (aorta.verdict, aorta.outlier_count, aorta.purity) == ("open", 1, pytest.approx(7 / 8))
    assert labelled(planted.team, "aortosclerosis") == set()
    assert PLANTED not in [n for n, _, _ in services.unmapped_texts(planted.team)]


def test_outliers_split_off_wait_open_in_their_own_cluster_and_undo_removes_it(planted, curator):
    map_aorta(planted, curator, "split")

    assert labelled(planted.team, "aortosclerosis") == planted.sops("主动脉弓硬化", "主动脉硬化")
    split = ProposedCluster.objects.get(run=planted.run, merged_into=None, name=PLANTED)
    member = split.members.get()
    assert (split.verdict, split.polarity, split.clause_count) == ("open", "affirmed", 1)
    assert member.normalized == PLANTED and not member.outlier and member.distance is None
    decision = ClauseDecision.objects.get(team=planted.team, normalized=PLANTED)
    assert (decision.verdict, decision.label, decision.group) == ("open", None, PLANTED)

    services.undo_last(planted.team, curator)

    assert not ProposedCluster.objects.filter(pk=split.pk).exists()
    member = ClusterMember.objects.get(pk=member.pk)
    assert member.cluster_id == planted.aorta.pk and member.outlier and member.distance == 1.0
    assert not ClauseDecision.objects.filter(team=planted.team, normalized=PLANTED).exists()


def test_kept_outliers_take_the_label_with_the_rest(planted, curator):
    map_aorta(planted, curator, "keep")
    assert labelled(planted.team, "aortosclerosis") == planted.sops(*set(AORTA))
    member = ClusterMember.objects.get(cluster=planted.aorta, normalized=PLANTED)
    assert member.outlier  # still flagged: the card keeps saying what it holds


def test_the_api_says_how_many_images_each_choice_labels_and_maps_with_one(planted, personas):
    api = APIClient()
    api.force_authenticate(personas.owner)
    both = f"{planted.aorta.pk},{planted.heart.pk}"
    choices = api.get(f"/api/curation/clusters/outlier-choices/?clusters={planted.aorta.pk}")
    assert choices.json() == {
        "outliers": 1, "outlier_clauses": 1, "keep": 8, "unmapped": 7, "split": 7
    }  # fmt: skip
    assert api.get(f"/api/curation/clusters/outlier-choices/?clusters={both}").json()["keep"] == 17
    assert api.get("/api/curation/clusters/outlier-choices/?clusters=x").status_code == 400

    body = {
        "clusters": [{"cluster": planted.aorta.pk, "version": planted.aorta.version}],
        "label": aortosclerosis(planted.team).pk,
    }
    refused = api.post("/api/curation/actions/map/", {**body, "outliers": "drop"}, format="json")
    assert refused.status_code == 400
    assert ProposedCluster.objects.get(pk=planted.aorta.pk).verdict == "open"
    done = api.post("/api/curation/actions/map/", {**body, "outliers": "unmapped"}, format="json")
    assert done.status_code == 200 and done.json()[0]["outlier_count"] == 0
    assert labelled(planted.team, "aortosclerosis") == planted.sops("主动脉弓硬化", "主动脉硬化")


def test_an_outsider_gets_404_for_another_teams_outlier_choices(planted, personas):
    api = APIClient()
    api.force_authenticate(personas.outsider)
    url = f"/api/curation/clusters/outlier-choices/?clusters={planted.aorta.pk}"
    assert api.get(url).status_code == 404


def test_reopening_cannot_set_the_outliers_aside(planted, curator):
    cluster = planted.aorta
    with pytest.raises(services.CurationError, match="reopening keeps the outliers"):
        services.set_verdict(
            planted.team, curator, {cluster.pk: cluster.version}, verdict="open",
            outliers="unmapped",
        )  # fmt: skip
    assert ClusterMember.objects.filter(cluster=cluster, normalized=PLANTED).exists()


def test_a_restored_backup_keeps_an_outlier_choice_undoable(planted, curator):
    """The audit snapshot of an outlier choice names clusters and members by id: a restore
    into new ids translates them (lab/backup/refs.py), so undo still finds them."""
    from lab.backup.refs import CLUSTER, MEMBER, IdMaps, audit_json

    map_aorta(planted, curator, "unmapped")
    entry = AuditEntry.objects.filter(team=planted.team, action="label").first()
    ids = IdMaps()
    ids.add(CLUSTER, planted.aorta.pk, 900)
    for member in ClusterMember.objects.filter(cluster=planted.aorta):
        ids.add(MEMBER, member.pk, 5000 + member.pk)
    before = audit_json(entry.before, {}, ids)
    assert before["removed_members"] == [
        {"cluster": 900, "normalized": PLANTED, "example": PLANTED, "polarity": "affirmed",
         "count": 1, "distance": 1.0, "outlier": True}
    ]  # fmt: skip
    state = before["clusters"]["900"]["member_state"]
    kept = ClusterMember.objects.filter(cluster=planted.aorta)
    assert set(state) == {str(5000 + m.pk) for m in kept}  # the removed one has no new id
