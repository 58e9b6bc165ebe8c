"""What the upload API and pages tell people about their files: an empty file says so, a zip
archive says what it held, an image that is not a chest radiograph carries a note and a badge,
and the upload page's reports example imports as shown."""

import html
import io
import json
import re
import zipfile

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from labeling import services, uploads
from labeling.dicom.rules import REJECT_CODES
from labeling.models import Instance, Report
from tests import dicom_factory


def dicom_bytes(identity: int, **attributes) -> bytes:
    return dicom_factory.to_bytes(dicom_factory.make_dx(identity=identity, **attributes))


def upload_of(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, "application/octet-stream")


def zip_of(members: dict[str, bytes], name: str = "export.zip") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return upload_of(name, buffer.getvalue())


@pytest.fixture
def api(personas) -> APIClient:
    client = APIClient()
    client.force_authenticate(personas.owner)
    return client


def post_files(api: APIClient, *files, **headers) -> dict:
    response = api.post(
        reverse("api-uploads"), {"files": list(files)}, format="multipart", **headers
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def stored_files() -> list:
    return [p for p in settings.DICOM_STORE_DIR.rglob("*") if p.is_file()]


# ------------------------------------------------------------------------------------------
# An empty file
# ------------------------------------------------------------------------------------------


def test_an_empty_file_says_the_file_is_empty_and_the_others_go_on(api, personas):
    body = post_files(api, upload_of("blank.dcm", b""), upload_of("img1.dcm", dicom_bytes(1)))
    assert body["counts"] == {"imported": 1, "duplicate": 0, "rejected": 1}
    blank, good = body["results"]
    assert blank == {
        "status": "rejected",
        "name": "blank.dcm",
        "code": "not_dicom",
        "reason": "the file is empty",
    }
    assert good["status"] == "imported"
    assert Instance.objects.of_team(personas.team).count() == 1 and len(stored_files()) == 1


def test_only_an_empty_file_is_a_200_that_changes_nothing(api):
    response = api.post(reverse("api-uploads"), {"files": [upload_of("blank.dcm", b"")]})
    assert response.status_code == 200
    assert response.json()["results"][0]["reason"] == "the file is empty"
    assert not Instance.objects.exists() and not stored_files()


def test_the_empty_file_message_is_in_the_readers_language(api):
    body = post_files(api, upload_of("blank.dcm", b""), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert body["results"][0]["reason"] == "文件是空的"


def test_an_empty_member_of_a_zip_says_the_file_is_empty(api):
    body = post_files(api, zip_of({"a/blank.dcm": b"", "a/img1.dcm": dicom_bytes(1)}))
    rejected = [r for r in body["results"] if r["status"] == "rejected"]
    assert rejected == [
        {
            "status": "rejected",
            "name": "export.zip:a/blank.dcm",
            "code": "not_dicom",
            "reason": "the file is empty",
        }
    ]


def test_an_empty_file_ingested_from_disk_says_so_too(personas, tmp_path):
    blank = tmp_path / "blank.dcm"
    blank.write_bytes(b"")
    result = services.ingest_file(personas.team, blank, name="blank.dcm")
    assert (result.status, result.code, result.reason) == (
        "rejected",
        "not_dicom",
        "the file is empty",
    )


def test_an_empty_reports_file_is_a_400_that_says_so(api):
    response = api.post(reverse("api-reports-import"), {"file": upload_of("reports.csv", b"")})
    assert response.status_code == 400
    assert response.json() == {"file": ["the file is empty"]}
    assert not Report.objects.exists()


def test_an_empty_list_of_files_is_still_a_400_with_a_message(api):
    response = api.post(reverse("api-uploads"), {}, format="multipart")
    assert response.status_code == 400
    assert isinstance(response.json()["files"][0], str)


# ------------------------------------------------------------------------------------------
# What a rejection means, in words
# ------------------------------------------------------------------------------------------


def test_a_rejection_says_what_is_wrong_before_the_readers_detail(api):
    cut = dicom_bytes(1)[:700]
    body = post_files(api, upload_of("notes.txt", b"hello"), upload_of("cut.dcm", cut))
    text, truncated = body["results"]
    assert (text["code"], text["headline"]) == ("not_dicom", "not a DICOM file")
    assert text["reason"]  # the reader's own words stay, for whoever can use them
    assert truncated["headline"] == str(uploads.HEADLINES[truncated["code"]])


def test_the_headline_is_in_the_readers_language(api):
    body = post_files(api, upload_of("notes.txt", b"hello"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert body["results"][0]["headline"] == "不是 DICOM 文件"


def test_every_rejection_code_has_a_headline():
    storage_codes = {"bad_archive", "bad_archive_entry", "unreadable"}
    assert set(uploads.HEADLINES) == REJECT_CODES | storage_codes


# ------------------------------------------------------------------------------------------
# A zip archive's own line
# ------------------------------------------------------------------------------------------


def test_a_zip_says_how_many_files_it_held_and_what_became_of_them(api, personas):
    post_files(api, upload_of("img2.dcm", dicom_bytes(2)))
    bundle = zip_of(
        {
            "study/": b"",  # a folder: not a file, not counted
            "study/img1.dcm": dicom_bytes(1),
            "study/img2.dcm": dicom_bytes(2),  # already there
            "study/readme.txt": b"hello",
            "study/img3.dcm": dicom_bytes(3),
        }
    )
    body = post_files(api, upload_of("single.dcm", dicom_bytes(4)), bundle)
    assert body["counts"] == {"imported": 3, "duplicate": 1, "rejected": 1}
    assert body["archives"] == [
        {
            "name": "export.zip",
            "files": 4,
            "counts": {"imported": 2, "duplicate": 1, "rejected": 1},
            "not_chest_radiographs": 0,
            "summary": "held 4 files: 2 imported, 1 already there, 1 rejected",
        }
    ]
    names = [r["name"] for r in body["results"]]
    assert names == [
        "single.dcm",
        "export.zip:study/img1.dcm",
        "export.zip:study/img2.dcm",
        "export.zip:study/readme.txt",
        "export.zip:study/img3.dcm",
    ]


def test_a_zip_summary_reads_in_chinese(api):
    body = post_files(api, zip_of({"img1.dcm": dicom_bytes(1)}), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert body["archives"][0]["summary"] == "共 1 个文件：已导入 1，已存在 0，已拒绝 0"


def test_an_empty_zip_says_it_held_no_files(api):
    body = post_files(api, zip_of({}))
    assert body["results"] == []
    assert body["archives"][0]["files"] == 0
    assert body["archives"][0]["summary"] == "held 0 files: 0 imported, 0 already there, 0 rejected"


def test_an_archive_refused_whole_has_its_reason_and_no_summary(api, monkeypatch):
    monkeypatch.setattr(services, "MAX_ZIP_ENTRIES", 1)
    body = post_files(api, zip_of({"a.dcm": dicom_bytes(1), "b.dcm": dicom_bytes(2)}))
    assert body["archives"] == []
    (result,) = body["results"]
    assert (result["name"], result["code"]) == ("export.zip", "bad_archive")
    assert "at most 1 per archive" in result["reason"]
    assert not Instance.objects.exists()


# ------------------------------------------------------------------------------------------
# Images that are not chest radiographs
# ------------------------------------------------------------------------------------------


def test_a_ct_image_is_imported_with_a_note(api, personas):
    body = post_files(
        api,
        upload_of("ct.dcm", dicom_bytes(1, Modality="CT")),
        upload_of("unstated.dcm", dicom_bytes(2, Modality=None)),
        upload_of("cr.dcm", dicom_bytes(3, Modality="CR")),
        upload_of("dx.dcm", dicom_bytes(4)),
    )
    assert body["counts"]["imported"] == 4
    ct, unstated, cr, dx = body["results"]
    assert ct["modality"] == "CT"
    assert ct["note"] == "modality CT: this lab is for chest radiographs (CR, DX)"
    assert unstated["modality"] == ""
    assert unstated["note"] == "no modality stated: this lab is for chest radiographs (CR, DX)"
    assert "note" not in cr and "note" not in dx
    assert Instance.objects.of_team(personas.team).count() == 4


def test_a_duplicate_ct_image_keeps_its_note_and_chinese_reads_too(api):
    post_files(api, upload_of("ct.dcm", dicom_bytes(1, Modality="CT")))
    body = post_files(
        api,
        upload_of("ct-again.dcm", dicom_bytes(1, Modality="CT")),
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    (result,) = body["results"]
    assert result["status"] == "duplicate"
    assert result["note"] == "检查类型 CT：本平台用于胸部 X 线片（CR、DX）"


def test_a_zip_counts_its_images_that_are_not_chest_radiographs(api):
    bundle = zip_of(
        {
            "ct.dcm": dicom_bytes(1, Modality="CT"),
            "mr.dcm": dicom_bytes(2, Modality="MR"),
            "dx.dcm": dicom_bytes(3),
        }
    )
    (archive,) = post_files(api, bundle)["archives"]
    assert archive["not_chest_radiographs"] == 2
    assert archive["summary"] == (
        "held 3 files: 3 imported, 0 already there, 0 rejected; "
        "2 images are not chest radiographs (CR, DX)"
    )


def test_the_note_looks_only_at_the_uploaders_team(api, personas):
    """The other team holds the same UID as CT; ours is DX: no note, and nothing of theirs."""
    services.ingest_file(
        personas.other_team, io.BytesIO(dicom_bytes(1, Modality="CT")), name="theirs.dcm"
    )
    (result,) = post_files(api, upload_of("ours.dcm", dicom_bytes(1)))["results"]
    assert result["status"] == "imported" and "note" not in result


def test_study_list_and_page_show_a_badge_for_other_modalities(client, personas):
    for identity, modality in ((1, "CT"), (2, "DX")):
        services.ingest_file(
            personas.team,
            io.BytesIO(dicom_bytes(identity, Modality=modality)),
            name=f"{identity}.dcm",
        )
    client.force_login(personas.owner)
    listing = client.get(reverse("labeling:study-list")).content.decode()
    badges = re.findall(
        r'<span class="badge modality-note" title="([^"]*)">([^<]*)</span>', listing
    )
    assert badges == [("modality CT: this lab is for chest radiographs (CR, DX)", "CT")]
    ct_study = Instance.objects.get(series__modality="CT").study
    detail = client.get(reverse("labeling:study-detail", args=[ct_study.pk])).content.decode()
    assert '<span class="badge modality-note"' in detail and ">CT</span>" in detail
    dx_study = Instance.objects.get(series__modality="DX").study
    detail = client.get(reverse("labeling:study-detail", args=[dx_study.pk])).content.decode()
    assert "modality-note" not in detail


def test_the_study_list_badge_costs_no_query_per_study(
    client, personas, django_assert_max_num_queries
):
    client.force_login(personas.owner)
    for identity in range(1, 4):
        services.ingest_file(
            personas.team, io.BytesIO(dicom_bytes(identity, Modality="CT")), name=f"{identity}.dcm"
        )
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("labeling:study-list"))
    for identity in range(4, 12):
        services.ingest_file(
            personas.team, io.BytesIO(dicom_bytes(identity, Modality="CT")), name=f"{identity}.dcm"
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("labeling:study-list")).content.decode()
    assert page.count("badge modality-note") == 11


# ------------------------------------------------------------------------------------------
# The upload page: the reports file's columns and an example that imports as shown
# ------------------------------------------------------------------------------------------


def test_the_upload_page_names_the_reports_columns_and_its_example_imports(client, api, personas):
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:upload")).content.decode()
    for column in ("accession_number", "study_instance_uid", "diagnosis", "findings"):
        assert f"<code>{column}</code>" in page
    example = html.unescape(
        re.search(r'<pre class="example" id="reports-example">(.*?)</pre>', page, re.S)[1]
    )
    post_files(api, upload_of("img1.dcm", dicom_bytes(1)))  # accession ACC00001
    upload = SimpleUploadedFile("reports.csv", example.encode(), "text/csv")
    response = api.post(reverse("api-reports-import"), {"file": upload}, format="multipart")
    assert response.json()["created"] == 1 and response.json()["unknown_keys"] == ["ACC00002"]
    report = Report.objects.get()
    assert report.diagnosis == "1.双肺纹理增多 2.主动脉硬化"
    assert report.findings == "两肺纹理增多，心影不大。"


def test_the_upload_page_reads_in_chinese(client, personas):
    client.force_login(personas.owner)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(reverse("labeling:upload")).content.decode()
    assert "报告文件包含什么" in page
    script = r'<script id="upload-messages" type="application/json">(.*?)</script>'
    messages = json.loads(re.search(script, page, re.S)[1])
    assert messages["archive"] == "压缩包" and messages["rejected"] == "已拒绝"
