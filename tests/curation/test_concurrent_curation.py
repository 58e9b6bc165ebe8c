"""Two curators on the same clusters: one wins, the other is told, nothing is lost."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from curation import services
from curation.models import AuditEntry, ProposedCluster
from teams import services as lab_services
from teams.models import Role

from .conftest import cluster_with


@pytest.fixture
def second_curator(personas, django_user_model):
    user = django_user_model.objects.create_user("curator2", password="pw-curator2-1234")
    lab_services.add_member(personas.team, user, Role.CURATOR)
    return user


def test_a_rename_with_a_stale_version_is_a_conflict_not_an_overwrite(
    small_run, curator, second_curator
):
    cluster = cluster_with(small_run, "主动脉硬化")
    read = cluster.version
    services.rename_cluster(cluster.team, curator, cluster.pk, name="aorta", version=read)
    with pytest.raises(services.ConflictError, match="changed by someone else"):
        services.rename_cluster(
            cluster.team, second_curator, cluster.pk, name="aortic", version=read
        )
    cluster.refresh_from_db()
    assert cluster.name == "aorta" and cluster.version == read + 1
    assert AuditEntry.objects.filter(action="rename").count() == 1


def test_a_merge_after_a_rename_of_one_of_its_clusters_is_refused_over_http(
    small_run, curator, second_curator
):
    a = cluster_with(small_run, "双肺纹理增多")
    b = cluster_with(small_run, "两肺纹理增多紊乱")
    first, second = APIClient(), APIClient()
    first.force_authenticate(curator)
    second.force_authenticate(second_curator)
    renamed = first.post(
        "/api/curation/actions/rename/",
        {"cluster": a.pk, "version": a.version, "name": "lung markings"},
        format="json",
    )
    assert renamed.status_code == 200
    stale = [{"cluster": a.pk, "version": a.version}, {"cluster": b.pk, "version": b.version}]
    response = second.post("/api/curation/actions/merge/", {"clusters": stale}, format="json")
    assert response.status_code == 409
    assert "changed by someone else" in response.json()["detail"]
    b.refresh_from_db()
    assert b.merged_into is None and b.members.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_curators_merging_at_once_one_wins_and_one_gets_a_conflict(
    small_run, curator, second_curator
):
    a = cluster_with(small_run, "双肺纹理增多")
    b = cluster_with(small_run, "两肺纹理增多紊乱")
    versions = {a.pk: a.version, b.pk: b.version}
    start = threading.Barrier(2)
    outcomes = {}

    def act(user, name):
        start.wait()
        try:
            services.merge_clusters(a.team, user, versions, into=a.pk, name=name)
            outcomes[name] = "merged"
        except services.ConflictError:
            outcomes[name] = "conflict"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=act, args=(curator, "markings A")),
        threading.Thread(target=act, args=(second_curator, "markings B")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["conflict", "merged"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "merged")
    a.refresh_from_db()
    assert a.name == winner and a.version == versions[a.pk] + 1
    assert set(a.members.values_list("normalized", flat=True)) == {"双肺纹理增多", "双肺纹理增粗",
                                                                   "两肺纹理增多紊乱"}  # fmt: skip
    assert ProposedCluster.objects.get(pk=b.pk).merged_into_id == a.pk
    assert AuditEntry.objects.filter(action="merge").count() == 1


def test_undo_takes_back_only_my_last_action_and_refuses_after_a_later_edit(
    small_run, curator, second_curator
):
    a = cluster_with(small_run, "双肺纹理增多")
    b = cluster_with(small_run, "两肺纹理增多紊乱")
    team = a.team
    before = services.current_vectors(team).labels  # normal statements, pre-mapped by the run
    merged = services.merge_clusters(team, curator, {a.pk: a.version, b.pk: b.version}, into=a.pk)
    services.undo_last(team, curator)
    a.refresh_from_db()
    b.refresh_from_db()
    assert b.merged_into is None and list(b.members.values_list("normalized", flat=True)) == [
        "两肺纹理增多紊乱"
    ]
    assert a.members.count() == 2
    assert services.current_vectors(team).labels == before  # decisions back to what they were
    services.rename_cluster(team, curator, a.pk, name="markings", version=a.version)
    a.refresh_from_db()
    services.rename_cluster(team, second_curator, a.pk, name="markings 2", version=a.version)
    with pytest.raises(services.ConflictError, match="undo refused"):
        services.undo_last(team, curator)
    assert merged.pk == a.pk
    a.refresh_from_db()
    assert a.name == "markings 2"
