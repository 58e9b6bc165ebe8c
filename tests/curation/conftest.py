"""Curation fixtures: a team with demo studies (and the generator's hidden truth), a curator."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command

from curation import services


@dataclass
class Demo:
    team: object
    truth: dict
    path: Path


@pytest.fixture
def demo(personas, tmp_path) -> Demo:
    """40 synthetic studies with Chinese reports, ingested into the personas' team."""
    out = tmp_path / "demo"
    call_command(
        "demo", "--team", personas.team.name, "--images", "40", "--size", "64",
        "--workers", "1", "--out", str(out), "--json",
    )  # fmt: skip
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    return Demo(personas.team, truth, out)


@pytest.fixture
def curator(personas):
    """The team's admin, who may curate (a viewer may not)."""
    return personas.owner


@pytest.fixture
def run(demo, curator):
    """A finished clustering run over the demo reports."""
    return services.run_clustering(demo.team, k=30, seed=0, user=curator)


DIAGNOSES = (
    "心肺膈未见明显异常。",
    "1.心肺膈未见明显异常",
    "胸部未见明显异常；未见胸腔积液",
    "双肺纹理增多。主动脉硬化。",
    "两肺纹理增多、紊乱；主动脉迂曲硬化",
    "双肺纹理增粗。心影增大",
    "主动脉弓硬化。左侧胸腔积液",
    "右侧胸腔积液；未见胸腔积液征象",
    "心影增大。心肺膈未见明显异常",
    "肺气肿；双肺纹理增多",
    "未见胸腔积液。主动脉硬化",
    "双肺气肿",
)


@dataclass
class Corpus:
    team: object
    studies: list
    instances: list


@pytest.fixture
def corpus(personas) -> Corpus:
    """Twelve studies, one image each, with short Chinese diagnoses (one normal + disease)."""
    from tests.factories import make_instance, make_report, make_study

    studies, instances = [], []
    for i, diagnosis in enumerate(DIAGNOSES):
        study = make_study(personas.team, patient_id=f"P{i % 9}")
        make_report(study, diagnosis=diagnosis)
        studies.append(study)
        instances.append(make_instance(study))
    return Corpus(personas.team, studies, instances)


@pytest.fixture
def small_run(corpus, curator):
    # The paper's distance: the tests on this corpus name the clusters that plain edits make
    # (the default synonym table would gather 双肺纹理增多 and 两肺纹理增多紊乱 into one).
    return services.run_clustering(corpus.team, k=8, seed=0, user=curator, distance="paper")


def cluster_with(run, text: str):
    """The live cluster of ``run`` holding the clause whose normalised text is ``text``."""
    from curation.models import ProposedCluster

    return ProposedCluster.objects.get(run=run, merged_into=None, members__normalized=text)
