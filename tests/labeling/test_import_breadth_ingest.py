"""`manage.py ingest` over real-world files (#14 item 1): one line per rejected file (name,
code, reason), no traceback and no decoder chatter on the terminal; the decoders' messages go
to the log at DEBUG."""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import pydicom
import pytest
from django.core.management import call_command

from labeling.dicom import REJECT_CODES
from labeling.models import Instance
from tests.labeling.test_import_breadth import corpus

ACCEPTED = [
    "MR_small_bigendian.dcm",  # big endian
    "SC_rgb_rle_32bit.dcm",  # 32-bit RLE colour
    "examples_palette.dcm",  # PALETTE COLOR
    "SC_ybr_full_422_uncompressed.dcm",  # native YBR_FULL_422
    "liver_1frame.dcm",  # 1-bit
    "badVR.dcm",  # pydicom warns about its values
    "JPEG-lossy.dcm",  # GDCM decodes it; libjpeg prints to fd 2 on the way
    "image_dfl.dcm",  # deflated
]
# Kept but flagged: OpenJPEG refuses the stream (and prints to fd 2 saying so).
UNDECODABLE = ["JPEG2000-embedded-sequence-delimiter.dcm"]
REJECTED = {
    "rtplan.dcm": "no_pixel_data",
    "test-SR.dcm": "no_pixel_data",
    "JPEGLSNearLossless_08.dcm": "missing_uid",
    "MR_truncated.dcm": "truncated",
    "no_meta.dcm": "not_dicom",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in [*ACCEPTED, *UNDECODABLE, *REJECTED]:
        shutil.copy(corpus(name), tmp_path / name)
    return tmp_path


def test_ingest_prints_one_line_per_rejection_and_nothing_else(personas, folder, capfd):
    stdout = io.StringIO()
    call_command("ingest", "--team", personas.team.name, str(folder), stdout=stdout)
    printed = stdout.getvalue().splitlines()
    captured = capfd.readouterr()

    imported = len(ACCEPTED) + len(UNDECODABLE)
    assert printed[0] == f"{imported} imported, 0 duplicates, {len(REJECTED)} rejected"
    lines = printed[1:]
    assert len(lines) == len(REJECTED)
    for name, code in REJECTED.items():
        (line,) = [line for line in lines if f"/{name} " in line]
        assert f"[{code}]: " in line and code in REJECT_CODES
        assert len(line.split(": ", 1)[1]) > 10  # a reason follows
    # Nothing reached the terminal from pydicom, the codecs or a traceback.
    assert captured.err == "" and captured.out == ""
    assert Instance.objects.of_team(personas.team).count() == imported
    flagged = Instance.objects.of_team(personas.team).exclude(decode_error="")
    assert [i.sop_uid for i in flagged] == [pydicom.dcmread(folder / UNDECODABLE[0]).SOPInstanceUID]


def test_the_decoders_messages_are_in_the_debug_log(personas, folder, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    call_command(
        "ingest", "--team", personas.team.name, str(folder / "JPEG-lossy.dcm"), stdout=io.StringIO()
    )
    assert capfd.readouterr().err == ""
    decoder = [r for r in caplog.records if r.name == "labeling.dicom.quiet"]
    assert any("JPEG" in r.getMessage() for r in decoder)
    assert all(r.levelno == logging.DEBUG for r in decoder)


def test_pydicom_warnings_are_demoted_to_debug(personas, folder, caplog, capfd):
    call_command(
        "ingest", "--team", personas.team.name, str(folder / "badVR.dcm"), stdout=io.StringIO()
    )
    assert capfd.readouterr().err == ""
    assert not [r for r in caplog.records if r.name.startswith("pydicom")]  # INFO: dropped

    caplog.clear()
    caplog.set_level(logging.DEBUG)
    call_command(
        "ingest",
        "--team",
        personas.other_team.name,
        str(folder / "badVR.dcm"),
        stdout=io.StringIO(),
    )
    pydicom_records = [r for r in caplog.records if r.name.startswith("pydicom")]
    assert pydicom_records and all(r.levelno == logging.DEBUG for r in pydicom_records)
