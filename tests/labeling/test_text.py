"""Clause splitting, normalisation and polarity: tables of Chinese and English report text."""

import pytest

from labeling.text import (
    AFFIRMED,
    DEFAULT_CUES,
    NEGATED,
    UNCERTAIN,
    CueLists,
    normalize,
    polarity,
    read_clause,
    split_clauses,
    without_cues,
)

SPLIT_CASES = [
    # numbering forms, Chinese and Western punctuation
    (
        "1.双肺纹理增多。2、主动脉硬化；（3）心影增大 ①胸膜增厚⑵肺气肿",
        ["双肺纹理增多", "主动脉硬化", "心影增大", "胸膜增厚", "肺气肿"],
    ),
    ("(1)双肺纹理增粗;(2)主动脉弓钙化", ["双肺纹理增粗", "主动脉弓钙化"]),
    ("⒈心影饱满 ⒉肋膈角变钝", ["心影饱满", "肋膈角变钝"]),
    ("一、心肺膈未见明显异常\n二、主动脉硬化", ["心肺膈未见明显异常", "主动脉硬化"]),
    # full-width digits and a section header; clauses come back exactly as written
    (
        "诊断：１．双肺纹理增多、紊乱，主动脉迂曲硬化。２．左侧胸腔少量积液",
        ["双肺纹理增多、紊乱", "主动脉迂曲硬化", "左侧胸腔少量积液"],
    ),
    # numbering glued to the previous clause, line breaks, mixed widths
    ("肺纹理增多2.主动脉硬化", ["肺纹理增多", "主动脉硬化"]),
    ("双肺纹理增多\r\n心影增大", ["双肺纹理增多", "心影增大"]),
    ("双肺纹理增多,主动脉硬化", ["双肺纹理增多", "主动脉硬化"]),
    ("双肺纹理增多 主动脉硬化", ["双肺纹理增多", "主动脉硬化"]),
    ("未见胸腔积液，主动脉硬化", ["未见胸腔积液", "主动脉硬化"]),
    # 、 lists findings, or continues one
    ("主动脉硬化、肺气肿、胸膜增厚", ["主动脉硬化", "肺气肿", "胸膜增厚"]),
    ("双肺纹理增多、增粗、紊乱", ["双肺纹理增多、增粗、紊乱"]),
    ("左侧第2、3前肋骨折", ["左侧第2、3前肋骨折"]),
    # decimals are not numbering; a trailing question mark is kept (it is a hedge)
    ("右肺结节约0.5cm,考虑炎性", ["右肺结节约0.5cm", "考虑炎性"]),
    ("左上肺结核？", ["左上肺结核？"]),
    # English: sentences and list items; a comma list keeps its negation
    (
        "1. No pleural effusion, pneumothorax or consolidation. 2. Mild cardiomegaly.",
        ["No pleural effusion, pneumothorax or consolidation", "Mild cardiomegaly"],
    ),
    ("IMPRESSION: Cardiomegaly; possible atelectasis.", ["Cardiomegaly", "possible atelectasis"]),
    ("No effusion but mild cardiomegaly.", ["No effusion", "mild cardiomegaly"]),
    ("Heart size 1.5 times normal, e.g. enlarged.", ["Heart size 1.5 times normal, e.g. enlarged"]),
    ("Effusion vs. thickening. No pneumothorax", ["Effusion vs. thickening", "No pneumothorax"]),
    # nothing to split
    ("", []),
    ("  。；1. \n", []),
]


@pytest.mark.parametrize(("diagnosis", "clauses"), SPLIT_CASES)
def test_split_clauses_finds_each_written_clause(diagnosis, clauses):
    assert split_clauses(diagnosis) == clauses


def test_split_clauses_refuses_a_missing_diagnosis():
    with pytest.raises(TypeError, match="diagnosis must be text"):
        split_clauses(None)


NORMALIZE_CASES = [
    ("１．双肺纹理增多、紊乱", "双肺纹理增多紊乱"),
    ("（3）心影增大", "心影增大"),
    ("⑵心影增大", "心影增大"),
    ("①心影增大", "心影增大"),
    ("一、主动脉硬化", "主动脉硬化"),
    ("右肺结节约0.5cm", "右肺结节约cm"),
    ("肺纹理增多 , 紊乱", "肺纹理增多紊乱"),
    ("主动脉硬化。", "主动脉硬化"),
    ("Mild  Cardiomegaly.", "mild cardiomegaly"),
    ("ＭＩＬＤ　cardiomegaly", "mild cardiomegaly"),
    ("T12 vertebral body", "t vertebral body"),
    ("pleural-effusion (left)", "pleural effusion left"),
    ("  ", ""),
]


@pytest.mark.parametrize(("clause", "normalized"), NORMALIZE_CASES)
def test_normalize_removes_what_the_edit_distance_should_not_see(clause, normalized):
    assert normalize(clause) == normalized


def test_full_width_and_half_width_spellings_normalise_alike():
    assert normalize("１、左侧胸腔少量积液；") == normalize("1. 左侧胸腔少量积液;")


POLARITY_CASES = [
    ("胸腔积液", AFFIRMED),
    ("双肺纹理增多", AFFIRMED),
    ("未见胸腔积液", NEGATED),
    ("无胸腔积液", NEGATED),
    ("心影不大", NEGATED),
    ("排除肺结核", NEGATED),
    # "normal" is written as a negation; a curator maps that cluster to the normal label
    ("心肺膈未见明显异常", NEGATED),
    ("心影大小正常", NEGATED),
    ("肺炎可能性不大", NEGATED),  # "unlikely": longer than the hedge 可能
    ("左侧胸腔积液可能", UNCERTAIN),
    ("不除外胸腔积液", UNCERTAIN),  # longer than the negation 除外
    ("不能排除肺结核", UNCERTAIN),
    ("未排除结核", UNCERTAIN),
    ("考虑支气管炎", UNCERTAIN),
    ("肺结核待排", UNCERTAIN),
    ("疑似肺气肿", UNCERTAIN),
    ("左上肺结核？", UNCERTAIN),
    # normal-appearance descriptors deny a finding; their "not" forms (pseudo cues) affirm it
    ("双肺纹理清晰", NEGATED),
    ("双侧肋膈角锐利", NEGATED),
    ("两肺纹理走行自然", NEGATED),
    ("右侧肋膈角欠锐利", AFFIRMED),
    ("结节边界不清晰", AFFIRMED),
    ("Mild cardiomegaly", AFFIRMED),
    ("Small nodule in the right lung", AFFIRMED),  # "no" is a word, not a prefix
    ("No pleural effusion", NEGATED),
    ("Negative for pneumothorax", NEGATED),
    ("Lungs without consolidation", NEGATED),
    ("No acute cardiopulmonary abnormality", NEGATED),
    ("Pneumonia unlikely", NEGATED),
    ("Possible atelectasis", UNCERTAIN),
    ("Likely atelectasis", UNCERTAIN),
    ("Pneumonia cannot be excluded", UNCERTAIN),
    ("Findings suggest bronchitis", UNCERTAIN),
    ("Effusion versus thickening", UNCERTAIN),
    ("ＮＯ  pleural effusion", NEGATED),
]


@pytest.mark.parametrize(("clause", "expected"), POLARITY_CASES)
def test_polarity_reads_negations_and_hedges(clause, expected):
    assert polarity(clause) == expected


def test_a_negation_does_not_reach_into_the_next_clause():
    diagnosis = "未见胸腔积液，主动脉硬化"
    assert polarity(diagnosis) == NEGATED  # one clause would be wrong ...
    assert [polarity(c) for c in split_clauses(diagnosis)] == [
        NEGATED,
        AFFIRMED,
    ]  # ... two are right


def test_an_english_negation_stops_at_but():
    clauses = split_clauses("No pleural effusion but mild cardiomegaly.")
    assert [polarity(c) for c in clauses] == [NEGATED, AFFIRMED]


def test_a_team_can_use_its_own_cue_lists():
    cues = CueLists(negation=["阴性"], uncertainty=["待查", "r/o"])
    assert polarity("未见胸腔积液", cues=cues) == AFFIRMED  # 未见 is not in this team's list
    assert polarity("结核菌素阴性", cues=cues) == NEGATED
    assert polarity("R/O pneumonia", cues=cues) == UNCERTAIN
    assert polarity("未见胸腔积液", cues=DEFAULT_CUES) == NEGATED


def test_custom_cues_are_matched_width_and_case_insensitively():
    cues = CueLists(negation=["ＮＯＴ ＳＥＥＮ"], uncertainty=[])
    assert polarity("effusion not  seen", cues=cues) == NEGATED


@pytest.mark.parametrize(
    ("negation", "uncertainty", "message", "pseudo"),
    [
        (["未见", " "], [], r"negation\[1\] is empty", ()),
        (["未见"], [None], r"uncertainty\[0\] is empty or not text", ()),
        (["可能"], ["可能"], "in both negation and uncertainty", ()),
        (["锐利"], [], "in both negation and pseudo", ["锐利"]),
    ],
)
def test_bad_cue_lists_are_refused_with_the_offending_entry(negation, uncertainty, message, pseudo):
    with pytest.raises(ValueError, match=message):
        CueLists(negation=negation, uncertainty=uncertainty, pseudo=pseudo)


@pytest.mark.parametrize(
    ("clause", "compared"),
    [
        ("考虑支气管炎可能", "支气管炎"),
        ("不除外胸腔积液", "胸腔积液"),
        ("2.未见肺气肿", "肺气肿"),
        ("肺气肿？", "肺气肿"),
        ("右侧肋膈角欠锐利", "右侧肋膈角欠锐利"),  # a pseudo cue is content
        ("Pneumonia cannot be excluded.", "pneumonia"),
        ("无", "无"),  # nothing but a cue: keep it rather than compare an empty string
    ],
)
def test_without_cues_leaves_what_the_clause_is_about(clause, compared):
    assert without_cues(clause) == compared


def test_read_clause_gives_all_three_forms_at_once():
    reading = read_clause("（2）不除外左侧胸腔积液")
    assert reading.normalized == normalize("（2）不除外左侧胸腔积液") == "不除外左侧胸腔积液"
    assert reading.compared == without_cues("（2）不除外左侧胸腔积液") == "左侧胸腔积液"
    assert reading.polarity == UNCERTAIN


def test_polarity_of_an_empty_clause_is_an_error():
    with pytest.raises(ValueError, match="clause is empty"):
        polarity("   ")


def test_normalize_keeps_the_question_mark_a_hedge_is_written_with():
    """Decisions are keyed by this form: 心影增大？ must not become the affirmed 心影增大."""
    assert normalize("心影增大？") == "心影增大?" != normalize("2. 心影增大") == "心影增大"
    assert normalize("Effusion ??") == normalize("effusion?") == "effusion?"
    assert without_cues("心影增大？") == without_cues("心影增大") == "心影增大"
