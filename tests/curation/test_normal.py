"""Normal statements: flagged on their clauses, their clusters pre-mapped to normal (audited,
undoable), and a hedged finding keeps a report from being normal."""

import pytest

from curation import services
from curation.models import AuditEntry, ClauseDecision, ClauseOccurrence, Label, ProposedCluster
from labeling.text import NEGATED, is_normal, normalize
from labeling.vocabulary import NORMAL

from .conftest import cluster_with

NORMAL_REPORTS = ("心肺膈未见明显异常", "心肺未见明显异常", "胸部未见明显异常", "两肺纹理清晰")
FINDINGS = ("双肺纹理增多", "主动脉硬化", "主动脉弓硬化", "双肺纹理增粗")


def make_studies(team, diagnoses):
    from tests.factories import make_instance, make_report, make_study

    instances = []
    for i, diagnosis in enumerate(diagnoses):
        study = make_study(team, patient_id=f"N{i}")
        make_report(study, diagnosis=diagnosis)
        instances.append(make_instance(study))
    return instances


@pytest.fixture
def normals(personas):
    """Normal reports and affirmed findings: every negated clause states normality."""
    return make_studies(personas.team, NORMAL_REPORTS + FINDINGS)


def test_each_clause_stores_whether_it_states_normality(personas, normals):
    make_studies(personas.team, ["未见胸腔积液。主动脉硬化"])
    services.sync_clauses(personas.team, services.team_cues(personas.team))
    flags = dict(ClauseOccurrence.objects.filter(team=personas.team).values_list("text", "normal"))
    assert flags["心肺膈未见明显异常"] and flags["心肺未见明显异常"]
    assert not flags["未见胸腔积液"] and not flags["主动脉硬化"]
    assert all(flags[text] == is_normal(text) for text in flags)


def test_a_run_pre_maps_clusters_of_normal_statements_as_an_undoable_action(normals, curator):
    team = normals[0].team
    run = services.run_clustering(team, k=4, seed=0, user=curator)
    normal = Label.objects.get(team=team, key=NORMAL)
    mapped = cluster_with(run, normalize("心肺膈未见明显异常"))
    assert mapped.verdict == "label" and mapped.label == normal
    finding = cluster_with(run, "双肺纹理增多")
    assert finding.verdict == "open"
    texts = list(mapped.members.values_list("normalized", flat=True))
    assert all(d.automatic for d in ClauseDecision.objects.filter(team=team, normalized__in=texts))
    entry = AuditEntry.objects.get(team=team, action="label")
    assert entry.user == curator and entry.summary.startswith("pre-mapped as normal statements")
    labelled = services.current_vectors(team).labels
    assert labelled[normals[0].sop_uid] == [NORMAL]

    services.undo_last(team, curator)
    mapped.refresh_from_db()
    assert mapped.verdict == "open" and mapped.label is None
    assert not ClauseDecision.objects.filter(team=team, normalized__in=texts).exists()
    assert normals[0].sop_uid not in services.current_vectors(team).labels


def test_a_cluster_mixing_normal_statements_and_a_negated_finding_stays_open(personas, curator):
    make_studies(
        personas.team, NORMAL_REPORTS[:2] + ("未见胸腔积液", "主动脉硬化", "考虑肺气肿可能")
    )
    run = services.run_clustering(personas.team, k=3, seed=0, user=curator)
    negated = ProposedCluster.objects.get(run=run, polarity=NEGATED)
    assert negated.members.count() == 3 and negated.verdict == "open"
    assert not AuditEntry.objects.filter(team=personas.team, action="label").exists()


def test_a_curated_decision_is_never_overwritten_by_the_pre_mapping(normals, curator):
    team = normals[0].team
    run = services.run_clustering(team, k=4, seed=0, user=curator)
    mapped = cluster_with(run, normalize("心肺膈未见明显异常"))
    services.set_verdict(team, curator, {mapped.pk: mapped.version}, verdict="ignored")
    again = services.run_clustering(team, k=4, seed=0, user=curator)
    cluster = cluster_with(again, normalize("心肺膈未见明显异常"))
    assert cluster.verdict == "ignored"
    assert AuditEntry.objects.filter(team=team, action="label").count() == 1


def map_normal_and_findings(team, run, curator) -> None:
    labels = {label.key: label for label in Label.objects.filter(team=team)}
    for cluster in ProposedCluster.objects.filter(run=run, merged_into=None, verdict="open"):
        versions = {cluster.pk: cluster.version}
        if cluster.polarity == "affirmed" and "心影" in cluster.medoid_text:
            services.set_verdict(team, curator, versions, verdict="label",
                                 label_id=labels["increased_heart_shadow"].pk)  # fmt: skip
        else:
            services.set_verdict(team, curator, versions, verdict="no_label")


def test_a_hedged_finding_keeps_a_report_from_being_normal(personas, curator):
    plain, hedged, diseased = make_studies(
        personas.team,
        [
            "心肺膈未见明显异常",
            "心肺膈未见明显异常；考虑支气管炎可能",
            "心影增大；考虑支气管炎可能",
        ],
    )
    team = personas.team
    run = services.run_clustering(team, k=3, seed=0, user=curator)
    map_normal_and_findings(team, run, curator)
    vectors = services.current_vectors(team)
    assert vectors.labels[plain.sop_uid] == [NORMAL]
    assert hedged.sop_uid not in vectors.labels  # left out: neither normal nor labelled
    assert vectors.labels[diseased.sop_uid] == ["increased_heart_shadow"]
    assert not vectors.conflicts

    # A curator who ignores the hedge (it says nothing about the image) makes it normal again.
    hedge = cluster_with(run, normalize("考虑支气管炎可能"))
    services.set_verdict(team, curator, {hedge.pk: hedge.version}, verdict="ignored")
    assert services.current_vectors(team).labels[hedged.sop_uid] == [NORMAL]
