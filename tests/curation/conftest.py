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
