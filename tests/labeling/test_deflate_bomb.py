"""Deflated Explicit VR Little Endian: inflated a chunk at a time into a capped spool before
anything parses the dataset, through every entry point (#17; accepted since, as #14 asks).

pydicom inflates a deflated dataset in one call, in memory: 1.2 MB of deflated zeros took a web
worker from 179 MB to 2.56 GB. Here a 2 GiB bomb goes through upload, a zip archive, STOW-RS,
``manage.py ingest`` and a PACS pull, each in a process of its own whose peak resident memory is
measured, and valid deflated files go through the same five and are stored as Explicit VR
Little Endian.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from pydicom import uid as dcm_uid
from rest_framework.test import APIClient

from jobs import worker
from jobs.services import create_job
from labeling.dicom import DEFAULT_LIMITS, DicomRejected, inflated, read_dicom
from labeling.dicom.inflate import inflate
from labeling.models import Instance, PacsConnection
from tests import dicom_factory, hostile_cases
from tests.labeling.dicomweb_support import token_client_fixture  # noqa: F401
from tests.labeling.standalone_site import site_fixture  # noqa: F401
from tests.labeling.stub_pacs import start_stub_pacs
from tests.labeling.test_dicomweb_stow import multipart, referenced, stow

ENTRY_POINTS = ("upload", "zip", "stow", "ingest", "pacs")
# Peak resident memory an import may add, with a 2 GiB bomb.
BOUND_KIB = 200 * 1024
# The inflation cap for the bomb: above the bound, so a spool held in memory would fail the test
# (the default, 512 MB, only takes longer to reach).
CAP_MB = 256
OUT_OF_RESOURCES = 0xA700


def dataset_bytes(data: bytes) -> bytes:
    """A Part 10 file without its preamble and file meta group."""
    return data[hostile_cases.dataset_offset(data) :]


def store_files() -> list[Path]:
    return sorted(p for p in settings.DICOM_STORE_DIR.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------
# The inflater
# --------------------------------------------------------------------------------------------


def test_the_inflated_file_is_the_same_dataset_relabelled_explicit_vr_little_endian():
    with inflated(io.BytesIO(hostile_cases.deflated())) as spool:
        data = spool.read()
    original = dicom_factory.to_bytes(
        dicom_factory.make_dx(identity=hostile_cases.BASE_IDENTITY + 4)
    )
    assert dataset_bytes(data) == dataset_bytes(original)
    meta = pydicom.dcmread(io.BytesIO(data)).file_meta
    assert meta.TransferSyntaxUID == dcm_uid.ExplicitVRLittleEndian
    meta_end = hostile_cases.dataset_offset(data)
    assert meta.FileMetaInformationGroupLength == meta_end - 132 - 12


def test_a_file_that_is_not_deflated_is_passed_through_as_it_is():
    source = io.BytesIO(hostile_cases.good())
    with inflated(source) as same:
        assert same is source and same.tell() == 0


@pytest.mark.parametrize(
    "case, code",
    [("corrupt_deflate", "bad_deflate"), ("truncated_deflate", "truncated")],
)
def test_a_damaged_deflate_stream_is_a_rejection_with_a_reason(case, code):
    with (
        pytest.raises(DicomRejected) as caught,
        inflated(io.BytesIO(getattr(hostile_cases, case)())),
    ):
        pass
    assert caught.value.code == code and "deflate" in caught.value.message


def test_no_damage_to_a_deflated_file_escapes_as_a_zlib_error():
    data = hostile_cases.deflated()
    meta_end = hostile_cases.dataset_offset(data)
    for cut in range(meta_end, len(data) - 1, 37):
        with pytest.raises(DicomRejected):
            read_dicom(io.BytesIO(data[:cut]), max_bytes=1 << 20)
    rng = np.random.default_rng(17)
    for _ in range(60):
        flipped = data[:meta_end] + dicom_factory.flip_bytes(data[meta_end:], 3, rng)
        try:
            read_dicom(io.BytesIO(flipped), max_bytes=1 << 20)
        except DicomRejected:
            continue  # a flip may also inflate to a readable file; nothing else may be raised


class CountingSink(io.RawIOBase):
    """Counts what is written to it and keeps none of it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)


def test_inflation_stops_the_moment_the_output_passes_the_cap():
    bomb = hostile_cases.deflate_bomb()
    meta_end = hostile_cases.dataset_offset(bomb)
    sink, cap = CountingSink(), 3 * 1024 * 1024
    with pytest.raises(DicomRejected) as caught:
        inflate(io.BytesIO(bomb), 0, meta_end, len(bomb), sink, max_bytes=cap)
    assert caught.value.code == "too_large" and str(cap) in caught.value.message
    assert cap - (1 << 20) < sink.size <= cap  # stopped within one output chunk of the cap


def test_the_cap_is_the_setting_and_never_above_the_file_limit(personas, settings):
    settings.DICOM_MAX_INFLATED_BYTES = 1 << 20
    result = upload(personas, hostile_cases.deflate_bomb(16 << 20))[0]
    assert (result["code"], str(1 << 20) in result["reason"]) == ("too_large", True)
    settings.DICOM_MAX_INFLATED_BYTES, settings.DICOM_MAX_FILE_BYTES = 1 << 30, 2 << 20
    result = upload(personas, hostile_cases.deflate_bomb(16 << 20))[0]
    assert (result["code"], str(2 << 20) in result["reason"]) == ("too_large", True)
    assert DEFAULT_LIMITS.max_inflated_bytes == 512 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# A 2 GiB bomb through every entry point, in processes of their own
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.dcm"
    path.write_bytes(hostile_cases.deflate_bomb())  # 2 GiB of zeros in about 2 MB
    return path


def refusals(entry: str, answer: dict) -> list:
    """What the entry point said about the bomb: reject codes, or STOW's failure reasons."""
    if entry == "stow":
        items = answer["body"].get("00081198", {}).get("Value", [])
        return [item["00081197"]["Value"][0] for item in items]
    if entry in ("upload", "zip"):
        results = answer["body"]["results"]
    elif entry == "ingest":
        results = answer["rejected_files"]
    else:
        assert answer["status"] == "succeeded", answer["error"]
        results = answer["metrics"]["rejected_files"]
    return [r["code"] for r in results if r["status"] == "rejected"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_2_gib_deflate_bomb_is_refused_in_bounded_memory(site, bomb_path, tmp_path, entry):
    found = site.probe(tmp_path, entry, bomb_path, CXR_DICOM_MAX_INFLATED_MB=str(CAP_MB))
    growth = found["after_kib"] - found["before_kib"]
    print(f"deflate bomb through {entry}: peak RSS grew by {growth / 1024:.1f} MiB")  # with -s
    assert growth <= BOUND_KIB, f"{entry}: peak RSS grew by {growth // 1024} MiB"
    expected = [OUT_OF_RESOURCES] if entry == "stow" else ["too_large"]
    assert refusals(entry, found["answer"]) == expected
    # Nothing stored but the archive's good file, and no spool or partial file left behind.
    assert found["instances"] == len(found["files"]) == (1 if entry == "zip" else 0)
    assert not any(path.suffix == ".part" for path in map(Path, found["files"]))
    assert list((tmp_path / "tmp").iterdir()) == []


# --------------------------------------------------------------------------------------------
# Valid deflated files are imported, as Explicit VR Little Endian, through every entry point
# --------------------------------------------------------------------------------------------


def upload(personas, data: bytes, name: str = "deflated.dcm") -> list[dict]:
    client = APIClient()
    client.force_authenticate(personas.owner)
    response = client.post(
        "/api/uploads/", {"files": [SimpleUploadedFile(name, data)]}, format="multipart"
    )
    assert response.status_code in (200, 201)
    return response.json()["results"]


def deflated_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/deflated.dcm", hostile_cases.deflated())
    return buffer.getvalue()


def import_deflated(entry: str, personas, token_client, tmp_path) -> None:
    data = hostile_cases.deflated()
    if entry == "upload":
        assert upload(personas, data)[0]["status"] == "imported"
    elif entry == "zip":
        assert upload(personas, deflated_zip(), "export.zip")[0]["status"] == "imported"
    elif entry == "stow":
        response = stow(token_client(), multipart(data))
        assert response.status_code == 200 and len(referenced(response)) == 1
    elif entry == "ingest":
        (tmp_path / "deflated.dcm").write_bytes(data)
        call_command("ingest", str(tmp_path), "--team", personas.team.name, stdout=io.StringIO())
    else:
        pull_from_stub(personas, data, tmp_path)


def pull_from_stub(personas, data: bytes, tmp_path: Path) -> dict:
    path = tmp_path / "served.dcm"
    path.write_bytes(data)
    study = dicom_factory.new_uid("1.9180")
    pacs = start_stub_pacs()
    pacs.add(study, dicom_factory.new_uid("2.9180"), dicom_factory.new_uid("3.9180"), path)
    job = run_pull(personas, pacs, study)
    assert job.status == "succeeded", job.error
    return job.metrics


def run_pull(personas, pacs, study: str):
    """A pull job of ``study`` from the stub PACS, run in this process; the stub is stopped."""
    try:
        PacsConnection.objects.create(team=personas.team, name="Stub", url=pacs.url)
        job = create_job(
            personas.team, personas.owner, "pacs_pull", {"studies": [study]}, inline=True
        )
        worker.run(job.pk, inline=True)
    finally:
        pacs.stop()
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_valid_deflated_file_is_imported_as_explicit_vr_little_endian(
    personas, token_client, tmp_path, settings, entry
):
    settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.1"]
    import_deflated(entry, personas, token_client, tmp_path)
    instance = Instance.objects.get(team=personas.team)
    assert instance.transfer_syntax == dcm_uid.ExplicitVRLittleEndian
    (path,) = store_files()
    stored = pydicom.dcmread(path)
    assert stored.file_meta.TransferSyntaxUID == dcm_uid.ExplicitVRLittleEndian
    source = dicom_factory.make_dx(identity=hostile_cases.BASE_IDENTITY + 4)
    assert stored.PixelData == source.PixelData
    assert stored.PatientID.startswith("ANON-")  # de-identified like any other import


def test_a_pacs_listing_a_malformed_uid_gets_no_request_for_it(personas, tmp_path, settings):
    settings.CXR_PACS_ALLOWED_HOSTS = ["127.0.0.1"]
    path = tmp_path / "served.dcm"
    path.write_bytes(hostile_cases.good())
    study = dicom_factory.new_uid("1.9181")
    pacs = start_stub_pacs()
    pacs.add(study, dicom_factory.new_uid("2.9181"), "1.2/../../../admin", path)
    job = run_pull(personas, pacs, study)
    assert [r["code"] for r in job.metrics["rejected_files"]] == ["bad_uid"]
    assert pacs.retrieved == []
