"""Clause clustering: polarity-separated, frequency-weighted edit-distance k-medoids."""

import itertools
import random

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from labeling.clustering import (
    assign_to_medoids,
    cluster_clauses,
    purity,
    suggest_k,
)
from labeling.text import AFFIRMED, NEGATED, UNCERTAIN, normalize, polarity, split_clauses

FINDINGS = {
    "lung_marking": ["双肺纹理增多", "两肺纹理增多", "双肺纹理增粗", "肺纹理增多、紊乱"],
    "aorta": ["主动脉硬化", "主动脉迂曲硬化", "主动脉弓钙化", "主动脉迂曲"],
    "heart": ["心影增大", "心影饱满", "心影向左增大", "心影稍大"],
}
NEGATIONS = ["未见胸腔积液", "心肺膈未见明显异常", "心肺未见明显异常", "胸部未见明显异常"]
HEDGES = ["不除外胸腔积液", "考虑支气管炎"]


def small_corpus() -> list[str]:
    """Affirmed findings (some repeated), their negations and a couple of hedges."""
    clauses = [c for variants in FINDINGS.values() for c in variants]
    return clauses * 2 + ["双肺纹理增多"] * 5 + NEGATIONS + HEDGES + ["胸腔积液"]


def test_every_input_clause_gets_a_cluster_in_input_order_repeats_included():
    clauses = small_corpus()
    result = cluster_clauses(clauses, 6)
    assert len(result.assignments) == len(clauses) == result.n_clauses
    for i, j in itertools.combinations(range(len(clauses)), 2):
        if clauses[i] == clauses[j]:
            assert result.assignments[i] == result.assignments[j]
    assert result.sizes.sum() == len(clauses)
    assert list(result.sizes) == sorted(result.sizes, reverse=True)


def test_medoids_are_real_input_clauses_that_sit_in_their_own_cluster():
    clauses = small_corpus()
    result = cluster_clauses(clauses, 6)
    assert len(result.medoids) == len(result.clusters) == 6
    for cluster, medoid in zip(result.clusters, result.medoids, strict=True):
        assert clauses[medoid] == cluster.medoid_text
        assert result.assignments[medoid] == cluster.index
        assert normalize(clauses[medoid]) == cluster.normalized


def test_no_cluster_mixes_polarities():
    clauses = small_corpus()
    result = cluster_clauses(clauses, 3)
    assert set(result.k) == {AFFIRMED, NEGATED, UNCERTAIN}
    for cluster in result.clusters:
        members = {
            result.polarities[i] for i in np.flatnonzero(result.assignments == cluster.index)
        }
        assert members == {cluster.polarity}


def test_a_negated_finding_never_joins_its_positive_twin_two_edits_away():
    clauses = ["胸腔积液"] * 3 + ["未见胸腔积液"] * 3 + ["左侧胸腔积液"]
    result = cluster_clauses(clauses, 2)
    assert result.assignments[0] != result.assignments[3]
    assert result.assignments[0] == result.assignments[6]


def test_frequent_clauses_pull_the_medoid_towards_them():
    # Unweighted, "aaab" is the centre; written ten times, "aabb" must win.
    clauses = ["aaaa", "aaab"] + ["aabb"] * 10
    result = cluster_clauses(clauses, 1, distance="paper")
    assert result.clusters[0].medoid_text == "aabb"
    assert result.loss == 2 + 1


@pytest.mark.parametrize(
    ("distance", "measure", "options"),
    [
        ("paper", Levenshtein.distance, {}),
        ("normalized", Levenshtein.normalized_distance, {"synonyms": ()}),
    ],
)
def test_weighted_loss_is_a_local_optimum_no_single_swap_improves(distance, measure, options):
    rng = random.Random(7)
    alphabet = "肺纹理增多主动脉硬化心影增大"
    texts = sorted({"".join(rng.choices(alphabet, k=rng.randint(3, 8))) for _ in range(40)})
    counts = [rng.choice([1, 1, 2, 5, 30]) for _ in texts]
    clauses = [t for t, c in zip(texts, counts, strict=True) for _ in range(c)]
    result = cluster_clauses(clauses, 4, seed=3, distance=distance, **options)

    def weighted_loss(medoids):
        return sum(
            c * min(measure(t, m) for m in medoids) for t, c in zip(texts, counts, strict=True)
        )

    medoids = [cluster.normalized for cluster in result.clusters]
    assert result.loss == pytest.approx(weighted_loss(medoids), rel=1e-6)
    for out, into in itertools.product(medoids, texts):
        swapped = [into if m == out else m for m in medoids]
        assert weighted_loss(swapped) >= result.loss * (1 - 1e-6)


def test_the_same_seed_gives_the_same_clusters_whatever_the_input_order():
    clauses = small_corpus()
    first = cluster_clauses(clauses, 7, seed=11)
    again = cluster_clauses(clauses, 7, seed=11)
    assert np.array_equal(first.assignments, again.assignments)
    assert np.array_equal(first.medoids, again.medoids)

    shuffled = clauses[:]
    random.Random(1).shuffle(shuffled)
    other = cluster_clauses(shuffled, 7, seed=11)
    assert [c.normalized for c in other.clusters] == [c.normalized for c in first.clusters]
    cluster_of = {
        shuffled[i]: other.clusters[a].normalized for i, a in enumerate(other.assignments)
    }
    for i, a in enumerate(first.assignments):
        assert cluster_of[clauses[i]] == first.clusters[a].normalized


def test_each_extra_cluster_goes_to_the_polarity_whose_loss_it_lowers_most():
    # Four distinct affirmed findings, each with near variants; one negated statement with a typo.
    families = ["双肺纹理增多", "主动脉迂曲硬化", "左侧胸膜增厚粘连", "心影向左下增大"]
    affirmed = [f"{family}{suffix}" for family in families for suffix in ("", "", "甲", "乙")] * 3
    negated = ["心肺膈未见明显异常"] * 20 + ["心肺隔未见明显异常"]
    result = cluster_clauses(affirmed + negated, 5, distance="paper")
    assert result.k == {AFFIRMED: 4, NEGATED: 1}
    assert {c.compared for c in result.clusters if c.polarity == AFFIRMED} == set(families)


def test_an_int_k_and_the_split_it_chose_give_the_same_clusters():
    clauses = small_corpus()
    by_total = cluster_clauses(clauses, 7, seed=4)
    by_split = cluster_clauses(clauses, dict(by_total.k), seed=4)
    assert np.array_equal(by_total.assignments, by_split.assignments)
    assert np.array_equal(by_total.medoids, by_split.medoids)


def test_a_caller_can_choose_clusters_per_polarity():
    result = cluster_clauses(small_corpus(), {AFFIRMED: 3, NEGATED: 2, UNCERTAIN: 1})
    assert result.k == {AFFIRMED: 3, NEGATED: 2, UNCERTAIN: 1}
    assert sorted(c.polarity for c in result.clusters).count(NEGATED) == 2


def test_k_equal_to_the_unique_clauses_puts_each_in_its_own_cluster():
    clauses = ["胸腔积液", "胸腔积液", "肺气肿", "心影增大"]
    result = cluster_clauses(clauses, 3)
    assert result.loss == 0
    assert result.n_unique == 3
    assert result.silhouette == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("clauses", "k", "error", "message"),
    [
        ([], 3, ValueError, "clauses is empty"),
        (["胸腔积液", "肺气肿"], 0, ValueError, "k must be at least 1, got 0"),
        (["胸腔积液", "肺气肿"], -2, ValueError, "k must be at least 1"),
        (["胸腔积液", "肺气肿", "胸腔积液"], 3, ValueError, r"larger than the number of unique"),
        (["胸腔积液", "未见胸腔积液"], 1, ValueError, "smaller than the number of polarities"),
        (["胸腔积液", "123."], 1, ValueError, r"clauses\[1\] has no text left"),
        (["胸腔积液", None], 1, TypeError, r"clauses\[1\] must be text"),
        ("胸腔积液", 1, TypeError, "not one string"),
        (["胸腔积液", "肺气肿"], 1.5, TypeError, "k must be an int"),
        (["胸腔积液", "未见气胸"], {AFFIRMED: 1}, ValueError, "no entry for polarity 'negated'"),
        (["胸腔积液", "肺气肿"], {AFFIRMED: 3}, ValueError, r"k\['affirmed'\]=3 is larger"),
        (["胸腔积液"], {AFFIRMED: 1, "maybe": 1}, ValueError, "unknown polarities"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(clauses, k, error, message):
    with pytest.raises(error, match=message):
        cluster_clauses(clauses, k)


def test_stored_polarities_override_the_cue_lists():
    clauses = ["未见胸腔积液", "胸腔积液"]
    result = cluster_clauses(clauses, 1, polarities=[AFFIRMED, AFFIRMED])
    assert result.polarities == (AFFIRMED, AFFIRMED)
    with pytest.raises(ValueError, match=r"polarities\[0\] is 'yes'"):
        cluster_clauses(clauses, 1, polarities=["yes", AFFIRMED])


def test_above_max_unique_a_sample_is_clustered_and_the_rest_join_the_nearest_medoid():
    rng = random.Random(5)
    stems = ["双肺纹理增多", "主动脉迂曲硬化", "左侧胸膜增厚粘连"]
    clauses = []
    for stem in stems:
        for _ in range(40):
            chars = list(stem)
            chars[rng.randrange(len(chars))] = rng.choice("甲乙丙丁戊己庚辛")
            clauses.append("".join(chars))
    unique = len(set(clauses))
    result = cluster_clauses(clauses, 3, max_unique=unique - 1, sample_size=20, distance="paper")
    assert result.sampled
    assert purity(result.assignments, [c for c in stems for _ in range(40)]) == 1.0
    medoids = [cluster.normalized for cluster in result.clusters]
    for i, clause in enumerate(clauses):
        distances = [Levenshtein.distance(normalize(clause), m) for m in medoids]
        assert distances[result.assignments[i]] == min(distances)
    assert not cluster_clauses(clauses, 3, distance="paper").sampled


def test_suggest_k_returns_a_curve_that_bends_at_the_true_number_of_groups():
    rng = random.Random(2)
    stems = ["双肺纹理增多紊乱", "主动脉迂曲硬化钙化", "左侧胸膜增厚粘连", "心影向左下增大"]
    clauses = []
    for stem in stems:
        for _ in range(15):
            chars = list(stem)
            chars[rng.randrange(len(chars))] = rng.choice("甲乙丙丁")
            clauses.append("".join(chars))
    curve = suggest_k(clauses, range(1, 11))
    assert curve.ks == tuple(range(1, 11))
    assert len(curve.losses) == len(curve.silhouettes) == 10
    assert list(curve.losses) == sorted(curve.losses, reverse=True)
    assert curve.elbow_k == curve.suggested_k == 4
    assert curve.losses[3] == cluster_clauses(clauses, 4).loss


def test_new_clauses_take_the_nearest_curated_medoid_of_their_polarity_within_reach():
    medoids = ["双肺纹理增多", "胸腔积液", "心肺膈未见明显异常", "胸腔积液？"]
    new = [
        "两肺纹理增多。",
        "未见胸腔积液",
        "胸腔积液可能",
        "心肺未见明显异常",
        "骨折",
        "左侧胸腔积液",
    ]
    paper = {"distance": "paper"}
    assert assign_to_medoids(new, medoids, 2, **paper) == [0, None, 3, 2, None, 1]
    assert assign_to_medoids(new, medoids, 0, **paper) == [None, None, 3, None, None, None]
    assert assign_to_medoids([], medoids, 2, **paper) == []
    assert assign_to_medoids(new[:2], [], 2, **paper) == [None, None]


def test_stored_medoid_polarities_are_used_as_given():
    found = assign_to_medoids(
        ["未见胸腔积液"], ["胸腔积液"], 3, medoid_polarities=[NEGATED], distance="paper"
    )
    assert found == [0]
    with pytest.raises(ValueError, match="max_distance must be a non-negative whole number"):
        assign_to_medoids(["胸腔积液"], ["胸腔积液"], -1, distance="paper")


def test_purity_counts_the_majority_label_of_each_cluster():
    assert purity([0, 0, 0, 1, 1], ["a", "a", "b", "c", "c"]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="2 assignments but 1 truth"):
        purity([0, 1], ["a"])


# --- on the demo generator's reports, against its hidden truth ---------------------------------


@pytest.fixture(scope="module")
def demo_clauses():
    """Clauses of 2,000 demo reports as split by us, each with the generator's ClauseTruth."""
    from labeling.synth import generate_reports

    texts, truths, mismatched = [], [], 0
    for report in generate_reports(2000, seed=0):
        clauses = split_clauses(report.diagnosis)
        if [normalize(c) for c in clauses] != [normalize(t.text) for t in report.clauses]:
            mismatched += 1
            continue
        texts += clauses
        truths += report.clauses
    return texts, truths, mismatched


def test_demo_diagnoses_split_into_the_clauses_that_were_written(demo_clauses):
    texts, _, mismatched = demo_clauses
    assert mismatched <= 20  # at most 1% of 2,000 reports
    assert len(texts) > 3000


def test_demo_polarity_agrees_with_the_hidden_truth(demo_clauses):
    texts, truths, _ = demo_clauses
    agree = sum(polarity(text) == truth.polarity for text, truth in zip(texts, truths, strict=True))
    assert agree / len(texts) >= 0.95


def test_demo_clusters_recover_the_true_labels_and_keep_negations_apart(demo_clauses):
    texts, truths, _ = demo_clauses
    # Each label is written in six to eight phrasings (plus sides and typos), so k must be
    # several times the ten labels; the paper likewise kept the ten largest clusters of more.
    result = cluster_clauses(texts, 60, seed=0)
    affirmed = [i for i, truth in enumerate(truths) if truth.polarity == AFFIRMED]
    assert purity(result.assignments[affirmed], [truths[i].label for i in affirmed]) >= 0.95
    for cluster in range(len(result.clusters)):
        members = {truths[i].polarity for i in np.flatnonzero(result.assignments == cluster)}
        assert not {AFFIRMED, NEGATED} <= members
    # The normal statement is a negation: its clusters are negated, never affirmed.
    normal = {result.assignments[i] for i, truth in enumerate(truths) if truth.label == "normal"}
    assert {result.clusters[c].polarity for c in normal} == {NEGATED}
