"""Shared world for the DICOMweb tests: real files ingested through the real service.

Import the fixtures into a test module by their function names (``world_fixture`` provides the
fixture ``world``, and so on), so the import does not shadow the test arguments. The owner's team keeps identities (de-identification off) so tests can
match on the names and dates they wrote; the outsider's team holds a study of its own.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field

import pydicom
import pytest
from django.test import Client
from pydicom import uid as dcm_uid

from labeling.models import Instance
from labeling.services import ingest_file
from teams.tokens import issue_token
from tests.dicom_factory import make_dx, new_uid, to_bytes


@dataclass
class World:
    personas: object
    study: str  # two series: PA (two instances, one RLE) and LAT (one JPEG 2000)
    series: str
    lateral_series: str
    sop: str  # native, Explicit VR Little Endian
    rle_sop: str
    j2k_sop: str
    other_study: str  # the other team's
    other_series: str
    other_sop: str
    files: dict[str, bytes] = field(default_factory=dict)

    def instance(self, sop: str) -> Instance:
        return Instance.objects.get(sop_uid=sop, team=self.personas.team)

    def url(self, sop: str | None = None, suffix: str = "") -> str:
        """The WADO-RS path of one of the owner's instances."""
        sop = sop or self.sop
        series = self.lateral_series if sop == self.j2k_sop else self.series
        return f"/dicomweb/studies/{self.study}/series/{series}/instances/{sop}{suffix}"

    def other_url(self, suffix: str = "") -> str:
        return (
            f"/dicomweb/studies/{self.other_study}/series/{self.other_series}"
            f"/instances/{self.other_sop}{suffix}"
        )


@functools.lru_cache(maxsize=64)
def dx_bytes(number: int, syntax=dcm_uid.ExplicitVRLittleEndian, **attributes) -> bytes:
    """A Part 10 file (cached: encoding is the slow part of building a world)."""
    return to_bytes(make_dx(identity=number, syntax=syntax, **attributes))


def sop_of(data: bytes) -> str:
    """The SOP Instance UID of a file (compressing gives an instance a new one)."""
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def _ingest(team, data: bytes) -> None:
    result = ingest_file(team, io.BytesIO(data), name="test")
    assert result.status == "imported", result


@pytest.fixture(name="world")
def world_fixture(personas) -> World:
    team = personas.team
    team.deidentify = False
    team.save()
    study, series, lateral = new_uid("1.70"), new_uid("2.70"), new_uid("2.71")
    common = {"StudyInstanceUID": study, "PatientName": "Zhang^San", "PatientID": "PID-70"}
    files = {
        "pa": dx_bytes(70, SeriesInstanceUID=series, InstanceNumber=1, **common),
        "rle": dx_bytes(
            71, dcm_uid.RLELossless, SeriesInstanceUID=series, InstanceNumber=2, **common
        ),
        "lat": dx_bytes(
            72,
            dcm_uid.JPEG2000Lossless,
            SeriesInstanceUID=lateral,
            SeriesNumber=2,
            SeriesDescription="LAT",
            Modality="CR",
            **common,
        ),
    }
    for data in files.values():
        _ingest(team, data)
    other = dx_bytes(80, PatientName="Li^Si", PatientID="PID-80", AccessionNumber="ACC-OTHER")
    _ingest(personas.other_team, other)
    return World(
        personas=personas,
        study=study,
        series=series,
        lateral_series=lateral,
        sop=sop_of(files["pa"]),
        rle_sop=sop_of(files["rle"]),
        j2k_sop=sop_of(files["lat"]),
        other_study=new_uid("1.80"),
        other_series=new_uid("2.80"),
        other_sop=new_uid("3.80"),
        files=files,
    )


@pytest.fixture(name="token_client")
def token_client_fixture(personas):
    """A Django test client that authenticates like a machine: ``Authorization: Token``."""

    def make(user=None) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Token {issue_token(user or personas.owner)}")

    return make


@pytest.fixture(name="anonymous_client")
def anonymous_client_fixture() -> Client:
    return Client()
