"""The distance options of the clustering: "normalized" (synonyms, share of the longer text,
the default) and "paper" (whole edits), synonym tables, and the units of assign_to_medoids."""

import math
import random

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from labeling.clustering import assign_to_medoids, cluster_clauses, count_unique, purity
from labeling.distance import (
    DEFAULT_DISTANCE,
    DEFAULT_SYNONYM_TABLE,
    DISTANCES,
    Synonyms,
    edits_to_share,
)
from labeling.text import AFFIRMED, NEGATED, UNCERTAIN, normalize, split_clauses, without_cues

FAMILIES = {
    "heart": ["心影增大", "心影增宽", "心脏增大", "心影饱满"],
    "effusion": ["左侧胸腔积液", "右侧少量胸腔积液", "胸腔积液", "双侧胸腔积液"],
    "aorta": ["主动脉弓钙化", "主动脉硬化", "主动脉结钙化", "主动脉迂曲硬化"],
}


def test_the_default_is_the_normalized_distance_and_both_options_are_named():
    assert DISTANCES == ("normalized", "paper")
    assert DEFAULT_DISTANCE == "normalized"


@pytest.mark.parametrize(
    ("variants", "canonical"),
    [
        (["心影增大", "心影增宽", "心脏增大", "心影饱满", "心影向左下增大"], "心影增大"),
        (["Enlarged cardiac silhouette", "cardiomegaly", "Cardiac enlargement"], "cardiomegaly"),
        (["左侧胸腔积液", "右侧少量胸腔积液", "双侧胸腔中等量积液", "胸水"], "胸腔积液"),
        (["两肺纹理增粗", "双肺纹理增多", "肺纹理增多、紊乱"], "肺纹理增多"),
        (["心胸比约0.56", "心影增大（心胸比约0.61）"], None),
    ],
)
def test_the_default_table_gives_one_finding_one_compared_text(variants, canonical):
    compared = {DEFAULT_SYNONYM_TABLE.apply(without_cues(v)) for v in variants}
    assert len(compared) == 1 or canonical is None
    if canonical is not None:
        assert compared == {canonical}


def test_latin_variants_match_whole_words_only():
    table = Synonyms.from_pairs([("effusions", "effusion"), ("ao", "aorta")])
    assert table.apply("bilateral effusions") == "bilateral effusion"
    assert table.apply("aortic knob") == "aortic knob"  # "ao" is not a word here
    assert table.apply("calcified ao") == "calcified aorta"


def test_a_teams_table_replaces_the_default_and_changes_what_is_compared():
    clauses = ["甲型改变"] * 5 + ["乙型改变"] * 4 + ["肺气肿"] * 5 + ["心脏增大", "心影增大"]
    plain = cluster_clauses(clauses, 2, synonyms=())
    assert plain.n_unique == 5
    assert plain.distances[5] == pytest.approx(0.25)  # 乙型改变 one character from 甲型改变
    team = cluster_clauses(clauses, 2, synonyms=[("乙型改变", "甲型改变")])
    assert team.n_unique == 4  # 甲/乙 merged; the default table is not applied, 心脏/心影 stay
    assert team.distances[5] == 0.0
    assert team.clusters[team.assignments[5]].compared == "甲型改变"
    default = cluster_clauses(clauses, 2)
    assert default.n_unique == 4  # 心脏增大 is 心影增大 by the default table; 甲 and 乙 apart


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ("心影增大", "not text"),
        ([("心影增宽",)], r"synonyms\[0\] must be a \(variant, canonical\) pair"),
        ([("心影增宽", "心影增大", "x")], r"synonyms\[0\] must be a"),
        ([("心影增宽", 3)], r"synonyms\[0\]: variant and canonical must be text"),
        ([("1.", "心影增大")], r"synonyms\[0\]: the variant '1.' has no text"),
        ([("心影增大", "心影增大")], "its own canonical form"),
        ([("心影增宽", "心影增大"), ("心影增宽", "心脏增大")], r"synonyms\[1\]: .* already maps"),
        ([("心" * 61, "心影增大")], "at most 60 characters"),
    ],
)
def test_a_bad_synonym_table_is_refused_with_the_pair_named(pairs, message):
    with pytest.raises(ValueError, match=message):
        Synonyms.from_pairs(pairs)
    with pytest.raises(ValueError, match=message):
        cluster_clauses(["胸腔积液", "肺气肿"], 2, synonyms=pairs)


def test_the_paper_distance_takes_no_synonyms_and_unknown_options_are_refused():
    with pytest.raises(ValueError, match='"paper" distance takes no synonyms'):
        cluster_clauses(["胸腔积液", "肺气肿"], 2, distance="paper", synonyms=[("甲", "乙")])
    with pytest.raises(ValueError, match=r"distance must be one of \('normalized', 'paper'\)"):
        cluster_clauses(["胸腔积液", "肺气肿"], 2, distance="cosine")
    with pytest.raises(ValueError, match="distance must be one of"):
        assign_to_medoids(["胸腔积液"], ["胸腔积液"], 1, distance="Paper")


@pytest.mark.parametrize(
    ("distance", "measure", "options"),
    [
        ("paper", Levenshtein.distance, {}),
        ("normalized", Levenshtein.normalized_distance, {"synonyms": ()}),
    ],
)
def test_each_clause_carries_its_distance_to_the_medoid_in_the_options_unit(
    distance, measure, options
):
    clauses = [c for family in FAMILIES.values() for c in family] * 2 + ["胸腔积液"] * 4
    result = cluster_clauses(clauses, 3, distance=distance, **options)
    assert result.distance == distance
    assert len(result.distances) == len(clauses)
    for i, clause in enumerate(clauses):
        medoid = result.clusters[result.assignments[i]].compared
        expected = measure(without_cues(clause), medoid)
        assert result.distances[i] == pytest.approx(expected, abs=1e-6)
    if distance == "paper":
        assert result.distances.dtype.kind == "i"
    else:
        assert 0.0 <= result.distances.min() and result.distances.max() <= 1.0


@pytest.mark.parametrize("distance", DISTANCES)
def test_both_options_are_reproducible_with_a_seed_whatever_the_input_order(distance):
    rng = random.Random(3)
    clauses = [c for family in FAMILIES.values() for c in family for _ in range(rng.randint(1, 6))]
    clauses += ["未见胸腔积液", "心影不大", "考虑支气管炎可能", "不除外胸腔积液"]
    first = cluster_clauses(clauses, 6, seed=5, distance=distance)
    again = cluster_clauses(clauses, 6, seed=5, distance=distance)
    assert np.array_equal(first.assignments, again.assignments)
    assert np.array_equal(first.distances, again.distances)
    assert np.array_equal(first.outliers, again.outliers)

    shuffled = clauses[:]
    rng.shuffle(shuffled)
    other = cluster_clauses(shuffled, 6, seed=5, distance=distance)
    assert [c.medoid_text for c in other.clusters] == [c.medoid_text for c in first.clusters]
    assert [c.size for c in other.clusters] == [c.size for c in first.clusters]


@pytest.mark.parametrize("distance", DISTANCES)
def test_polarity_never_mixes_in_a_cluster_even_where_the_texts_are_identical(distance):
    # Cues cut out, all three compare as 胸腔积液: only the polarity keeps them apart.
    clauses = ["胸腔积液"] * 5 + ["未见胸腔积液"] * 5 + ["胸腔积液？"] * 2 + ["左侧胸腔积液"]
    result = cluster_clauses(clauses, 3, distance=distance)
    assert result.k == {AFFIRMED: 1, NEGATED: 1, UNCERTAIN: 1}
    for cluster in result.clusters:
        members = {
            result.polarities[i] for i in np.flatnonzero(result.assignments == cluster.index)
        }
        assert members == {cluster.polarity}


@pytest.fixture(scope="module")
def demo():
    """2,000 demo reports: clauses, their true (label, polarity), and k = the pairs written."""
    from labeling.synth import generate_reports

    texts, tags = [], []
    for report in generate_reports(2000, seed=0):
        clauses = split_clauses(report.diagnosis)
        if [normalize(c) for c in clauses] != [normalize(t.text) for t in report.clauses]:
            continue
        texts += clauses
        tags += [(t.label, t.polarity) for t in report.clauses]
    return texts, tags, len(set(tags))


def test_on_the_demo_the_default_is_purer_than_the_papers_distance_at_k_equal_to_the_pairs(demo):
    texts, tags, k = demo
    scores = {}
    for distance in DISTANCES:
        result = cluster_clauses(texts, k, distance=distance)
        for cluster in result.clusters:
            members = {
                result.polarities[i] for i in np.flatnonzero(result.assignments == cluster.index)
            }
            assert members == {cluster.polarity}
        scores[distance] = purity(result.assignments, tags)
    assert scores["normalized"] >= 0.95
    assert scores["normalized"] > scores["paper"] + 0.05


# --- assign_to_medoids: the unit of max_distance ------------------------------------------------


def test_under_the_normalized_distance_max_distance_is_a_share_of_the_longer_text():
    medoids = ["胸腔积液多", "肺气肿"]
    new = ["胸腔积液", "肺气", "骨折"]  # 1 of 5 characters from the first, 1 of 3 from the second
    plain = {"synonyms": ()}
    assert assign_to_medoids(new, medoids, 0.2, **plain) == [0, None, None]
    assert assign_to_medoids(new, medoids, 0.19, **plain) == [None, None, None]
    assert assign_to_medoids(new, medoids, 1 / 3 + 1e-6, **plain) == [0, 1, None]
    assert assign_to_medoids(new, medoids, 1, **plain) == [0, 1, 0]  # everything is within 1.0
    assert assign_to_medoids(new, medoids, 0.0, **plain) == [None, None, None]


def test_the_synonym_table_applies_to_new_clauses_and_medoids_alike():
    assert assign_to_medoids(["心脏增大", "左侧少量胸腔积液"], ["心影增宽", "胸腔积液"], 0.0) == [
        0,
        1,
    ]
    assert assign_to_medoids(["心脏增大"], ["心影增宽"], 0.0, synonyms=()) == [None]


def test_under_the_paper_distance_max_distance_stays_whole_edits():
    assert assign_to_medoids(["胸腔积液"], ["胸腔积液多"], 1, distance="paper") == [0]
    assert assign_to_medoids(["胸腔积液"], ["胸腔积液多"], 0, distance="paper") == [None]


@pytest.mark.parametrize(
    ("value", "distance", "message"),
    [
        (1.5, "normalized", "share of the longer text between 0 and 1"),
        (-0.1, "normalized", "between 0 and 1"),
        (math.nan, "normalized", "between 0 and 1"),
        (True, "normalized", "between 0 and 1"),
        ("0.5", "normalized", "between 0 and 1"),
        (0.5, "paper", "non-negative whole number of edits"),
        (-1, "paper", "non-negative whole number of edits"),
        (False, "paper", "non-negative whole number of edits"),
    ],
)
def test_a_threshold_outside_the_options_unit_is_refused(value, distance, message):
    with pytest.raises(ValueError, match=message):
        assign_to_medoids(["胸腔积液"], ["胸腔积液"], value, distance=distance)


def test_a_stored_edit_threshold_converts_to_a_share_of_the_median_medoid_length():
    medoids = ["胸腔积液", "肺气肿", "主动脉硬化"]  # lengths 4, 3, 5: median 4
    assert edits_to_share(2, medoids) == 0.5
    assert edits_to_share(0, medoids) == 0.0
    assert edits_to_share(9, medoids) == 1.0  # capped
    assert edits_to_share(2, []) == 0.25  # no medoids: 8 characters assumed
    with pytest.raises(ValueError, match="non-negative whole number"):
        edits_to_share(-1, medoids)
    # What 2 edits reached on a 4-character medoid, the converted share reaches too.
    share = edits_to_share(2, medoids)
    new = ["胸腔积", "胸腔"]
    by_edits = assign_to_medoids(new, medoids, 2, distance="paper")
    assert assign_to_medoids(new, medoids, share, synonyms=()) == by_edits == [0, 0]


def test_the_card_shows_the_phrasing_written_most_not_a_typo_between_phrasings():
    # "aaab" is one edit from every phrasing; under the damped weights (1 + ln n) it would be
    # the cheapest centre, but counting every occurrence "aaaa" (written 300 times) is.
    texts = {"aaaa": 300, "aaab": 1, "aabb": 20, "aacb": 20}
    clauses = [text for text, n in texts.items() for _ in range(n)]

    def cost(centre, weight):
        return sum(weight(n) * Levenshtein.distance(centre, t) for t, n in texts.items())

    damped = lambda n: 1 + math.log(n)  # noqa: E731
    assert cost("aaab", damped) < cost("aaaa", damped)
    assert cost("aaaa", lambda n: n) < cost("aaab", lambda n: n)
    result = cluster_clauses(clauses, 1, synonyms=())
    assert result.clusters[0].medoid_text == "aaaa"
    assert result.distances[clauses.index("aaab")] == pytest.approx(0.25)


@pytest.mark.parametrize("distance", DISTANCES)
def test_count_unique_gives_the_largest_k_each_option_accepts(distance):
    clauses = ["心影增大", "心脏增大", "心影增宽", "未见胸腔积液", "无胸腔积液", "胸腔积液？"]
    unique = count_unique(clauses, distance=distance)
    expected = {"normalized": {AFFIRMED: 1, NEGATED: 1, UNCERTAIN: 1}}
    expected["paper"] = {AFFIRMED: 3, NEGATED: 1, UNCERTAIN: 1}
    assert unique == expected[distance]
    largest = sum(unique.values())
    assert cluster_clauses(clauses, largest, distance=distance).n_unique == largest
    with pytest.raises(ValueError, match="larger than the number of unique clauses"):
        cluster_clauses(clauses, largest + 1, distance=distance)
