"""What ingest writes and how it batches: the stored file, the fast writer, batched commits and
`manage.py ingest` with worker processes."""

import io
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from pydicom import uid as dcm_uid

from labeling import deid, services
from labeling.dicom import lookup, read_dicom, resize_u8, to_uint8, write_file
from labeling.models import ImageCache, Instance, Study
from tests import dicom_factory


def store_files() -> list[Path]:
    return sorted(p for p in settings.DICOM_STORE_DIR.rglob("*") if p.is_file())


def stored_dataset(instance: Instance) -> pydicom.Dataset:
    return pydicom.dcmread(settings.DICOM_STORE_DIR / instance.file_path)


# --------------------------------------------------------------------------------------------
# The stored file
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "syntax", [dcm_uid.ExplicitVRLittleEndian, dcm_uid.ImplicitVRLittleEndian, dcm_uid.RLELossless]
)
def test_the_stored_file_has_the_source_pixels_and_none_of_the_identifying_values(personas, syntax):
    personas.team.remap_uids = True
    personas.team.save()
    source = dicom_factory.make_dx(rows=70, columns=50, syntax=syntax)
    result = services.ingest_file(
        personas.team, io.BytesIO(dicom_factory.to_bytes(source)), name="a.dcm"
    )
    instance = Instance.objects.get(pk=result.instance_id)
    stored = stored_dataset(instance)

    assert stored.file_meta.TransferSyntaxUID == syntax
    assert stored.PixelData == source.PixelData
    np.testing.assert_array_equal(stored.pixel_array, source.pixel_array)
    for keyword in ("PatientAddress", "OtherPatientIDs", "ImageComments", "InstitutionName"):
        assert keyword not in stored
    assert 0x00091010 not in stored  # the private note
    assert stored.PatientBirthDate == ""
    assert stored.PatientID == str(stored.PatientName) == instance.study.patient_id
    assert instance.study.patient_id.startswith("ANON-")
    assert stored.StudyDate != source.StudyDate  # shifted
    assert stored.SOPInstanceUID == instance.sop_uid != source.SOPInstanceUID
    assert stored.file_meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID
    assert stored.PatientIdentityRemoved == "YES"
    assert instance.file_size == (settings.DICOM_STORE_DIR / instance.file_path).stat().st_size


def test_the_stored_file_is_what_pydicom_itself_would_write(personas):
    data = dicom_factory.to_bytes(dicom_factory.make_dx(rows=33, columns=31))
    result = services.ingest_file(personas.team, io.BytesIO(data), name="a.dcm")
    path = settings.DICOM_STORE_DIR / Instance.objects.get(pk=result.instance_id).file_path
    expected = io.BytesIO()
    pydicom.dcmread(path).save_as(expected, enforce_file_format=True)
    assert path.read_bytes() == expected.getvalue()


# --------------------------------------------------------------------------------------------
# write_file: byte for byte pydicom's save_as
# --------------------------------------------------------------------------------------------


def pydicom_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def fast_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    write_file(ds, buffer)
    return buffer.getvalue()


def read_back(ds: pydicom.Dataset) -> pydicom.Dataset:
    return read_dicom(io.BytesIO(dicom_factory.to_bytes(ds)), max_bytes=1 << 24)


@pytest.mark.parametrize(
    ("syntax", "bits"),
    [
        (dcm_uid.ExplicitVRLittleEndian, 12),
        (dcm_uid.ImplicitVRLittleEndian, 12),
        (dcm_uid.ExplicitVRLittleEndian, 8),  # 33×31 bytes: odd, padded
        (dcm_uid.ImplicitVRLittleEndian, 8),
        (dcm_uid.RLELossless, 12),
        (dcm_uid.JPEGBaseline8Bit, 8),
    ],
)
def test_write_file_writes_exactly_what_save_as_writes(syntax, bits):
    ds = read_back(dicom_factory.make_dx(rows=33, columns=31, bits_stored=bits, syntax=syntax))
    expected = pydicom_bytes(ds)
    assert fast_bytes(ds) == expected
    assert pydicom_bytes(ds) == expected  # and the dataset is left as it was


def test_write_file_keeps_elements_after_the_pixel_data():
    ds = dicom_factory.make_dx(rows=16, columns=16)
    ds.add_new(0xFFFCFFFC, "OB", b"\0" * 6)  # Data Set Trailing Padding
    ds = read_back(ds)
    written = fast_bytes(ds)
    assert written == pydicom_bytes(ds)
    assert pydicom.dcmread(io.BytesIO(written))[0xFFFCFFFC].value == b"\0" * 6


def test_write_file_falls_back_to_pydicom_without_pixel_data():
    ds = read_back(dicom_factory.make_dx(rows=8, columns=8))
    del ds.PixelData
    assert fast_bytes(ds) == pydicom_bytes(ds)


# --------------------------------------------------------------------------------------------
# lookup: the table lookup behind to_uint8
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.dtype("<u2")])
def test_lookup_equals_indexing(dtype):
    rng = np.random.default_rng(5)
    bits = 8 * np.dtype(dtype).itemsize
    table = rng.integers(0, 256, 2**bits).astype(np.uint8)
    index = rng.integers(0, 2**bits, (300, 517)).astype(dtype)
    np.testing.assert_array_equal(lookup(table, index), table[index])
    strided = index[::3, ::2]  # not contiguous
    np.testing.assert_array_equal(lookup(table, strided), table[strided])
    with pytest.raises(ValueError, match="cannot be indexed"):
        lookup(table[:100], index)


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def dx_bytes(identity: int, **attributes) -> bytes:
    return dicom_factory.to_bytes(dicom_factory.make_dx(identity=identity, **attributes))


def test_a_batch_commits_in_order_with_duplicates_and_rejections_in_place(personas):
    team = personas.team
    items = [
        services.prepare_file(team, io.BytesIO(dx_bytes(1)), name="one"),
        services.prepare_file(team, io.BytesIO(b"junk"), name="junk"),
        services.prepare_file(team, io.BytesIO(dx_bytes(2)), name="two"),
        services.prepare_file(team, io.BytesIO(dx_bytes(1)), name="one again"),
    ]
    results = services.commit_prepared(team, items)
    assert [(r.name, r.status) for r in results] == [
        ("one", "imported"),
        ("junk", "rejected"),
        ("two", "imported"),
        ("one again", "duplicate"),
    ]
    assert results[3].sop_uid == results[0].sop_uid
    instances = Instance.objects.of_team(team).order_by("cache_row")
    assert [i.pk for i in instances] == [results[0].instance_id, results[2].instance_id]
    assert [i.cache_row for i in instances] == [0, 1]
    assert ImageCache.objects.get(team=team).rows == 2
    assert len(store_files()) == 2  # no temporary file left behind
    for instance in instances:
        expected = resize_u8(to_uint8(stored_dataset(instance)), settings.CACHE_IMAGE_SIZE)
        np.testing.assert_array_equal(services.cached_image(instance), expected)


def test_a_batch_that_fails_leaves_no_row_and_no_file(personas, monkeypatch):
    team = personas.team
    items = [services.prepare_file(team, io.BytesIO(dx_bytes(i)), name=str(i)) for i in (1, 2)]

    def broken(self):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services._CacheRows, "save", broken)
    with pytest.raises(RuntimeError, match="disk is full"):
        services.commit_prepared(team, items)
    assert not Instance.objects.exists() and not Study.objects.exists()
    assert store_files() == []


def test_a_study_created_meanwhile_by_another_import_is_joined_not_duplicated(
    personas, monkeypatch
):
    """Under PostgreSQL a concurrent import can create the study after this batch looked it up:
    the insert fails, the file's savepoint rolls back, and the retry uses the winner's row."""
    team = personas.team
    first = services.ingest_file(team, io.BytesIO(dx_bytes(1)), name="first")
    sibling = dx_bytes(1, SOPInstanceUID=dicom_factory.new_uid("3.1.2"))
    item = services.prepare_file(team, io.BytesIO(sibling), name="sibling")
    load = services._Parents.load
    calls = []

    def stale_first_look(self, found):
        calls.append(len(found))
        if len(calls) > 1:  # the retry looks again
            load(self, found)

    monkeypatch.setattr(services._Parents, "load", stale_first_look)
    (result,) = services.commit_prepared(team, [item])
    assert result.status == "imported" and calls == [1, 1]
    assert Study.objects.of_team(team).count() == 1
    instance = Instance.objects.get(pk=result.instance_id)
    assert instance.study_id == Instance.objects.get(pk=first.instance_id).study_id
    assert instance.cache_row == 1 and ImageCache.objects.get(team=team).rows == 2


def test_commit_in_batches_spans_several_transactions(personas, monkeypatch):
    monkeypatch.setattr(services, "COMMIT_BATCH", 2)
    team = personas.team
    prepared = (
        services.prepare_file(team, io.BytesIO(dx_bytes(i)), name=str(i)) for i in range(1, 6)
    )
    results = list(services.commit_in_batches(team, prepared))
    assert [r.status for r in results] == ["imported"] * 5
    rows = [Instance.objects.get(pk=r.instance_id).cache_row for r in results]
    assert rows == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------------------------
# manage.py ingest with worker processes
# --------------------------------------------------------------------------------------------


def ingest(*args: str) -> dict:
    out = io.StringIO()
    call_command("ingest", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def a_folder_and_an_archive(root: Path) -> tuple[Path, Path]:
    folder = root / "folder"
    folder.mkdir()
    for i in range(1, 6):
        dicom_factory.write(dicom_factory.make_dx(identity=i), folder / f"{i:02d}.dcm")
    (folder / "notes.txt").write_text("not a dicom file")
    archive = root / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(6, 9):
            zf.writestr(f"export/{i:02d}.dcm", dx_bytes(i))
        zf.writestr("export/03.dcm", dx_bytes(3))  # also in the folder
        zf.writestr("../escape.dcm", dx_bytes(9))
    return folder, archive


@pytest.mark.django_db(transaction=True)
def test_ingest_with_worker_processes_matches_one_process(personas, tmp_path, monkeypatch):
    folder, archive = a_folder_and_an_archive(tmp_path)
    pids = tmp_path / "pids"
    prepare = services.prepare_file

    def recording(*args, **kwargs):
        with open(pids, "a") as fp:
            fp.write(f"{os.getpid()}\n")
        return prepare(*args, **kwargs)

    monkeypatch.setattr(services, "prepare_file", recording)  # forked workers inherit it
    team, other = personas.team, personas.other_team

    parallel = ingest("--team", team.name, "--workers", "2", str(archive), str(folder))
    workers = set(pids.read_text().split())
    pids.unlink()
    serial = ingest("--team", other.name, "--workers", "1", str(archive), str(folder))

    assert str(os.getpid()) not in workers and 1 <= len(workers) <= 2
    assert set(pids.read_text().split()) == {str(os.getpid())}
    for result in (parallel, serial):
        assert (result["imported"], result["duplicate"], result["rejected"]) == (8, 1, 2)
        codes = sorted(r["code"] for r in result["rejected_files"])
        assert codes == ["bad_archive_entry", "not_dicom"]

    # Files in sorted path order, each archive's entries in archive order: the archive's copy
    # of 03 comes first, the folder's is the duplicate.
    for of_team in (team, other):
        secret = services.team_secret(of_team)
        order = [deid.accession_for(secret, f"ACC{i:05d}") for i in (6, 7, 8, 3, 1, 2, 4, 5)]
        instances = Instance.objects.of_team(of_team).order_by("cache_row")
        assert [i.cache_row for i in instances] == list(range(8))
        assert [i.study.accession_number for i in instances] == order
    assert ImageCache.objects.get(team=team).rows == 8
    assert len(store_files()) == 16  # 8 per team, no temporary files
    for instance in Instance.objects.of_team(team):
        expected = resize_u8(to_uint8(stored_dataset(instance)), settings.CACHE_IMAGE_SIZE)
        np.testing.assert_array_equal(services.cached_image(instance), expected)


def test_ingest_refuses_zero_workers(personas, tmp_path):
    path = dicom_factory.write(dicom_factory.make_dx(), tmp_path / "a.dcm")
    with pytest.raises(CommandError, match="--workers"):
        ingest("--team", personas.team.name, "--workers", "0", str(path))


@pytest.mark.django_db(transaction=True)
def test_a_worker_error_stops_the_import_and_leaves_no_temporary_file(
    personas, tmp_path, monkeypatch
):
    folder, _archive = a_folder_and_an_archive(tmp_path)
    prepare = services.prepare_file

    def full_disk_on_the_third(team, source, *, name):
        if str(source).endswith("03.dcm"):
            time.sleep(1)  # meanwhile the other worker prepares the files after it
            raise OSError(28, "No space left on device", str(source))
        return prepare(team, source, name=name)

    monkeypatch.setattr(services, "prepare_file", full_disk_on_the_third)
    with pytest.raises(CommandError, match="No space left on device"):
        ingest("--team", personas.team.name, "--workers", "2", str(folder))
    assert not Instance.objects.exists()
    assert [p for p in store_files() if p.suffix == ".part"] == []
