"""Frozen label sets: vectors from affirmed mapped clauses, normal + disease reviewed, immutable."""

import pytest

from curation import services, tables
from curation.models import ImageReview, ImmutableError, Label, LabelSet

from .conftest import cluster_with


def map_cluster(run, curator, text, key):
    cluster = cluster_with(run, text)
    label = Label.objects.get(team=run.team, key=key)
    services.set_verdict(
        run.team, curator, {cluster.pk: cluster.version}, verdict="label", label_id=label.pk
    )


@pytest.fixture
def curated(small_run, curator):
    for text, key in (
        ("心肺膈未见明显异常", "normal"),
        ("主动脉硬化", "aortosclerosis"),
        ("双肺纹理增多", "increased_lung_marking"),
        ("心影增大", "increased_heart_shadow"),
    ):
        map_cluster(small_run, curator, text, key)
    return small_run


def test_table_one_counts_total_and_single_label_images(curated, corpus):
    rows = {row["key"]: row for row in services.live_statistics(corpus.team)["rows"]}
    # normal: studies 0, 1, 2 (study 8 has a heart shadow too: a conflict, kept as disease)
    assert (rows["normal"]["total"], rows["normal"]["single"]) == (3, 3)
    # aortosclerosis: studies 3, 4, 6, 10; study 3 also has lung markings, while 4's
    # 两肺纹理增多、紊乱 sits in a cluster nobody mapped and 6's effusion is not mapped either
    assert (rows["aortosclerosis"]["total"], rows["aortosclerosis"]["single"]) == (4, 3)
    assert rows["aortosclerosis"]["single_percent"] == 75.0
    assert rows["pleural_effusion"]["total"] == 0


def test_normal_next_to_a_disease_goes_to_the_review_queue(curated, corpus, curator):
    label_set = services.freeze_label_set(corpus.team, curator)
    conflicted = corpus.instances[8]
    row = label_set.images.get(sop_uid=conflicted.sop_uid)
    assert row.conflict and row.labels == ["increased_heart_shadow"]
    review = ImageReview.objects.get(instance=conflicted)
    assert review.status == "pending" and set(review.proposed) == {
        "normal", "increased_heart_shadow"
    }  # fmt: skip
    services.review_image(corpus.team, curator, review.pk, labels=["normal"], version=1)
    again = services.freeze_label_set(corpus.team, curator)
    row = again.images.get(sop_uid=conflicted.sop_uid)
    assert row.labels == ["normal"] and not row.conflict
    comparison = services.compare_label_sets(label_set, again)
    assert comparison["changed"] == [
        {"image": conflicted.sop_uid, "a": ["increased_heart_shadow"], "b": ["normal"]}
    ]
    assert {c["key"]: c["delta"] for c in comparison["counts"]}["normal"] == 1


def test_a_frozen_label_set_cannot_change_and_its_hash_is_its_content(curated, corpus, curator):
    label_set = services.freeze_label_set(corpus.team, curator, note="first")
    label_set.note = "edited"
    with pytest.raises(ImmutableError):
        label_set.save()
    with pytest.raises(ImmutableError):
        label_set.images.first().delete()
    stored = LabelSet.objects.get(pk=label_set.pk)
    assert stored.note == "first"
    recomputed = tables.content_hash(services.label_set_vectors(stored), stored.labels)
    assert recomputed == stored.content_hash
    assert services.freeze_label_set(corpus.team, curator).content_hash == stored.content_hash


def test_a_negated_finding_marked_no_label_adds_nothing(small_run, curator, corpus):
    before = services.current_vectors(corpus.team).labels  # normal statements, pre-mapped
    cluster = cluster_with(small_run, "未见胸腔积液")
    services.set_verdict(corpus.team, curator, {cluster.pk: cluster.version}, verdict="no_label")
    assert services.current_vectors(corpus.team).labels == before


def test_second_curator_agreement_is_cohens_kappa_per_label(curated, corpus, curator, personas):
    from teams import services as lab_services

    services.freeze_label_set(corpus.team, curator)
    review = ImageReview.objects.get(team=corpus.team)
    services.review_image(corpus.team, curator, review.pk, labels=["normal"], version=1)
    assert services.sample_for_second_review(corpus.team, curator, size=5) == 1
    lab_services.add_member(corpus.team, personas.teammate, "curator")
    services.review_image(corpus.team, personas.teammate, review.pk, labels=["normal"], version=2)
    result = services.agreement(corpus.team)
    assert result["pairs"] == 1
    assert tables.cohen_kappa([True, False, True], [True, False, False]) == pytest.approx(0.4)


def test_new_reports_take_the_nearest_curated_medoid_or_wait_unmapped(curated, corpus, curator):
    from tests.factories import make_instance, make_report, make_study

    study = make_study(corpus.team)
    make_report(study, diagnosis="双肺纹理增多明显。左侧第5肋骨陈旧性骨折")
    make_instance(study)
    result = services.auto_label_new_reports(corpus.team, curator, max_distance=0.25)
    assert (result.matched, result.unmapped) == (1, 1)
    assert [n for n, _, _ in services.unmapped_texts(corpus.team)] == ["左侧第肋骨陈旧性骨折"]
    labels = services.current_vectors(corpus.team).labels
    assert labels[study.instances.get().sop_uid] == ["increased_lung_marking"]


def test_editing_the_cue_lists_re_derives_polarity(small_run, curator, corpus):
    row = services.curation_settings(corpus.team)
    negation = [cue for cue in row.negation if cue not in ("未见", "未")]
    services.update_cues(
        corpus.team, curator, negation=negation, uncertainty=row.uncertainty,
        pseudo=row.pseudo, version=row.version,
    )  # fmt: skip
    from curation.models import ClauseOccurrence

    occurrence = ClauseOccurrence.objects.filter(normalized="未见胸腔积液").first()
    assert occurrence.polarity == "affirmed"
    with pytest.raises(services.ConflictError):
        services.update_cues(
            corpus.team, curator, negation=negation, uncertainty=row.uncertainty,
            pseudo=row.pseudo, version=row.version,
        )  # fmt: skip
