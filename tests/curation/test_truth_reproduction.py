"""On demo data: cluster, map each cluster to its true label, freeze, and get the truth back."""

from collections import Counter

import pytest

from curation import services
from curation.models import ClauseOccurrence, ClusterRun, Label, ProposedCluster
from labeling.text import AFFIRMED, NEGATED, UNCERTAIN
from labeling.vocabulary import NORMAL

from .conftest import cluster_with


def true_label_of_texts(demo) -> dict[str, Counter]:
    """normalised clause text -> tally of what the generator meant by it (a label or None).

    A clause carries its label when it is affirmed, or when it is the normal statement (written
    as a negation); a negated or hedged finding carries none.
    """
    meant: dict[str, Counter] = {}
    occurrences = ClauseOccurrence.objects.filter(team=demo.team).select_related("study")
    by_study = {}
    for occurrence in occurrences:
        by_study.setdefault(occurrence.study.study_uid, []).append(occurrence)
    for study_uid, truth in demo.truth["studies"].items():
        ours = by_study.get(study_uid, [])
        if len(ours) != len(truth["clauses"]):
            continue  # the splitter disagreed with the generator on this report: skip it
        for occurrence, clause in zip(ours, truth["clauses"], strict=True):
            carried = clause["label"] if clause["polarity"] == AFFIRMED else None
            if clause["label"] == NORMAL:
                carried = NORMAL
            meant.setdefault(occurrence.normalized, Counter())[carried] += 1
    return meant


def curate_by_truth(demo, run: ClusterRun, curator) -> None:
    """What a perfect curator does: each cluster gets the label most of its clauses mean."""
    meant = true_label_of_texts(demo)
    labels = {label.key: label for label in Label.objects.filter(team=demo.team)}
    for cluster in ProposedCluster.objects.filter(run=run, merged_into=None):
        tally = Counter()
        for member in cluster.members.all():
            tally.update(meant.get(member.normalized, Counter()))
        key = tally.most_common(1)[0][0] if tally else None
        versions = {cluster.pk: cluster.version}
        if key is None:
            services.set_verdict(demo.team, curator, versions, verdict="no_label")
        else:
            services.set_verdict(
                demo.team, curator, versions, verdict="label", label_id=labels[key].pk
            )


def test_mapping_pure_clusters_reproduces_the_hidden_per_image_labels(demo, run, curator):
    curate_by_truth(demo, run, curator)
    label_set = services.freeze_label_set(demo.team, curator, note="by truth")
    ours = services.label_set_vectors(label_set)
    truth = {sop: expected_labels(demo, image) for sop, image in demo.truth["images"].items()}
    agree = sum(set(ours.get(sop, ())) == labels for sop, labels in truth.items())
    assert agree / len(truth) >= 0.95, (agree, len(truth))


def expected_labels(demo, image: dict) -> set[str]:
    """The generator's labels, less normal where the report hedges a finding: an image is normal
    only without affirmed or uncertain abnormal mentions (the generator's truth ignores hedges;
    such an image carries no label and is left out, README "Normal statements")."""
    labels = set(image["labels"])
    clauses = demo.truth["studies"][image["study_instance_uid"]]["clauses"]
    if any(clause["polarity"] == UNCERTAIN for clause in clauses):
        labels.discard(NORMAL)
    return labels


def test_negations_never_share_a_cluster_and_normal_clusters_as_a_negation(demo, run):
    for cluster in ProposedCluster.objects.filter(run=run):
        assert {m.polarity for m in cluster.members.all()} == {cluster.polarity}
    meant = true_label_of_texts(demo)
    normal_texts = {text for text, tally in meant.items() if tally.most_common(1)[0][0] == NORMAL}
    polarities = {
        cluster.polarity
        for cluster in ProposedCluster.objects.filter(run=run, members__normalized__in=normal_texts)
    }
    assert polarities == {NEGATED}


def test_a_curator_cannot_merge_negated_and_affirmed_clusters(corpus, small_run, curator):
    negated = cluster_with(small_run, "未见胸腔积液")
    affirmed = cluster_with(small_run, "左侧胸腔积液")
    versions = {negated.pk: negated.version, affirmed.pk: affirmed.version}
    with pytest.raises(services.CurationError, match="different polarities"):
        services.merge_clusters(corpus.team, curator, versions)
    assert ProposedCluster.objects.get(pk=negated.pk).merged_into is None


def test_a_negated_cluster_maps_to_normal_but_not_to_a_disease(corpus, small_run, curator):
    negated = cluster_with(small_run, "心肺膈未见明显异常")
    effusion = Label.objects.get(team=corpus.team, key="pleural_effusion")
    with pytest.raises(services.CurationError, match="only affirmed clusters"):
        services.set_verdict(
            corpus.team, curator, {negated.pk: negated.version}, verdict="label",
            label_id=effusion.pk,
        )  # fmt: skip
    normal = Label.objects.get(team=corpus.team, key=NORMAL)
    (mapped,) = services.set_verdict(
        corpus.team, curator, {negated.pk: negated.version}, verdict="label", label_id=normal.pk
    )
    assert mapped.label == normal and mapped.version == negated.version + 1


def test_run_row_records_parameters_timings_loss_and_k_curve(run):
    assert run.status == "succeeded" and run.progress == 1.0
    assert run.k == 30 and run.seed == 0 and run.loss is not None
    assert set(run.timings) >= {"distance", "kmedoids", "total"}
    assert 30 in run.k_curve["ks"] and len(run.k_curve["ks"]) == len(run.k_curve["losses"])
    assert run.cues["negation"] and run.n_unique <= run.n_clauses
    total = sum(c.clause_count for c in ProposedCluster.objects.filter(run=run))
    assert total == run.n_clauses
