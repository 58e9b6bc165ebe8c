"""The synthetic demo generator: deterministic, valid DICOM, visible signs, honest reports."""

import json
import re
from collections import Counter

import numpy as np
import pydicom
import pytest
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian

from labeling import synth
from labeling.synth import (
    AFFIRMED,
    CLAUSE_SEPARATORS,
    MONOCHROME1,
    MONOCHROME2,
    NEGATED,
    POLARITIES,
    UNCERTAIN,
    OutputFolderError,
    generate_demo,
    generate_reports,
    render_chest,
)
from labeling.text import split_clauses
from labeling.vocabulary import LABEL_KEYS, NORMAL

DISEASES = [key for key in LABEL_KEYS if key != NORMAL]
SIZE = 128

# Where each sign belongs, as (x from, x to, y from, y to) in image units: x runs -0.5..0.5
# left to right across the image (|x| when the box is mirrored on both sides), y 0..1 downwards.
SIGN_REGIONS = {
    "increased_lung_marking": ("both", 0.02, 0.45, 0.1, 0.8),
    "aortosclerosis": ("x", 0.0, 0.15, 0.22, 0.42),
    "increased_heart_shadow": ("x", -0.3, 0.35, 0.35, 0.85),
    "pleural_thickening": ("both", 0.22, 0.45, 0.1, 0.85),
    "pulmonary_interstitial_hyperplasia": ("both", 0.02, 0.45, 0.1, 0.8),
    "costophrenic_angle_blunting": ("both", 0.22, 0.45, 0.55, 0.85),
    "pleural_effusion": ("both", 0.02, 0.45, 0.4, 0.85),
    "emphysema": ("both", 0.0, 0.47, 0.05, 0.9),
    "bronchitis": ("both", 0.0, 0.3, 0.25, 0.65),
}


def region_mask(size: int, region: tuple) -> np.ndarray:
    mirror, x0, x1, y0, y1 = region
    x = (np.arange(size) + 0.5) / size - 0.5
    y = (np.arange(size) + 0.5) / size
    xs = np.abs(x) if mirror == "both" else x
    return ((y >= y0) & (y <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]


def lung_and_mediastinum_means(pixels: np.ndarray) -> tuple[float, float]:
    size = pixels.shape[0]
    lungs = region_mask(size, ("both", 0.2, 0.3, 0.3, 0.45))
    mediastinum = region_mask(size, ("x", -0.02, 0.02, 0.25, 0.35))
    return float(pixels[lungs].mean()), float(pixels[mediastinum].mean())


@pytest.fixture(scope="module")
def reports() -> list[synth.ReportTruth]:
    return generate_reports(2000, seed=11)


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory):
    """The same demo written by one process and by two."""
    base = tmp_path_factory.mktemp("demo")
    one = generate_demo(base / "one", 12, seed=5, size=96, workers=1)
    two = generate_demo(base / "two", 12, seed=5, size=96, workers=2)
    return one, two


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_writes_identical_files_whatever_the_worker_count(demo_pair):
    one, two = demo_pair
    for a, b in zip(one.dicom_paths, two.dicom_paths, strict=True):
        assert a.relative_to(one.out_dir) == b.relative_to(two.out_dir)
        assert a.read_bytes() == b.read_bytes()
    assert one.reports_path.read_bytes() == two.reports_path.read_bytes()
    assert one.truth_path.read_bytes() == two.truth_path.read_bytes()


def test_another_seed_gives_other_images_reports_and_uids(demo_pair, tmp_path):
    one, _ = demo_pair
    other = generate_demo(tmp_path, 12, seed=6, size=96, workers=1)
    first, second = pydicom.dcmread(one.dicom_paths[0]), pydicom.dcmread(other.dicom_paths[0])
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert not np.array_equal(first.pixel_array, second.pixel_array)
    assert one.reports_path.read_text() != other.reports_path.read_text()


def test_reports_are_reproducible_and_match_the_demo_written_for_the_same_seed(demo_pair):
    one, _ = demo_pair
    again = generate_reports(12, seed=5)
    assert again == generate_reports(12, seed=5)
    text = one.reports_path.read_text("utf-8")
    assert "\\u" not in text and "未见" in text  # UTF-8 as written, not escaped
    rows = [json.loads(line) for line in text.splitlines()]
    assert all(
        set(row) == {"accession_number", "study_instance_uid", "findings", "diagnosis"}
        for row in rows
    )
    assert [(r["findings"], r["diagnosis"]) for r in rows] == [
        (t.findings, t.diagnosis) for t in again
    ]


def test_render_chest_is_a_pure_function_of_the_seed():
    first = render_chest(["emphysema"], SIZE, np.random.default_rng(3))
    second = render_chest(["emphysema"], SIZE, np.random.default_rng(3))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, render_chest(["emphysema"], SIZE, np.random.default_rng(4)))


# --- DICOM ------------------------------------------------------------------------------------


def test_every_file_is_valid_12_bit_dx_dicom_with_realistic_tags(demo_pair):
    one, _ = demo_pair
    for path in one.dicom_paths:
        ds = pydicom.dcmread(path)  # no force: preamble and file meta must be right
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.SOPClassUID == DigitalXRayImageStorageForPresentation
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.Modality == "DX" and ds.BodyPartExamined == "CHEST"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (
            16,
            12,
            11,
            0,
        )
        assert ds.PhotometricInterpretation in (MONOCHROME1, MONOCHROME2)
        assert ds.ViewPosition in ("PA", "AP")
        assert re.fullmatch(r"\d{3}Y", ds.PatientAge)
        assert ds.PatientSex in ("M", "F") and ds.PatientBirthDate < ds.StudyDate
        assert ds.PatientID and ds.PatientName and ds.AccessionNumber and ds.InstitutionName
        assert ds.Manufacturer and ds.SeriesNumber == 1 and ds.InstanceNumber == 1
        assert float(ds.PixelSpacing[0]) == pytest.approx(430 / 96, rel=0.05)
        for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
            assert uid.startswith("2.25.") and len(uid) <= 64 and uid.is_valid
        pixels = ds.pixel_array
        assert pixels.shape == (96, 96) and pixels.dtype == np.uint16
        assert pixels.max() <= 4095 and pixels.max() - pixels.min() > 1000


def test_demo_mixes_photometrics_optional_tags_and_patients_with_several_studies(tmp_path):
    manifest = generate_demo(tmp_path, 40, seed=2, size=64, workers=1)
    datasets = [pydicom.dcmread(path) for path in manifest.dicom_paths]
    photometrics = Counter(ds.PhotometricInterpretation for ds in datasets)
    assert 4 <= photometrics[MONOCHROME1] <= 24 and photometrics[MONOCHROME2] >= 16
    assert 0 < sum("RescaleSlope" in ds for ds in datasets) < 40
    assert 0 < sum("WindowCenter" in ds for ds in datasets) < 40
    per_patient = Counter(ds.PatientID for ds in datasets)
    assert manifest.n_patients == len(per_patient) < 40
    assert len({ds.StudyInstanceUID for ds in datasets}) == manifest.n_studies == 40
    repeat = next(pid for pid, count in per_patient.items() if count > 1)
    visits = [ds for ds in datasets if ds.PatientID == repeat]
    assert len({(ds.PatientName, ds.PatientBirthDate, ds.PatientSex) for ds in visits}) == 1
    assert len({ds.StudyDate for ds in visits}) == len(visits)


def test_monochrome1_stores_the_inverted_image():
    m2 = render_chest([], SIZE, np.random.default_rng(8), MONOCHROME2)
    m1 = render_chest([], SIZE, np.random.default_rng(8), MONOCHROME1)
    assert np.array_equal(m1, 4095 - m2)
    lung, mediastinum = lung_and_mediastinum_means(m2)
    assert lung < mediastinum - 300
    lung, mediastinum = lung_and_mediastinum_means(m1)
    assert lung > mediastinum + 300


def test_written_monochrome1_files_have_air_bright_in_stored_values(demo_pair):
    one, _ = demo_pair
    seen = set()
    for path in one.dicom_paths:
        ds = pydicom.dcmread(path)
        lung, mediastinum = lung_and_mediastinum_means(ds.pixel_array)
        assert (lung > mediastinum) == (ds.PhotometricInterpretation == MONOCHROME1)
        seen.add(ds.PhotometricInterpretation)
    assert seen == {MONOCHROME1, MONOCHROME2}


# --- signs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", DISEASES)
def test_each_sign_changes_the_image_in_its_own_region(label):
    sides = {key: "both" for key in synth.SIDED_LABELS}
    plain = render_chest([], SIZE, np.random.default_rng(21), laterality=sides)
    signed = render_chest([label], SIZE, np.random.default_rng(21), laterality=sides)
    change = np.abs(signed.astype(np.int32) - plain.astype(np.int32))
    inside = region_mask(SIZE, SIGN_REGIONS[label])
    assert change[inside].mean() > 8, "the sign is too faint to see"
    assert change[inside].sum() >= 0.8 * change.sum(), "the sign is drawn outside its region"


def test_one_sided_signs_appear_on_the_named_side_of_the_patient():
    # PA view: the patient's left is on the image's right.
    plain = render_chest([], SIZE, np.random.default_rng(5))
    left = render_chest(
        ["pleural_effusion"],
        SIZE,
        np.random.default_rng(5),
        laterality={"pleural_effusion": "left"},
    )
    change = np.abs(left.astype(np.int32) - plain.astype(np.int32))
    assert change[:, SIZE // 2 :].sum() > 20 * change[:, : SIZE // 2].sum()


def test_sign_strength_varies_between_images():
    effects = []
    for seed in range(6):
        plain = render_chest([], SIZE, np.random.default_rng(seed))
        heart = render_chest(["increased_heart_shadow"], SIZE, np.random.default_rng(seed))
        effects.append(np.abs(heart.astype(np.int32) - plain.astype(np.int32)).mean())
    assert max(effects) > 1.5 * min(effects) > 0


def test_normal_and_several_labels_render_as_12_bit_images():
    for labels in ([NORMAL], DISEASES):
        pixels = render_chest(labels, 80, np.random.default_rng(1))
        assert pixels.shape == (80, 80) and pixels.dtype == np.uint16 and pixels.max() <= 4095


# --- label frequencies ------------------------------------------------------------------------


def test_label_frequencies_follow_table_one(reports):
    totals = Counter(key for report in reports for key in report.labels)
    assert 0.45 < totals[NORMAL] / len(reports) < 0.56
    top = [key for key, _ in totals.most_common(5)]
    assert top == [
        NORMAL,
        "increased_lung_marking",
        "aortosclerosis",
        "increased_heart_shadow",
        "pleural_thickening",
    ]
    assert set(totals) == set(LABEL_KEYS)


def test_many_images_carry_several_labels_and_singles_follow_table_one(reports):
    sizes = Counter(len(report.labels) for report in reports)
    assert 0.15 < sum(n for size, n in sizes.items() if size >= 2) / len(reports) < 0.35
    singles = Counter(r.labels[0] for r in reports if len(r.labels) == 1 and r.labels != (NORMAL,))
    assert singles.most_common(2)[0][0] == "increased_lung_marking"
    assert singles["aortosclerosis"] > singles["increased_heart_shadow"]
    assert all(NORMAL not in r.labels or r.labels == (NORMAL,) for r in reports)


# --- reports ----------------------------------------------------------------------------------


def test_negated_and_hedged_clauses_never_become_labels(reports):
    hedged = negated = 0
    for report in reports:
        for clause in report.clauses:
            assert clause.polarity in POLARITIES
            if clause.label in DISEASES and clause.polarity != AFFIRMED:
                assert clause.label not in report.labels
                hedged += clause.polarity == UNCERTAIN
                negated += clause.polarity == NEGATED
    assert hedged > 100 and negated > 100


def test_every_true_label_is_written_and_normal_is_a_negated_statement(reports):
    for report in reports:
        written = {c.label for c in report.clauses if c.label and c.polarity == AFFIRMED}
        if report.labels == (NORMAL,):
            assert any(c.label == NORMAL and c.polarity == NEGATED for c in report.clauses)
            assert not written & set(DISEASES)
        else:
            assert written == set(report.labels)


def test_clause_texts_are_exact_substrings_without_separators(reports):
    for report in reports:
        position = 0
        for clause in report.clauses:
            found = report.diagnosis.find(clause.text, position)
            assert found >= position, (clause.text, report.diagnosis)
            position = found + len(clause.text)
            assert not any(sep in clause.text for sep in CLAUSE_SEPARATORS)


def test_the_clause_splitter_recovers_the_written_clauses(reports):
    numbering = re.compile(r"^(\d+[.、)]\s?|（\d+）|[①-⑩])")
    for report in reports[:500]:
        expected = [numbering.sub("", clause.text) for clause in report.clauses]
        assert split_clauses(report.diagnosis) == expected


def test_phrasing_varies_with_numbering_digits_and_typos(reports):
    variants: dict[str, set[str]] = {key: set() for key in LABEL_KEYS}
    for report in reports:
        for clause in report.clauses:
            if clause.label and clause.polarity in (AFFIRMED, NEGATED):
                if clause.label == NORMAL or clause.polarity == AFFIRMED:
                    variants[clause.label].add(re.sub(r"[\d.、()（）①-⑩\s]", "", clause.text))
    assert all(len(texts) >= 4 for texts in variants.values()), {
        k: len(v) for k, v in variants.items()
    }
    diagnoses = "\n".join(report.diagnosis for report in reports)
    for mark in ("1.", "2、", "（2）", "②", "第", "\n", "；", "，"):
        assert mark in diagnoses
    typos = sum(any(c in r.diagnosis for c in "隔文顿夜") for r in reports)
    assert 0 < typos < len(reports) * 0.2
    assert all("。" in r.findings for r in reports)


def test_findings_agree_with_the_true_labels(reports):
    for report in reports:
        assert ("双侧膈肌低平" in report.findings) == ("emphysema" in report.labels)
        assert ("钙化" in report.findings) == ("aortosclerosis" in report.labels)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n (number of images) must be a positive integer"),
        ({"n": -3}, "n (number of images) must be a positive integer"),
        ({"n": 2, "size": 32}, "size must be an integer of at least 64"),
        ({"n": 2, "seed": -1}, "seed must be a non-negative integer"),
        ({"n": 2, "workers": 0}, "workers must be a positive integer"),
    ],
)
def test_bad_arguments_are_refused_with_the_field_named(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_demo(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_an_unwritable_folder_raises_a_clear_os_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputFolderError, match="cannot write demo data to .*a-file"):
        generate_demo(blocker / "demo", 2, size=64)
    assert issubclass(OutputFolderError, OSError)


def test_render_chest_refuses_unknown_labels_photometrics_and_sides():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown key"):
        render_chest(["pneumothorax"], 64, rng)
    with pytest.raises(ValueError, match="photometric"):
        render_chest([], 64, rng, "RGB")
    with pytest.raises(ValueError, match="laterality"):
        render_chest(["pleural_effusion"], 64, rng, laterality={"pleural_effusion": "up"})
    with pytest.raises(ValueError, match="n \\(number of images\\)"):
        generate_reports(0)
