"""POST /api/uploads/ and /api/reports/import/: results per file, roles, limits, bad input."""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.models import Instance, Report, Study
from tests import dicom_factory


def dicom_file(identity: int, name: str | None = None) -> SimpleUploadedFile:
    data = dicom_factory.to_bytes(dicom_factory.make_dx(identity=identity))
    return SimpleUploadedFile(name or f"img{identity}.dcm", data, "application/dicom")


def zip_file(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return SimpleUploadedFile("export.zip", buffer.getvalue(), "application/zip")


@pytest.fixture
def api(personas) -> APIClient:
    client = APIClient()
    client.force_authenticate(personas.owner)
    return client


def test_files_and_a_zip_come_back_one_result_each(api, personas):
    bundle = zip_file(
        {
            "a/img3.dcm": dicom_factory.to_bytes(dicom_factory.make_dx(identity=3)),
            "/etc/passwd": b"root:x:0:0",
            "readme.txt": b"hello",
        }
    )
    response = api.post(
        reverse("api-uploads"),
        {"files": [dicom_file(1), dicom_file(2), dicom_file(1, "again.dcm"), bundle]},
        format="multipart",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["counts"] == {"imported": 3, "duplicate": 1, "rejected": 2}
    rejected = {r["name"]: r["code"] for r in body["results"] if r["status"] == "rejected"}
    assert rejected == {
        "export.zip:/etc/passwd": "bad_archive_entry",
        "export.zip:readme.txt": "not_dicom",
    }
    assert Instance.objects.of_team(personas.team).count() == 3


def test_a_zip_bomb_is_refused_without_expanding_it(api, personas):
    bomb = zip_file({"bomb.dcm": bytes(50 * 1024 * 1024)})
    body = api.post(reverse("api-uploads"), {"files": [bomb]}, format="multipart").json()
    assert body["counts"]["rejected"] == 1
    assert "zip bomb" in body["results"][0]["reason"]
    assert not Instance.objects.exists()


def test_a_viewer_may_not_import(personas):
    client = APIClient()
    client.force_authenticate(personas.teammate)
    response = client.post(reverse("api-uploads"), {"files": [dicom_file(1)]}, format="multipart")
    assert response.status_code == 403
    assert not Instance.objects.exists()


def test_an_outsider_cannot_name_another_team(personas):
    client = APIClient()
    client.force_authenticate(personas.outsider)
    response = client.post(
        reverse("api-uploads"),
        {"files": [dicom_file(1)], "team": personas.team.slug},
        format="multipart",
    )
    assert response.status_code == 404
    assert not Instance.objects.exists()


def test_no_files_is_a_400(api):
    response = api.post(reverse("api-uploads"), {}, format="multipart")
    assert response.status_code == 400 and "files" in response.json()


def test_an_upload_over_the_limit_is_413_and_stores_nothing(api, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    response = api.post(reverse("api-uploads"), {"files": [dicom_file(1)]}, format="multipart")
    assert response.status_code == 413 and "CXR_UPLOAD_MAX_MB" in response.json()["detail"]
    assert not Instance.objects.exists()


def test_reports_import_matches_studies_and_lists_unknown_keys(api, personas):
    api.post(reverse("api-uploads"), {"files": [dicom_file(1)]}, format="multipart")
    lines = [
        {"accession_number": "ACC00001", "findings": "两肺纹理增多", "diagnosis": "1.双肺纹理增多"},
        {"accession_number": "NOPE", "findings": "", "diagnosis": "胸部未见明显异常"},
    ]
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    upload = SimpleUploadedFile("reports.jsonl", data, "application/json")
    response = api.post(reverse("api-reports-import"), {"file": upload}, format="multipart")
    assert response.status_code == 200
    assert response.json()["created"] == 1 and response.json()["unknown_keys"] == ["NOPE"]
    study = Study.objects.of_team(personas.team).get()
    assert study.report.diagnosis == "1.双肺纹理增多"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"accession,text\nA1,x\n", "needs a diagnosis column"),
        (b"\xff\xfe\x00garbage\x81\x30", "neither UTF-8 nor GB18030"),
        (b'{"accession_number": "A1"\n', "line 1 is not valid JSON"),
    ],
)
def test_a_bad_reports_file_is_a_400_and_imports_nothing(api, content, message):
    upload = SimpleUploadedFile("reports.csv", content, "text/csv")
    response = api.post(reverse("api-reports-import"), {"file": upload}, format="multipart")
    assert response.status_code == 400 and message in response.json()["file"][0]
    assert not Report.objects.exists()


def test_the_upload_page_offers_import_to_curators_only(client, personas):
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:upload")).content.decode()
    assert 'id="dropzone"' in page
    client.force_login(personas.teammate)
    page = client.get(reverse("labeling:upload")).content.decode()
    assert 'id="dropzone"' not in page
