"""Pulling studies from a hospital PACS over DICOMweb (dicomweb-client, not hand-written HTTP).

Search runs in the request (QIDO-RS is quick and bounded by ``limit``); retrieval runs as a job
(kind ``pacs_pull``, in ``labeling/jobs.py``) that fetches one instance at a time (WADO-RS)
and hands each to the same ingest service as every other import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import requests
from dicomweb_client.api import DICOMwebClient

from .models import PacsConnection

log = logging.getLogger("labeling.pacs")
SEARCH_LIMIT = 200
PACS_ERRORS = (requests.RequestException, ValueError)


class PacsError(Exception):
    """The PACS could not be reached or answered something unusable; the message says which."""


@dataclass(frozen=True)
class RemoteStudy:
    study_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    accession_number: str
    modalities: str
    description: str
    instances: int | None


def session_for(connection: PacsConnection) -> requests.Session:
    """An HTTP session that logs in to the PACS with the team's credentials."""
    session = requests.Session()
    if connection.username:
        session.auth = (connection.username, connection.password)
    return session


def client_for(connection: PacsConnection) -> DICOMwebClient:
    return DICOMwebClient(connection.url, session=session_for(connection), timeout=(5, 60))


def search(
    connection: PacsConnection,
    *,
    patient: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    modality: str = "",
    accession: str = "",
) -> list[RemoteStudy]:
    filters: dict[str, str] = {}
    if patient:
        filters["PatientID"] = patient
    if accession:
        filters["AccessionNumber"] = accession
    if modality:
        filters["ModalitiesInStudy"] = modality
    if date_from or date_to:
        start = date_from.strftime("%Y%m%d") if date_from else ""
        end = date_to.strftime("%Y%m%d") if date_to else ""
        filters["StudyDate"] = f"{start}-{end}"
    fields = ["StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"]
    try:
        found = client_for(connection).search_for_studies(
            search_filters=filters, limit=SEARCH_LIMIT, fields=fields
        )
    except PACS_ERRORS as exc:
        raise PacsError(f"the PACS at {connection.url} did not answer the search: {exc}") from exc
    return [_remote_study(item) for item in found]


def _remote_study(item: dict) -> RemoteStudy:
    def value(tag: str) -> str:
        values = item.get(tag, {}).get("Value") or [""]
        first = values[0]
        if isinstance(first, dict):  # person names
            return str(first.get("Alphabetic", ""))
        return "\\".join(str(v) for v in values) if tag == "00080061" else str(first)

    count = value("00201208")
    return RemoteStudy(
        study_uid=value("0020000D"),
        patient_id=value("00100020"),
        patient_name=value("00100010"),
        study_date=value("00080020"),
        accession_number=value("00080050"),
        modalities=value("00080061"),
        description=value("00081030"),
        instances=int(count) if count.isdigit() else None,
    )
