"""The upload page in chromium: the messages people read after dropping files.

An empty file says it is empty, a zip archive's row says what it held (its files in the rows
below it), an image that is not a chest radiograph shows its modality and a note, and a
structured error from the server is shown as its words, never as "[object Object]".

Set UPLOAD_SHOTS to a folder to keep the screenshots (English and Chinese).
"""

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from labeling.models import Instance
from tests import dicom_factory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def dicom_bytes(identity: int, **attributes) -> bytes:
    return dicom_factory.to_bytes(dicom_factory.make_dx(identity=identity, **attributes))


def archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("export/img1.dcm", dicom_bytes(1))
        bundle.writestr("export/ct.dcm", dicom_bytes(2, Modality="CT"))
        bundle.writestr("export/readme.txt", b"exported by the PACS")
        bundle.writestr("export/blank.dcm", b"")
    return buffer.getvalue()


def upload_files() -> list[dict]:
    return [
        {"name": "blank.dcm", "mimeType": "application/dicom", "buffer": b""},
        {"name": "export.zip", "mimeType": "application/zip", "buffer": archive()},
    ]


def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("UPLOAD_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_upload_page(login, live_server, user, language: str):
    page = login(user)
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}{reverse('labeling:upload')}")
    return page, errors


def rows(page) -> list[list[str]]:
    """The results table as text, the progress column left out."""
    return page.eval_on_selector_all(
        "#upload-results tbody tr",
        "trs => trs.map(tr => [...tr.cells].filter((c, i) => i !== 1).map(c => c.innerText.trim()))",
    )


def upload_and_wait(page, summary: str) -> None:
    page.set_input_files("#dicom-files", upload_files())
    page.wait_for_function(
        "text => document.getElementById('upload-summary').textContent === text", arg=summary
    )


def test_an_empty_file_and_a_zip_read_as_people_need(login, live_server, personas, tmp_path):
    page, errors = open_upload_page(login, live_server, personas.owner, "en")
    assert page.locator("#reports-help code", has_text="study_instance_uid").count() == 1
    assert "accession_number,findings,diagnosis" in page.inner_text("#reports-example")

    upload_and_wait(page, "2 imported, 0 already there, 3 rejected")
    table = rows(page)
    assert table[0] == ["blank.dcm", "rejected", "the file is empty"]
    assert table[1] == [
        "export.zip",
        "zip archive",
        "held 4 files: 2 imported, 0 already there, 2 rejected; "
        "1 image is not a chest radiograph (CR, DX)",
    ]
    assert table[2:] == [
        ["export.zip:export/img1.dcm", "imported", ""],
        [
            "export.zip:export/ct.dcm",
            "imported",
            "CT modality CT: this lab is for chest radiographs (CR, DX)",
        ],
        ["export.zip:export/readme.txt", "rejected", table[4][2]],
        ["export.zip:export/blank.dcm", "rejected", "the file is empty"],
    ]
    assert table[4][2].startswith("not a DICOM file: ")  # then the reader's own words
    badge = page.locator("#upload-results .badge.modality-note")
    assert badge.inner_text() == "CT"
    assert Instance.objects.of_team(personas.team).count() == 2
    page.screenshot(path=str(shots(tmp_path) / "upload-en.png"), full_page=True)
    assert "[object Object]" not in page.inner_text("#upload-results")

    # The study list marks the CT study with a badge, and only that one.
    page.goto(f"{live_server.url}{reverse('labeling:study-list')}")
    badge = page.locator("table.studies .badge.modality-note")
    assert badge.count() == 1 and badge.inner_text() == "CT"
    assert badge.get_attribute("title") == "modality CT: this lab is for chest radiographs (CR, DX)"
    page.screenshot(path=str(shots(tmp_path) / "studies-en.png"), full_page=True)
    assert not errors, errors


def test_the_page_and_its_results_read_in_chinese(login, live_server, personas, tmp_path):
    page, errors = open_upload_page(login, live_server, personas.owner, "zh-hans")
    assert "报告文件包含什么" in page.inner_text("#reports-help")
    upload_and_wait(page, "已导入 2，已存在 0，已拒绝 3")
    table = rows(page)
    assert table[0] == ["blank.dcm", "已拒绝", "文件是空的"]
    assert table[1][1:] == [
        "压缩包",
        "共 4 个文件：已导入 2，已存在 0，已拒绝 2；1 张图像不是胸部 X 线片（CR、DX）",
    ]
    assert table[3][2] == "CT 检查类型 CT：本平台用于胸部 X 线片（CR、DX）"
    assert table[4][2].startswith("不是 DICOM 文件：")
    assert table[5][2] == "文件是空的"
    page.screenshot(path=str(shots(tmp_path) / "upload-zh.png"), full_page=True)
    assert not errors, errors


@pytest.mark.parametrize(
    "status, content_type, body, shown",
    [
        # DRF's shape for an item of a list field: what used to read "400: [object Object]".
        (
            400,
            "application/json",
            json.dumps({"files": {"0": ["The submitted file is empty."]}}),
            "The submitted file is empty.",
        ),
        (
            400,
            "application/json",
            json.dumps({"team": ["no such team"], "files": [{"name": ["too long"]}]}),
            "no such team too long",
        ),
        (
            500,
            "text/html",
            "<h1>Server Error</h1>",
            "the server could not handle this file (HTTP 500); try again, or tell the "
            "operator if it happens again",
        ),
    ],
)
def test_a_structured_error_shows_its_words(
    login, live_server, personas, status, content_type, body, shown
):
    page, errors = open_upload_page(login, live_server, personas.owner, "en")
    page.route(
        f"{live_server.url}{reverse('api-uploads')}",
        lambda route: route.fulfill(status=status, content_type=content_type, body=body),
    )
    page.set_input_files(
        "#dicom-files", [{"name": "x.dcm", "mimeType": "application/dicom", "buffer": b"x"}]
    )
    page.wait_for_function("() => document.getElementById('upload-summary').textContent !== ''")
    assert rows(page) == [["x.dcm", "rejected", shown]]
    assert not errors, errors


def test_an_empty_reports_file_says_so(login, live_server, personas):
    page, errors = open_upload_page(login, live_server, personas.owner, "en")
    page.set_input_files(
        "#reports-file", [{"name": "reports.csv", "mimeType": "text/csv", "buffer": b""}]
    )
    page.wait_for_function("() => document.getElementById('upload-summary').textContent !== ''")
    assert rows(page) == [["reports.csv", "rejected", "the file is empty"]]
    assert not errors, errors
