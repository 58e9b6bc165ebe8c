"""Outliers: clauses further from their medoid than the run's threshold are flagged, counted per
cluster, and lower the cluster's purity estimate; a planted wrong member is always found."""

import numpy as np
import pytest

from labeling.clustering import DEFAULT_OUTLIER_THRESHOLD, cluster_clauses
from labeling.distance import DISTANCES

# Two findings written several ways, each many times.
AORTA = ["主动脉弓硬化"] * 30 + ["主动脉硬化"] * 20 + ["主动脉迂曲硬化"] * 10
LUNG = ["双肺纹理增多"] * 40 + ["两肺纹理增粗"] * 10 + ["肺纹理增多、紊乱"] * 5
# What a curator would not see on a card: one clause each, nothing like either finding.
PLANTED = ["左少量胸腔积液", "胸椎退行性变", "左少量胸腔积液"]


def planted_corpus() -> tuple[list[str], set[int]]:
    clauses = AORTA[:25] + [PLANTED[0]] + AORTA[25:] + LUNG + [PLANTED[1], PLANTED[2]]
    planted = {i for i, c in enumerate(clauses) if c in PLANTED}
    return clauses, planted


@pytest.mark.parametrize("distance", DISTANCES)
def test_planted_outliers_are_flagged_and_nothing_else(distance):
    clauses, planted = planted_corpus()
    result = cluster_clauses(clauses, 2, distance=distance)  # too few clusters to give them one
    assert result.outlier_threshold == DEFAULT_OUTLIER_THRESHOLD[distance]
    assert set(np.flatnonzero(result.outliers)) == planted
    assert all(result.distances[i] > result.outlier_threshold for i in planted)
    for cluster in result.clusters:
        members = np.flatnonzero(result.assignments == cluster.index)
        flagged = [clauses[i] for i in members if result.outliers[i]]
        assert cluster.outlier_count == len(flagged)
        assert cluster.outlier_unique == len(set(flagged))
        assert cluster.purity == pytest.approx(1 - len(flagged) / cluster.size)
    assert sum(c.outlier_count for c in result.clusters) == 3
    assert sum(c.outlier_unique for c in result.clusters) == 2  # 左少量胸腔积液 written twice


@pytest.mark.parametrize("distance", DISTANCES)
def test_a_medoid_and_its_repeats_are_never_outliers(distance):
    clauses, _ = planted_corpus()
    # Without the synonym table, so that the variants stay apart from their medoid.
    options = {"synonyms": ()} if distance == "normalized" else {}
    result = cluster_clauses(clauses, 2, distance=distance, outlier_threshold=0, **options)
    for cluster in result.clusters:
        twins = [i for i, c in enumerate(clauses) if c == cluster.medoid_text]
        assert not result.outliers[twins].any()
        assert (result.distances[twins] == 0).all()
    # At threshold 0 every member that differs from its medoid at all is flagged.
    assert result.outliers.sum() == (result.distances > 0).sum() > 3


def test_the_threshold_is_per_run_and_in_the_options_unit():
    clauses, planted = planted_corpus()
    loose = cluster_clauses(clauses, 2, outlier_threshold=1.0)
    assert loose.outlier_threshold == 1.0 and not loose.outliers.any()
    assert all(c.purity == 1.0 for c in loose.clusters)
    strict = cluster_clauses(clauses, 2, outlier_threshold=0.1, synonyms=())
    assert set(np.flatnonzero(strict.outliers)) > planted  # variants go too
    # The default table makes the variants one text with their medoid: only the planted remain.
    unified = cluster_clauses(clauses, 2, outlier_threshold=0.1)
    assert set(np.flatnonzero(unified.outliers)) == planted
    edits = cluster_clauses(clauses, 2, distance="paper", outlier_threshold=1)
    assert edits.outlier_threshold == 1
    assert set(np.flatnonzero(edits.outliers)) == set(np.flatnonzero(edits.distances > 1))


@pytest.mark.parametrize(
    ("distance", "threshold", "message"),
    [
        ("normalized", 1.5, "outlier_threshold must be a share of the longer text"),
        ("normalized", -0.2, "outlier_threshold must be a share"),
        ("paper", 2.5, "outlier_threshold must be a non-negative whole number of edits"),
        ("paper", -1, "outlier_threshold must be a non-negative whole number"),
    ],
)
def test_a_threshold_outside_the_unit_is_refused(distance, threshold, message):
    with pytest.raises(ValueError, match=message):
        cluster_clauses(["胸腔积液", "肺气肿"], 2, distance=distance, outlier_threshold=threshold)


def test_the_worst_cluster_has_the_lowest_purity():
    clauses, _ = planted_corpus()
    result = cluster_clauses(clauses, 2)
    worst = min(result.clusters, key=lambda c: c.purity)
    flagged_clusters = {result.assignments[i] for i in np.flatnonzero(result.outliers)}
    assert worst.index in flagged_clusters
    assert worst.purity < 1.0


def test_a_cluster_of_one_clause_repeated_has_no_outliers_whatever_its_spread():
    # A spread rule would flag the one honest variant of a clause written 300 times.
    clauses = ["心肺膈未见明显异常"] * 300 + ["心肺隔未见明显异常"]
    result = cluster_clauses(clauses, 1)
    assert not result.outliers.any()
    assert result.distances[-1] > 0
