"""The measure of issue #14: every real-world DICOM file of the corpus (tests/labeling/
dicom_corpus.py: pydicom's test files and pydicom-data's) is POSTed to a real Orthanc (Debian
``orthanc`` with ``orthanc-gdcm``) and imported here; each side either renders it or says why
not. Every file that Orthanc stores and renders a preview of must be imported and rendered here
(the cache image and ``/rendered``), unless its rejection is one the README's rule permits:
:data:`PERMITTED`, each with the rule it rests on.

``pytest -s`` prints the table (file, what it is, Orthanc, ours) and the totals;
``python bench/dicom_corpus.py`` prints the same outside pytest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.labeling import dicom_corpus
from tests.labeling.dicom_corpus import OrthancProbe, Outcome, Row
from tests.orthanc import OrthancUnavailable

# Files Orthanc renders that we may refuse, by the README's rule ("Accepted and rejected DICOM
# objects"): name -> (our rejection code, the rule that permits it). Keep it small and true: a
# file in here that we render, or refuse with another code, or that Orthanc does not render,
# fails the test, and so does a code the README's table no longer lists.
PERMITTED: dict[str, tuple[str, str]] = {
    "pydicom-data/OT-PAL-8-face.dcm": (
        "not_dicom",
        "the rule stores DICOM Part 10 files (128-byte preamble, DICM, a file meta group); this "
        "is a bare data set without them, which Orthanc's parser guesses its way through",
    ),
    "pydicom-data/bad_sequence.dcm": (
        "bad_uid",
        "the rule needs valid SOP Instance, Study and Series UIDs (digits and dots); this file's "
        "are 64 hexadecimal characters, an anonymiser's hashes",
    ),
}
README = Path(__file__).resolve().parents[2] / "README.md"
README_SECTION = "## Accepted and rejected DICOM objects"


@pytest.fixture(scope="module")
def orthanc_outcomes(tmp_path_factory) -> dict[str, Outcome]:
    """Orthanc's verdict on every file, from one Orthanc for the module (a fresh one only
    after a file crashes it)."""
    try:
        with OrthancProbe(tmp_path_factory.mktemp("corpus-orthanc")) as probe:
            return {item.name: probe.outcome(item) for item in dicom_corpus.corpus()}
    except OrthancUnavailable as exc:  # not installed, or it did not start (or restart)
        pytest.fail(str(exc), pytrace=False)


@pytest.mark.slow
@pytest.mark.django_db
def test_every_file_orthanc_renders_is_rendered_here_or_refused_by_the_readme_rule(
    orthanc_outcomes,
):
    rows = [
        Row(item, orthanc_outcomes[item.name], ours)
        for item, ours in dicom_corpus.our_outcomes(dicom_corpus.corpus())
    ]
    print("\n" + dicom_corpus.table(rows))
    missing = [
        r
        for r in dicom_corpus.only_orthanc_renders(rows)
        if PERMITTED.get(r.entry.name, ("",))[0] != r.ours.why or r.ours.stored
    ]
    assert not missing, "Orthanc renders these and we do not:\n" + "\n".join(
        f"  {r.entry.name}: {r.ours.cell()}" for r in missing
    )
    by_name = {r.entry.name: r for r in rows}
    stale = [
        name
        for name in PERMITTED
        if name not in by_name or by_name[name].ours.rendered or not by_name[name].orthanc.rendered
    ]
    assert not stale, f"no longer exceptions (remove them from PERMITTED): {stale}"
    ours, theirs = sum(r.ours.rendered for r in rows), sum(r.orthanc.rendered for r in rows)
    assert ours >= theirs, f"the issue's goal: ours rendered {ours} >= Orthanc's {theirs}"


def test_each_permitted_refusal_is_a_code_of_the_readme_rule():
    text = README.read_text()
    assert README_SECTION in text
    section = text.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    for name, (code, reason) in PERMITTED.items():
        assert f"| `{code}` |" in section, f"{name}: the README's table has no {code}"
        assert reason


# --------------------------------------------------------------------------------------------
# The corpus itself, and the table (fast: no Orthanc, no import)
# --------------------------------------------------------------------------------------------


def test_the_corpus_holds_every_source_and_stable_unique_names():
    names = [e.name for e in dicom_corpus.corpus()]
    assert len(names) == len(set(names)) and names == sorted(names)
    for rg in ("RG1", "RG3"):
        assert {
            f"pydicom-data/{rg}_{kind}.dcm" for kind in ("UNCI", "UNCR", "J2KI", "J2KR")
        } <= set(names)
    assert "pydicom/charset/chrH31.dcm" in names
    assert "pydicom/dicomdirtests/77654033/CR1/6154" in names
    assert "pydicom/JPEG-lossy.dcm" in names
    assert len(names) > 200


def test_the_rule_leaves_out_dicomdirs_and_files_that_are_not_dicom():
    names = {e.name for e in dicom_corpus.corpus()}
    left_out = {
        "pydicom/dicomdirtests/DICOMDIR",  # an index of files, not an object
        "pydicom/dicomdirtests/TINY_ALPHA/DICOMDIR",
        "pydicom/README.txt",
        "pydicom/test1.json",
        "pydicom/crayons.icc",
        "pydicom/zipMR.gz",
        "pydicom/rtplan.dump",
        "pydicom/no_meta.dcm",  # no preamble, and pydicom finds no SOP class in it
    }
    assert not left_out & names
    folder = dict(dicom_corpus.roots())["pydicom"]
    assert not dicom_corpus.is_dicom(folder / "dicomdirtests" / "DICOMDIR")
    assert not dicom_corpus.is_dicom(folder / "README.txt")
    assert dicom_corpus.is_dicom(folder / "CT_small.dcm")
    assert not any("DICOMDIR" in name for name in names)
    # Without the DICM prefix but a data set with a SOP class: in.
    assert {"pydicom-data/OT-PAL-8-face.dcm", "pydicom/ExplVR_BigEndNoMeta.dcm"} <= names
    # With the prefix but broken (no SOP class, truncated): in, as a user may send them too.
    assert {"pydicom/meta_missing_tsyntax.dcm", "pydicom/MR_truncated.dcm"} <= names


def test_each_entry_says_what_it_is():
    rg1 = dicom_corpus.entry("pydicom-data/RG1_J2KR.dcm")
    assert rg1.transfer_syntax == "1.2.840.10008.1.2.4.90"
    assert (rg1.photometric, rg1.has_pixels, rg1.frames) == ("MONOCHROME1", True, 1)
    assert (rg1.rows, rg1.columns) == (1955, 1841)
    assert rg1.what() == "J2K lossless, MONOCHROME1, Computed Radiography Image"
    sr = dicom_corpus.entry("pydicom/test-SR.dcm")
    assert not sr.has_pixels and sr.what() == "Explicit LE, no pixels, Comprehensive SR"
    assert dicom_corpus.entry("pydicom-data/emri_small_RLE.dcm").frames == 10
    assert dicom_corpus.entry("pydicom/image_dfl.dcm").syntax_name == "Deflated"


def test_the_fuzz_suite_gets_every_file_but_the_biggest():
    fuzzed = dicom_corpus.for_fuzzing()
    assert "pydicom-data/RG1_UNCI.dcm" not in {e.name for e in fuzzed}  # 7 MB
    assert "pydicom-data/vlut_04.dcm" in {e.name for e in fuzzed}
    assert len(fuzzed) > 200


def test_the_table_counts_and_names_what_only_orthanc_renders():
    one, two = dicom_corpus.corpus()[:2]
    rows = [
        Row(one, Outcome(True, True), Outcome(False, False, "bad_value")),
        Row(two, Outcome(True, False, "preview HTTP 415"), Outcome(True, True)),
    ]
    text = dicom_corpus.table(rows)
    assert f"{one.name}" in text and "refused (bad_value)" in text
    assert "stored, no image (preview HTTP 415)" in text
    assert text.endswith("2 files: Orthanc stored 2, rendered 1; ours stored 1, rendered 1")
    assert dicom_corpus.only_orthanc_renders(rows) == [rows[0]]
