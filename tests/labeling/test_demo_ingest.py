"""`manage.py demo` and `manage.py ingest`: synthetic studies land de-identified, once, with reports."""

import csv
import io
import json
import zipfile

import pydicom
import pytest
from django.conf import settings
from django.core.management import call_command

from labeling.models import Instance, Report, Study


def call_json(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def six_demo_images(team, folder) -> dict:
    """The same six synthetic studies, into the same folder, every time."""
    return call_json(
        "demo", "--team", team.name, "--images", "6", "--size", "64", "--seed", "3",
        "--workers", "1", "--out", str(folder),
    )  # fmt: skip


@pytest.fixture
def demo(personas, tmp_path):
    return six_demo_images(personas.team, tmp_path / "demo")


def test_demo_ingests_every_image_with_its_report(personas, demo):
    assert demo["imported"] == 6 and demo["rejected"] == 0
    assert Instance.objects.of_team(personas.team).count() == 6
    assert Study.objects.of_team(personas.team).count() == demo["studies"]
    assert Report.objects.of_team(personas.team).count() == demo["studies"]
    assert demo["reports"]["unknown_keys"] == []
    assert not Study.objects.of_team(personas.other_team).exists()


def test_demo_images_are_deidentified_in_the_rows_and_the_stored_files(personas, demo, tmp_path):
    originals = {
        pydicom.dcmread(path).PatientID for path in (tmp_path / "demo" / "dicom").rglob("*.dcm")
    }
    stored = {s.patient_id for s in Study.objects.of_team(personas.team)}
    assert stored.isdisjoint(originals)
    instance = Instance.objects.of_team(personas.team).first()
    ds = pydicom.dcmread(settings.DICOM_STORE_DIR / instance.file_path)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.PatientID == instance.study.patient_id
    assert "PatientName" not in ds or str(ds.PatientName) in {"", instance.study.patient_id}


def test_the_hidden_truth_stays_beside_the_files(personas, demo):
    truth = json.loads(open(demo["truth"]).read())
    sop_uids = set(Instance.objects.of_team(personas.team).values_list("sop_uid", flat=True))
    assert set(truth["images"]) == sop_uids
    assert all(image["labels"] for image in truth["images"].values())


def test_running_the_demo_twice_adds_nothing(personas, demo, tmp_path):
    again = six_demo_images(personas.team, tmp_path / "demo")
    assert again["imported"] == 0 and again["duplicate"] == 6
    assert again["reports"]["updated"] == demo["studies"]
    assert Instance.objects.of_team(personas.team).count() == 6


def test_ingest_takes_folders_zips_and_a_gb18030_csv_and_lists_what_it_refused(
    personas, demo, tmp_path
):
    files = sorted((tmp_path / "demo" / "dicom").rglob("*.dcm"))
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in files[:3]:
            zf.write(path, f"export/{path.name}")
        zf.writestr("../../escape.dcm", files[0].read_bytes())
        zf.writestr("notes.txt", "not a dicom file")
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in files[3:]:
        (folder / path.name).write_bytes(path.read_bytes())
    reports = tmp_path / "reports.csv"
    first = Study.objects.of_team(personas.team).order_by("id").first()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["study_instance_uid", "findings", "diagnosis"])
    writer.writerow([first.study_uid, "两肺纹理清晰", "心肺膈未见明显异常"])
    writer.writerow(["1.2.3.999", "", "双肺纹理增多"])
    reports.write_bytes(buffer.getvalue().encode("gb18030"))

    result = call_json(
        "ingest",
        "--team",
        personas.other_team.name,
        str(archive),
        str(folder),
        "--reports",
        str(reports),
    )
    assert (result["imported"], result["duplicate"], result["rejected"]) == (6, 0, 2)
    reasons = {r["name"].split(":")[-1]: r["code"] for r in result["rejected_files"]}
    assert reasons == {"../../escape.dcm": "bad_archive_entry", "notes.txt": "not_dicom"}
    # The first study belongs to the other team now too (each team its own copy), so only
    # the second row is unknown there.
    assert result["reports"]["unknown_keys"] == ["1.2.3.999"]
    assert result["reports"]["encoding"] == "gb18030"
    assert Instance.objects.of_team(personas.other_team).count() == 6
