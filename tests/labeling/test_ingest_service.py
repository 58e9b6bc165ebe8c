"""The ingest service: one row and one file per UID, the training cache, quarantine, races."""

import io
import os
import threading

import numpy as np
import pydicom
import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from PIL import Image
from pydicom import uid as dcm_uid

from labeling import reports, services
from labeling.cache import ArrayStore
from labeling.dicom import read_dicom, resize_u8, to_uint8
from labeling.models import ImageCache, Instance, Series, Study
from tests import dicom_factory


def dicom_bytes(**kwargs) -> bytes:
    return dicom_factory.to_bytes(dicom_factory.make_dx(**kwargs))


def store_files() -> list:
    return [p for p in settings.DICOM_STORE_DIR.rglob("*") if p.is_file()]


def test_an_imported_image_is_cached_as_the_pipeline_renders_it(personas):
    data = dicom_bytes(rows=96, columns=80)
    result = services.ingest_file(personas.team, io.BytesIO(data), name="a.dcm")
    assert result.status == "imported"
    instance = Instance.objects.get(pk=result.instance_id)
    expected = resize_u8(to_uint8(read_dicom(io.BytesIO(data), max_bytes=1 << 20)), 256)
    assert instance.cache_row == 0
    np.testing.assert_array_equal(services.cached_image(instance), expected)
    assert ImageCache.objects.get(team=personas.team).rows == 1


def test_the_thumbnail_is_the_cached_image(client, personas):
    result = services.ingest_file(personas.team, io.BytesIO(dicom_bytes()), name="a.dcm")
    client.force_login(personas.teammate)
    response = client.get(reverse("labeling:instance-thumbnail", args=[result.instance_id]))
    shown = np.asarray(Image.open(io.BytesIO(response.content)))
    instance = Instance.objects.get(pk=result.instance_id)
    np.testing.assert_array_equal(shown, services.cached_image(instance))


def test_cache_rows_follow_each_other_and_stay_per_team(personas):
    for identity in (1, 2, 3):
        services.ingest_file(personas.team, io.BytesIO(dicom_bytes(identity=identity)), name="x")
    services.ingest_file(personas.other_team, io.BytesIO(dicom_bytes(identity=9)), name="y")
    rows = sorted(Instance.objects.of_team(personas.team).values_list("cache_row", flat=True))
    assert rows == [0, 1, 2]
    assert Instance.objects.of_team(personas.other_team).get().cache_row == 0
    assert services.cache_store(personas.team).open(3).shape == (3, 256, 256)


def test_an_undecodable_image_is_kept_flagged_and_shown_as_an_error_tile(client, personas):
    ds = dicom_factory.make_dx(syntax=dcm_uid.JPEG2000Lossless)
    frame = bytearray(ds.PixelData)
    frame[40:] = bytes(len(frame) - 40)  # the codestream header survives, the data does not
    ds.PixelData = bytes(frame)
    result = services.ingest_file(personas.team, io.BytesIO(dicom_factory.to_bytes(ds)), name="j")
    assert result.status == "imported"
    instance = Instance.objects.get(pk=result.instance_id)
    assert instance.decode_error and instance.cache_row is None
    client.force_login(personas.owner)
    response = client.get(reverse("labeling:instance-thumbnail", args=[instance.pk]))
    assert response.status_code == 200 and response["X-Decode-Error"] == instance.decode_error


def test_burned_in_annotation_is_quarantined(personas):
    data = dicom_bytes(BurnedInAnnotation="YES")
    result = services.ingest_file(personas.team, io.BytesIO(data), name="burned.dcm")
    assert Instance.objects.get(pk=result.instance_id).quarantined


def test_an_import_from_a_path_leaves_the_source_out_of_the_page_cache(personas, tmp_path):
    source = dicom_factory.write(dicom_factory.make_dx(), tmp_path / "export.dcm")
    os.sync()  # clean pages, which the kernel may drop
    assert services.ingest_file(personas.team, source, name="export.dcm").status == "imported"
    assert dicom_factory.cached_pages(source) == 0
    assert source.read_bytes() == dicom_bytes()  # the source itself is untouched


def test_a_rejected_file_leaves_no_row_and_no_file(personas):
    result = services.ingest_file(personas.team, io.BytesIO(b"not dicom at all"), name="x.txt")
    assert (result.status, result.code) == ("rejected", "not_dicom")
    truncated = dicom_bytes()[:-500]
    assert services.ingest_file(personas.team, io.BytesIO(truncated), name="t").status == "rejected"
    assert not Instance.objects.exists() and not Study.objects.exists()
    assert store_files() == []


def test_the_store_path_comes_from_the_uid_never_the_client_name(personas):
    result = services.ingest_file(
        personas.team, io.BytesIO(dicom_bytes()), name="../../etc/passwd.dcm"
    )
    instance = Instance.objects.get(pk=result.instance_id)
    assert instance.file_path == str(services.store_path(personas.team, instance.sop_uid))
    assert "passwd" not in instance.file_path and ".." not in instance.file_path
    stored = pydicom.dcmread(settings.DICOM_STORE_DIR / instance.file_path)
    assert stored.SOPInstanceUID == instance.sop_uid


def test_deidentification_can_be_turned_off_per_team(personas):
    personas.team.deidentify = False
    personas.team.save()
    result = services.ingest_file(personas.team, io.BytesIO(dicom_bytes()), name="a")
    study = Instance.objects.get(pk=result.instance_id).study
    assert (study.patient_id, study.accession_number) == ("PID0001", "ACC00001")


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_uploads_of_one_study_leave_one_row_per_uid(personas):
    files = [
        dicom_bytes(identity=1, SOPInstanceUID=f"1.2.826.0.1.3680043.10.999.77.{i}")
        for i in range(4)
    ]
    results, errors = [], []

    def upload(data: bytes) -> None:
        try:
            results.append(services.ingest_file(personas.team, io.BytesIO(data), name="p"))
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(files[i % 4],)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.status for r in results).count("imported") == 4
    assert Instance.objects.count() == 4 and Study.objects.count() == 1
    assert Series.objects.count() == 1
    assert len(store_files()) == 4  # one file per UID, no temporary leftovers
    rows = sorted(Instance.objects.values_list("cache_row", flat=True))
    assert rows == [0, 1, 2, 3]


def test_array_store_round_trips_and_copies_rows_in_order(tmp_path):
    store = ArrayStore(tmp_path / "cache", 8)
    images = [np.full((8, 8), value, dtype=np.uint8) for value in (10, 20, 30)]
    for row, image in enumerate(images):
        store.write(row, image)
    np.testing.assert_array_equal(store.read(1), images[1])
    store.copy_rows([2, 0], tmp_path / "out.u8")
    copied = np.fromfile(tmp_path / "out.u8", dtype=np.uint8).reshape(2, 8, 8)
    assert copied[0, 0, 0] == 30 and copied[1, 0, 0] == 10
    with pytest.raises(ValueError, match="cache rows are 8×8 uint8"):
        store.write(3, np.zeros((4, 4), dtype=np.uint8))


def test_images_without_a_patient_id_each_become_their_own_patient(personas):
    for identity in (1, 2):
        data = dicom_bytes(identity=identity, PatientID=None)
        assert services.ingest_file(personas.team, io.BytesIO(data), name="n").status == "imported"
    patients = set(Study.objects.of_team(personas.team).values_list("patient_id", flat=True))
    assert len(patients) == 2 and "" not in patients


def test_without_deidentification_a_missing_patient_id_is_still_a_patient_of_its_own(personas):
    personas.team.deidentify = False
    personas.team.save()
    for identity in (1, 2):
        data = dicom_bytes(identity=identity, PatientID=None)
        services.ingest_file(personas.team, io.BytesIO(data), name="n")
    patients = set(Study.objects.of_team(personas.team).values_list("patient_id", flat=True))
    assert len(patients) == 2 and "" not in patients


def test_uid_remapping_is_consistent_and_reports_still_find_their_study(personas):
    personas.team.remap_uids = True
    personas.team.save()
    original = dicom_factory.make_dx(identity=4)
    for sop in ("1.2.826.0.1.3680043.10.999.90.1", "1.2.826.0.1.3680043.10.999.90.2"):
        data = dicom_factory.to_bytes(dicom_factory.make_dx(identity=4, SOPInstanceUID=sop))
        services.ingest_file(personas.team, io.BytesIO(data), name="r")
    study = Study.objects.of_team(personas.team).get()  # both files, one remapped study
    assert study.study_uid != original.StudyInstanceUID and study.study_uid.startswith("2.25.")
    assert study.instances.count() == 2
    assert not Instance.objects.filter(sop_uid__startswith="1.2.826.0.1.3680043.10.999.90").exists()
    line = f'{{"study_instance_uid": "{original.StudyInstanceUID}", "diagnosis": "主动脉硬化"}}'
    result = reports.import_reports(personas.team, line.encode(), source="r.jsonl")
    assert result.created == 1 and result.unknown_keys == []
