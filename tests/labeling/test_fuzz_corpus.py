"""The fuzz corpus itself (tests/fuzz_corpus.py): big enough, every seed and mutation family,
the same bytes on every build, and mutations that do what their names say."""

import io
import zlib

import pydicom
import pytest
from pydicom import uid as dcm_uid

from labeling.dicom import read_dicom
from tests import fuzz_corpus
from tests.fuzz_corpus import SEED_NAMES, case, corpus, seeds


def test_over_a_thousand_cases_from_every_seed_and_family():
    cases = corpus()
    assert len(cases) >= 1000
    assert len({c.id for c in cases}) == len(cases)
    families = {name for name, _, _ in fuzz_corpus.FAMILIES}
    pairs = {(c.seed, c.family) for c in cases}
    assert {(s, f) for s in SEED_NAMES for f in families} <= pairs
    assert {c.seed for c in cases if c.family == "deflate_damage"} == {"deflated"}
    syntaxes = {s.syntax for s in seeds()}
    assert {
        dcm_uid.DeflatedExplicitVRLittleEndian,
        dcm_uid.ExplicitVRBigEndian,
        dcm_uid.JPEG2000Lossless,
        dcm_uid.JPEGBaseline8Bit,
        dcm_uid.RLELossless,
        dcm_uid.JPEGLSLossless,
        dcm_uid.ImplicitVRLittleEndian,
    } <= syntaxes


def test_a_rebuild_gives_the_same_bytes():
    rebuilt = list(fuzz_corpus._mutated())
    built = [c for c in corpus() if c.family not in ("control", "hostile")]
    assert [(c.id, c.data) for c in rebuilt] == [(c.id, c.data) for c in built]
    assert all(c.rng_seed == zlib.crc32(c.id.encode()) for c in built)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on the broken values
def test_every_case_has_an_instance_uid_of_its_own():
    explicit = [c for c in corpus() if c.seed == "explicit"]
    sops = {
        pydicom.dcmread(io.BytesIO(c.data), force=True).get("SOPInstanceUID")
        for c in explicit
        if c.family == "bad_value"
    }
    assert len(sops) == len([c for c in explicit if c.family == "bad_value"])


@pytest.mark.parametrize("name", SEED_NAMES)
def test_the_walker_reaches_the_end_of_every_seed(name):
    seed = next(s for s in seeds() if s.name == name)
    top = [e for e in seed.elements if e.depth == 0]
    assert max(e.end for e in top) == len(seed.plain)
    assert all(
        a.end == b.start for a, b in zip(top, top[1:], strict=False)
    )  # nothing skipped between
    ds = pydicom.dcmread(io.BytesIO(seed.finish(seed.plain)))
    assert [e.tag for e in top if not e.meta] == list(ds.keys())


def test_the_controls_of_the_accepted_syntaxes_read_and_the_deflated_one_inflates():
    controls = {c.seed: c for c in fuzz_corpus.controls()}
    for name in ("explicit", "implicit", "multiframe", "rle", "j2k", "jpeg", "jpegls", "sv1"):
        assert read_dicom(io.BytesIO(controls[name].data), max_bytes=1 << 20).Rows == 40
    deflated = next(s for s in seeds() if s.deflated)
    body = controls["deflated"].data[deflated.meta_end :]
    inflated = zlib.decompressobj(-15).decompress(body)
    assert inflated.startswith(deflated.with_identity(1_000_008)[deflated.meta_end :])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mutations_do_what_their_names_say():
    cut = case("explicit-truncate-0003")
    assert len(cut.data) < len(fuzz_corpus.controls()[0].data)
    rows = next(c for c in corpus() if c.detail == "Rows=65535" and c.seed == "explicit")
    assert pydicom.dcmread(io.BytesIO(rows.data), force=True).Rows == 65535
    recoded = case("explicit-wrong_vr-0000")
    assert pydicom.dcmread(io.BytesIO(recoded.data), force=True)["PatientID"].VR == "OB"
    for number in (0, 1):
        probe = pydicom.dcmread(io.BytesIO(case(f"rle-bad_value-000{number}").data), force=True)
        assert probe.get_item("SliceThickness").value == b"\x98.67"
    assert "SpecificCharacterSet" not in probe
    no_syntax = next(c for c in corpus() if c.detail == "no Transfer Syntax UID")
    assert b"\x02\x00\x10\x00UI" not in no_syntax.data  # (0002,0010), explicit VR
    deep = next(c for c in corpus() if c.detail == "depth 17 (undefined lengths)")
    assert deep.data.count(b"\x08\x00\x40\x11SQ") == 17  # (0008,1140) nested 17 deep


def test_hostile_files_join_the_corpus_first(monkeypatch):
    monkeypatch.setattr(fuzz_corpus, "HOSTILE", [("bytes", b"DICM"), ("built", lambda: b"x")])
    corpus.cache_clear()
    try:
        first = corpus()[:2]
        assert [(c.id, c.data) for c in first] == [
            ("hostile-bytes", b"DICM"),
            ("hostile-built", b"x"),
        ]
    finally:
        corpus.cache_clear()
