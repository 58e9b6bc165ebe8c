"""Re-importing reports changes only the text the file carries: a findings (or diagnosis)
column the file lacks leaves that field as it was; a column it has sets it, empty cells too."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.models import Report
from labeling.reports import import_reports
from tests.factories import make_study


def csv_file(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def jsonl_file(*records: dict) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


def report(study) -> Report:
    return Report.objects.get(study=study)


def test_a_reimport_without_a_findings_column_keeps_the_findings(personas):
    study = make_study(personas.team)
    first = csv_file("accession_number,findings,diagnosis",
                     f"{study.accession_number},两肺纹理增多,双肺纹理增多")  # fmt: skip
    import_reports(personas.team, first, source="first.csv")
    again = csv_file("accession_number,diagnosis", f"{study.accession_number},主动脉硬化")
    result = import_reports(personas.team, again, source="second.csv")
    assert (result.created, result.updated) == (0, 1)
    stored = report(study)
    assert (stored.findings, stored.diagnosis, stored.source) == (
        "两肺纹理增多", "主动脉硬化", "second.csv"
    )  # fmt: skip


def test_a_findings_column_with_an_empty_cell_sets_the_findings_to_nothing(personas):
    emptied, rewritten = make_study(personas.team), make_study(personas.team)
    header = "accession_number,findings,diagnosis"
    import_reports(personas.team, csv_file(
        header,
        f"{emptied.accession_number},两肺纹理增多,双肺纹理增多",
        f"{rewritten.accession_number},心影增大,心影增大",
    ), source="first.csv")  # fmt: skip
    import_reports(personas.team, csv_file(
        header,
        f"{emptied.accession_number},,双肺纹理增多",  # the column is there: the value is set
        f"{rewritten.accession_number},心影明显增大,心影增大",
    ), source="second.csv")  # fmt: skip
    assert report(emptied).findings == ""
    assert report(rewritten).findings == "心影明显增大"


def test_a_jsonl_record_changes_only_the_keys_it_has(personas):
    study = make_study(personas.team)
    key = study.accession_number
    import_reports(personas.team, jsonl_file(
        {"accession_number": key, "findings": "两肺纹理增多", "diagnosis": "双肺纹理增多"}
    ), source="first.jsonl")  # fmt: skip
    import_reports(personas.team, jsonl_file({"accession_number": key, "diagnosis": "主动脉硬化"}),
                   source="second.jsonl")  # fmt: skip
    assert (report(study).findings, report(study).diagnosis) == ("两肺纹理增多", "主动脉硬化")
    import_reports(personas.team, jsonl_file({"accession_number": key, "findings": "心影增大"}),
                   source="third.jsonl")  # fmt: skip
    assert (report(study).findings, report(study).diagnosis) == ("心影增大", "主动脉硬化")
    import_reports(personas.team, jsonl_file({"accession_number": key, "findings": None}),
                   source="fourth.jsonl")  # fmt: skip
    assert report(study).findings == ""  # null is a value: no findings


def test_a_new_report_from_a_file_without_findings_has_none(personas):
    study = make_study(personas.team)
    result = import_reports(personas.team, csv_file("accession_number,diagnosis",
                                                    f"{study.accession_number},主动脉硬化"),
                            source="r.csv")  # fmt: skip
    assert result.created == 1
    assert (report(study).findings, report(study).diagnosis) == ("", "主动脉硬化")


def test_the_import_api_keeps_the_findings_on_a_reimport_without_them(personas):
    study = make_study(personas.team)
    api = APIClient()
    api.force_authenticate(personas.owner)

    def post(name: str, content: bytes) -> dict:
        upload = SimpleUploadedFile(name, content, "text/csv")
        response = api.post(reverse("api-reports-import"), {"file": upload}, format="multipart")
        assert response.status_code == 200, response.content
        return response.json()

    post("first.csv", csv_file("accession_number,findings,diagnosis",
                               f"{study.accession_number},两肺纹理增多,双肺纹理增多"))  # fmt: skip
    assert (
        post(
            "second.csv",
            csv_file("accession_number,diagnosis", f"{study.accession_number},主动脉硬化"),
        )["updated"]
        == 1
    )
    assert report(study).findings == "两肺纹理增多"
