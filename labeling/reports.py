"""Report import: a CSV or JSONL file of findings and diagnoses, matched to the team's studies by
accession number or StudyInstanceUID (hashed the same way when the team remaps UIDs), in one
transaction. A file that cannot be read as a whole imports nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction

from teams.models import Team

from . import deid
from .models import Report, Study
from .services import team_secret


class ReportFileError(ValueError):
    """A reports file that cannot be read as a whole; nothing was imported."""


@dataclass
class ReportImport:
    created: int = 0
    updated: int = 0
    unknown_keys: list[str] = field(default_factory=list)
    encoding: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


KEY_COLUMNS = ("accession_number", "study_instance_uid")
TEXT_COLUMNS = ("findings", "diagnosis")


def import_reports(team: Team, data: bytes, *, source: str) -> ReportImport:
    """Import a CSV or JSONL reports file (UTF-8 or GB18030) in one transaction.

    Rows are matched to studies by StudyInstanceUID or accession number (de-identified accession
    numbers are matched through the same keyed pseudonym); a row whose key matches no study is
    listed in ``unknown_keys``, never dropped silently. Re-importing updates the text a file
    carries: a column (a JSONL key) the file lacks leaves that field as it was, and one it has
    sets it, to nothing where the cell is empty.
    """
    text, encoding = _decode(data)
    rows = list(_rows(text, source))
    result = ReportImport(encoding=encoding)
    with transaction.atomic():
        for row in rows:
            study = _study_for(team, row)
            if study is None:
                result.unknown_keys.append(
                    row.get("study_instance_uid") or row.get("accession_number", "")
                )
                continue
            given = {column: row[column] for column in TEXT_COLUMNS if column in row}
            _report, created = Report.objects.update_or_create(
                team=team,
                study=study,
                defaults={**given, "source": source[:255]},  # a new report: "" for the rest
            )
            if created:
                result.created += 1
            else:
                result.updated += 1
    return result


def _decode(data: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding.removesuffix("-sig")
        except UnicodeDecodeError:
            continue
    raise ReportFileError("the reports file is neither UTF-8 nor GB18030 text")


def _rows(text: str, source: str) -> Iterator[dict[str, str]]:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        yield from _jsonl_rows(text)
    else:
        yield from _csv_rows(text)


def _jsonl_rows(text: str) -> Iterator[dict[str, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportFileError(f"line {number} is not valid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise ReportFileError(f"line {number} is not a JSON object")
        yield _checked_row({k: "" if v is None else str(v) for k, v in record.items()}, number)


def _csv_rows(text: str) -> Iterator[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or [])
    if not columns & set(KEY_COLUMNS) or "diagnosis" not in columns:
        raise ReportFileError(
            "a reports CSV needs a diagnosis column and an accession_number or "
            f"study_instance_uid column; found: {', '.join(sorted(columns)) or 'no header'}"
        )
    for number, record in enumerate(reader, start=2):
        yield _checked_row({k: (v or "") for k, v in record.items() if k}, number)


def _checked_row(row: dict[str, str], number: int) -> dict[str, str]:
    row = {k.strip().lower(): v.strip() for k, v in row.items()}
    if not any(row.get(key) for key in KEY_COLUMNS):
        raise ReportFileError(f"row {number} has neither accession_number nor study_instance_uid")
    return row


def _study_for(team: Team, row: dict[str, str]) -> Study | None:
    studies = Study.objects.of_team(team)
    if row.get("study_instance_uid"):
        uids = [row["study_instance_uid"]]
        if team.deidentify and team.remap_uids:
            uids.append(deid.hashed_uid_map(team_secret(team))(row["study_instance_uid"]))
        study = studies.filter(study_uid__in=uids).first()
        if study is not None:
            return study
    accession = row.get("accession_number")
    if not accession:
        return None
    candidates = [accession]
    if team.deidentify:
        candidates.append(deid.accession_for(team_secret(team), accession))
    return studies.filter(accession_number__in=candidates).first()
