"""Uploaded files to the ingest service: one DICOM file or one zip archive per upload, and the
messages people read about them.

Each upload gives its results (one per file, an archive's in order) and, for an archive, a line
of its own: how many files it held and what became of them. Images that are not chest
radiographs are imported with a note (see modality.py). An empty file is refused here, before
the reader, with a message that says so.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext, gettext_lazy, ngettext

from teams.models import Team

from . import services
from .modality import is_chest_radiograph, modality_note
from .models import Instance
from .services import IngestResult

# What each rejection code means, in a few words people can act on; the reason after it is the
# reader's own, technical and in English. Every code of labeling.dicom.rules.REJECT_CODES and
# of the archive and storage steps has one (tests/labeling/test_import_messages.py).
HEADLINES = {
    "not_dicom": gettext_lazy("not a DICOM file"),
    "too_large": gettext_lazy("the file is too large"),
    "truncated": gettext_lazy("the file is cut short (an interrupted copy?)"),
    "bad_value": gettext_lazy("a value in the file is malformed"),
    "missing_uid": gettext_lazy("an identifying UID is missing"),
    "bad_uid": gettext_lazy("an identifying UID is malformed"),
    "no_pixel_data": gettext_lazy("the file holds no image"),
    "bad_dimensions": gettext_lazy("the image's size is out of range"),
    "bad_pixel_data": gettext_lazy("the image data is damaged"),
    "unsupported_transfer_syntax": gettext_lazy("the image's compression is not supported"),
    "decode_failed": gettext_lazy("the image cannot be decoded"),
    "bad_deflate": gettext_lazy("the deflated data is damaged"),
    "bad_archive": gettext_lazy("the zip archive cannot be used"),
    "bad_archive_entry": gettext_lazy("refused inside the archive"),
    "unreadable": gettext_lazy("the file cannot be read"),
}
# The words for a 0-byte file, here and in the reader (labeling/dicom/reading.py): plain enough
# without a headline, and said in the reader's language.
EMPTY = "the file is empty"

# Bound parameters per query when looking up the modalities of a large archive (SQLite allows
# 32766 in one statement).
LOOKUP_CHUNK = 500


@dataclass
class UploadOutcome:
    """What one uploaded file became: its results and, for a zip archive, ``archive`` set."""

    name: str
    archive: bool
    results: list[IngestResult]

    @property
    def refused_whole(self) -> bool:
        """An archive refused before any entry was read (not a readable zip, too many
        entries): its one result carries the archive's own name and reason."""
        return self.archive and [r.code for r in self.results] == ["bad_archive"]


def ingest_upload(team: Team, upload: UploadedFile) -> UploadOutcome:
    name = upload.name or "upload"
    if not upload.size:
        # Not a reader's business: there is nothing to read, and people should be told so.
        empty = IngestResult("rejected", name, code="not_dicom", reason=EMPTY)
        return UploadOutcome(name, False, [empty])
    upload.seek(0)
    if zipfile.is_zipfile(upload):
        upload.seek(0)
        return UploadOutcome(name, True, services.ingest_zip(team, upload, name=name))
    upload.seek(0)
    return UploadOutcome(name, False, [services.ingest_file(team, upload, name=name)])


def summarise(team: Team, outcomes: list[UploadOutcome]) -> dict:
    """The upload API's answer: ``counts`` and ``results`` over every file (archive entries
    included), and one line per archive in ``archives``."""
    results = [result for outcome in outcomes for result in outcome.results]
    notes = _modality_notes(team, results)
    return {
        "counts": _counts(results),
        "results": [_result_dict(result, notes) for result in results],
        "archives": [
            _archive_dict(outcome, notes)
            for outcome in outcomes
            if outcome.archive and not outcome.refused_whole
        ],
    }


def _counts(results: Iterable[IngestResult]) -> dict[str, int]:
    counts = {"imported": 0, "duplicate": 0, "rejected": 0}
    for result in results:
        counts[result.status] += 1
    return counts


def _result_dict(result: IngestResult, notes: dict[str, str]) -> dict:
    data = result.as_dict()
    if result.status == "rejected":
        if result.reason == EMPTY:  # plain enough without a headline
            data["reason"] = gettext(EMPTY)
        elif result.code in HEADLINES:
            data["headline"] = str(HEADLINES[result.code])
    if result.sop_uid in notes:
        data["modality"] = notes[result.sop_uid]
        data["note"] = modality_note(notes[result.sop_uid])
    return data


def _archive_dict(outcome: UploadOutcome, notes: dict[str, str]) -> dict:
    counts = _counts(outcome.results)
    other = sum(1 for result in outcome.results if result.sop_uid in notes)
    return {
        "name": outcome.name,
        "files": len(outcome.results),
        "counts": counts,
        "not_chest_radiographs": other,
        "summary": archive_summary(len(outcome.results), counts, other),
    }


def archive_summary(files: int, counts: dict[str, int], other: int = 0) -> str:
    """ "held 3 files: 1 imported, 0 already there, 2 rejected", in the reader's language."""
    held = ngettext(
        "held %(files)d file: %(imported)d imported, %(duplicate)d already there, "
        "%(rejected)d rejected",
        "held %(files)d files: %(imported)d imported, %(duplicate)d already there, "
        "%(rejected)d rejected",
        files,
    ) % {"files": files, **counts}
    if not other:
        return held
    note = ngettext(
        "%(count)d image is not a chest radiograph (CR, DX)",
        "%(count)d images are not chest radiographs (CR, DX)",
        other,
    ) % {"count": other}
    return gettext("%(held)s; %(note)s") % {"held": held, "note": note}


def _modality_notes(team: Team, results: list[IngestResult]) -> dict[str, str]:
    """SOP Instance UID -> modality, for the stored images (imported or already there) whose
    modality is not CR or DX."""
    uids = [r.sop_uid for r in results if r.status != "rejected" and r.sop_uid]
    found: dict[str, str] = {}
    for start in range(0, len(uids), LOOKUP_CHUNK):
        rows = Instance.objects.filter(
            team=team, sop_uid__in=uids[start : start + LOOKUP_CHUNK]
        ).values_list("sop_uid", "series__modality")
        found.update((uid, modality) for uid, modality in rows if not is_chest_radiograph(modality))
    return found


def page_messages() -> dict[str, str]:
    """What the upload page's script says, in the reader's language (labeling/upload.js)."""
    return {
        "queued": gettext("queued"),
        "uploading": gettext("uploading…"),
        "imported": gettext("imported"),
        "duplicate": gettext("already there"),
        "rejected": gettext("rejected"),
        "archive": gettext("zip archive"),
        "headline_reason": gettext("%(headline)s: %(reason)s"),
        "network": gettext("the connection failed; try again"),
        "server_error": gettext(
            "the server could not handle this file (HTTP %(status)s); try again, or tell the "
            "operator if it happens again"
        ),
        "unknown_keys": gettext("no study for:"),
        "reports_done": gettext("%(created)s reports created, %(updated)s updated"),
        "summary": gettext(
            "%(imported)s imported, %(duplicate)s already there, %(rejected)s rejected"
        ),
    }
