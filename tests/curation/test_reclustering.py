"""Decisions attach to clause text: a new run with other k and seed brings them back."""

from curation import services
from curation.models import Label, ProposedCluster

from .conftest import cluster_with


def test_reclustering_keeps_labels_names_merges_and_the_label_set_hash(small_run, curator):
    team = small_run.team
    markings = Label.objects.get(team=team, key="increased_lung_marking")
    a = cluster_with(small_run, "双肺纹理增多")
    b = cluster_with(small_run, "两肺纹理增多紊乱")
    merged = services.merge_clusters(team, curator, {a.pk: a.version, b.pk: b.version}, into=a.pk)
    merged = services.rename_cluster(
        team, curator, merged.pk, name="lung markings", version=merged.version
    )
    services.set_verdict(
        team, curator, {merged.pk: merged.version}, verdict="label", label_id=markings.pk
    )
    before = services.freeze_label_set(team, curator)

    again = services.run_clustering(team, k=10, seed=7, user=curator, distance="paper")

    cluster = cluster_with(again, "两肺纹理增多紊乱")
    assert cluster.name == "lung markings" and cluster.label == markings
    assert set(cluster.members.values_list("normalized", flat=True)) == {
        "双肺纹理增多", "双肺纹理增粗", "两肺纹理增多紊乱"
    }  # fmt: skip
    assert cluster.undecided_count == 0
    after, created = services.freeze_or_reuse_label_set(team, curator)
    assert not created and after.pk == before.pk  # the same decisions: the same label set


def test_a_split_survives_reclustering_as_its_own_cluster(small_run, curator):
    team = small_run.team
    source = cluster_with(small_run, "主动脉硬化")
    arch = source.members.get(normalized="主动脉弓硬化")
    split = services.split_cluster(
        team, curator, source.pk, version=source.version, member_ids=[arch.pk], name="arch"
    )
    assert list(split.members.values_list("normalized", flat=True)) == ["主动脉弓硬化"]
    again = services.run_clustering(team, k=8, seed=3, user=curator, distance="paper")
    assert cluster_with(again, "主动脉弓硬化").name == "arch"
    assert cluster_with(again, "主动脉硬化").name != "arch"
    assert ProposedCluster.objects.filter(run=again, name="arch").count() == 1
