"""Scope-aware splitting, terminators and normal statements (issue #15, items 1 and 2)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from labeling.text import (
    AFFIRMED,
    DEFAULT_CUES,
    DEFAULT_TERMINATORS,
    NEGATED,
    UNCERTAIN,
    CueLists,
    is_normal,
    polarity,
    read_clause,
    split_clauses,
)

SCOPE_SPLITS = [
    # the examples
    ("Cardiomegaly without pulmonary edema", ["Cardiomegaly", "without pulmonary edema"]),
    ("心影增大未见胸腔积液", ["心影增大", "未见胸腔积液"]),
    (
        "Mild cardiomegaly, no acute pulmonary findings.",
        ["Mild cardiomegaly", "no acute pulmonary findings"],
    ),
    (
        "Stable cardiomegaly with no failure or pneumonia.",
        ["Stable cardiomegaly", "no failure or pneumonia"],
    ),
    ("右肺结节但未见钙化", ["右肺结节", "未见钙化"]),
    ("主动脉硬化，余未见异常", ["主动脉硬化", "余未见异常"]),
    ("左下肺炎症伴少量胸腔积液", ["左下肺炎症", "少量胸腔积液"]),
    # terminators: which, except for, 并; one that opens its clause stays in it (另见, 余)
    (
        "Left lower lobe opacity which may represent atelectasis.",
        ["Left lower lobe opacity", "may represent atelectasis"],
    ),
    (
        "No acute abnormality except for mild cardiomegaly",
        ["No acute abnormality", "mild cardiomegaly"],
    ),
    ("慢性支气管炎并肺气肿", ["慢性支气管炎", "肺气肿"]),
    ("双肺纹理增粗，另见右肺结节", ["双肺纹理增粗", "另见右肺结节"]),
    # a cue after its finding does not open a scope; the organ a cue is about stays with it
    ("Pneumothorax is not seen.", ["Pneumothorax is not seen"]),
    (
        "There is no pneumothorax or large pleural effusion.",
        ["There is no pneumothorax or large pleural effusion"],
    ),
    ("主动脉未见钙化", ["主动脉未见钙化"]),
    ("心影不大", ["心影不大"]),
    ("考虑支气管炎可能", ["考虑支气管炎可能"]),
    ("右肺结节待排", ["右肺结节待排"]),
    # a list under a negation keeps it; words holding a terminator are no terminators
    ("未见胸腔积液及气胸", ["未见胸腔积液及气胸"]),
    ("心影增大及胸腔积液", ["心影增大", "胸腔积液"]),
    ("请及时复查", ["请及时复查"]),
    ("肺气肿合并感染", ["肺气肿合并感染"]),
    ("Hyperinflated lungs consistent with COPD.", ["Hyperinflated lungs consistent with COPD"]),
    ("右下肺斑片影不除外肺炎", ["右下肺斑片影", "不除外肺炎"]),
    # a lone trailing hedge stays with its finding; 、 after an attribute lists attributes
    ("右肺结节，待排", ["右肺结节，待排"]),
    ("Right basilar opacity, likely.", ["Right basilar opacity, likely"]),
    ("心影大小、形态未见异常", ["心影大小、形态未见异常"]),
    # "otherwise" ends a scope
    ("Low lung volumes, otherwise normal.", ["Low lung volumes", "normal"]),
    # a comparison is not a negation, so it opens nothing
    ("心影增大无明显变化", ["心影增大无明显变化"]),
    ("No change in the cardiomegaly.", ["No change in the cardiomegaly"]),
]


@pytest.mark.parametrize(("diagnosis", "clauses"), SCOPE_SPLITS)
def test_split_clauses_cuts_where_the_polarity_scope_changes(diagnosis, clauses):
    assert split_clauses(diagnosis) == clauses


def test_each_side_of_a_scope_cut_reads_its_own_polarity():
    assert [polarity(c) for c in split_clauses("Cardiomegaly without pulmonary edema")] == [
        AFFIRMED,
        NEGATED,
    ]
    assert [polarity(c) for c in split_clauses("右下肺斑片影，不除外肺炎")] == [AFFIRMED, UNCERTAIN]


def test_a_hedge_under_a_negation_is_still_a_negation():
    assert polarity("No consolidation or effusion to suggest pneumonia") == NEGATED


def test_default_cues_carry_the_default_terminators():
    assert DEFAULT_CUES.terminators == DEFAULT_TERMINATORS
    assert {"but", "with", "which", "但", "伴", "及", "余", "并", "另"} <= set(DEFAULT_TERMINATORS)
    # A team's cue lists made before terminators existed get the defaults.
    assert CueLists(negation=["无"], uncertainty=["可能"]).terminators == DEFAULT_TERMINATORS


def test_a_team_can_use_its_own_terminators():
    cues = CueLists(DEFAULT_CUES.negation, DEFAULT_CUES.uncertainty, terminators=["而"])
    assert split_clauses("心影增大而未见积液", cues) == ["心影增大", "未见积液"]
    assert split_clauses("No effusion but mild cardiomegaly", cues) == [
        "No effusion but mild cardiomegaly"
    ]
    without_terminators = CueLists(DEFAULT_CUES.negation, DEFAULT_CUES.uncertainty, terminators=())
    assert split_clauses("左下肺炎症伴少量胸腔积液", without_terminators) == [
        "左下肺炎症伴少量胸腔积液"
    ]


def test_a_team_without_a_cue_gets_no_scope_cut_at_it():
    cues = CueLists(negation=["阴性"], uncertainty=["待查"])
    assert split_clauses("Cardiomegaly without pulmonary edema", cues) == [
        "Cardiomegaly without pulmonary edema"
    ]


@pytest.mark.parametrize(
    ("terminators", "message"),
    [
        ([""], r"terminators\[0\] is empty"),
        (["but", 3], r"terminators\[1\] is empty or not text"),
        (["无"], r"appear in both negation and terminators"),
    ],
)
def test_bad_terminators_are_refused_with_the_offending_entry(terminators, message):
    with pytest.raises(ValueError, match=message):
        CueLists(negation=["无"], uncertainty=[], terminators=terminators)


NORMAL_STATEMENTS = [
    "Clear lungs",
    "Lungs are clear",
    "Heart size normal",
    "Heart size is normal",
    "Negative chest x-ray",
    "No active disease",
    "No acute cardiopulmonary abnormality",
    "No evidence of active disease",
    "XXXX are normal",
    "The cardiomediastinal silhouette is within normal limits",
    "心肺未见异常",
    "心肺膈未见明显异常",
    "两肺纹理清晰",
    "心影大小形态未见异常",
    "胸部正位片未见明显异常",
    "两肺未见明显实质性病变",
    "双侧肋膈角锐利",
]
NOT_NORMAL_STATEMENTS = [
    "No pneumothorax",
    "Heart is not enlarged",
    "Mild cardiomegaly",
    "Possible pneumonia",
    "心影不大",
    "未见胸腔积液",
    "主动脉未见钙化",
    "心影增大",
    "考虑心肺异常可能",
]


@pytest.mark.parametrize("clause", NORMAL_STATEMENTS)
def test_a_statement_of_normality_is_flagged_normal_and_stays_negated(clause):
    assert is_normal(clause)
    reading = read_clause(clause)
    assert reading.normal
    assert reading.polarity == NEGATED == polarity(clause)


@pytest.mark.parametrize("clause", NOT_NORMAL_STATEMENTS)
def test_a_finding_affirmed_hedged_or_denied_is_no_normal_statement(clause):
    assert not is_normal(clause)
    assert not read_clause(clause).normal


def test_normal_statements_follow_the_team_cue_lists():
    cues = CueLists(negation=["阴性"], uncertainty=[])  # 未见 is no negation for this team
    assert not is_normal("心肺未见异常", cues)


def test_cue_lists_survive_a_trip_to_another_process():
    cues = CueLists(["无"], ["可能"], ["无明显变化"], ["但"])
    code = (
        "import pickle, sys; from labeling.text import CueLists;"
        "c = pickle.loads(sys.stdin.buffer.read());"
        "print(hash(c) == hash(CueLists(c.negation, c.uncertainty, c.pseudo, c.terminators)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(cues), capture_output=True, check=True
    )
    assert done.stdout.strip() == b"True"
    assert pickle.loads(pickle.dumps(cues)) == cues
