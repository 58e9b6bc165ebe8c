"""Uploaded files to the ingest service: one DICOM file or one zip archive per upload."""

import zipfile

from django.core.files.uploadedfile import UploadedFile

from teams.models import Team

from . import services
from .services import IngestResult


def ingest_upload(team: Team, upload: UploadedFile) -> list[IngestResult]:
    name = upload.name or "upload"
    upload.seek(0)
    if zipfile.is_zipfile(upload):
        upload.seek(0)
        return services.ingest_zip(team, upload, name=name)
    upload.seek(0)
    return [services.ingest_file(team, upload, name=name)]


def summarise(results: list[IngestResult]) -> dict:
    counts = {"imported": 0, "duplicate": 0, "rejected": 0}
    for result in results:
        counts[result.status] += 1
    return {"counts": counts, "results": [result.as_dict() for result in results]}
