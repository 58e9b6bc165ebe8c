"""State changes for studies, instances and reports: every import path ends here.

Every import (uploads, STOW-RS, ``manage.py ingest``, PACS pulls) goes through two steps.
``prepare_file`` parses defensively, de-identifies when the team asks for it, decodes once into
the cache image and writes the file beside its final place (a path derived from the SOP Instance
UID); it only reads the database, so worker processes can run it in parallel, and it tells the
kernel that a source given as a path is read once (its pages leave the page cache, and the
stored copy is written into them). ``commit_prepared`` then creates the rows, cache rows and
moves the files into place, many files per transaction. ``ingest_file`` is both for one file.
A rejected file leaves no row and no file; a duplicate (also under concurrency) leaves exactly
one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from teams.models import Team

from . import deid
from .cache import ArrayStore
from .dicom import (
    DEFAULT_LIMITS,
    DicomRejected,
    InstanceIdentity,
    ReadLimits,
    identity,
    read_dicom,
    resize_u8,
    text_of,
    to_uint8,
    write_file,
)
from .dicom.rules import PARSE_ERRORS
from .models import ImageCache, Instance, Series, Study

log = logging.getLogger(__name__)

Status = Literal["imported", "duplicate", "rejected"]


@dataclass(frozen=True)
class IngestResult:
    status: Status
    name: str  # the client's name for the file: shown to people, never used for storage
    sop_uid: str = ""
    code: str = ""
    reason: str = ""
    instance_id: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


def store_path(team: Team, sop_uid: str) -> Path:
    """Relative path of an instance in the store: chosen by the server from the UID alone."""
    digest = hashlib.sha256(f"{team.pk}:{sop_uid}".encode()).hexdigest()
    return Path(str(team.pk)) / digest[:2] / digest[2:4] / f"{digest}.dcm"


# How many prepared files one transaction commits: a folder or an archive pays for one commit
# and one cache-row lock per batch rather than per file, and holds at most this many temporary
# files at once.
COMMIT_BATCH = 32


@dataclass
class PreparedFile:
    """A file parsed, de-identified, decoded and written beside its final place under a
    temporary name, waiting for :func:`commit_prepared`. Picklable, so worker processes can
    prepare files while one process commits them."""

    name: str
    found: InstanceIdentity
    relative: Path
    temp: Path
    size: int
    decode_error: str
    quarantine: bool
    pixels: np.ndarray | None

    @property
    def final(self) -> Path:
        return settings.DICOM_STORE_DIR / self.relative


Prepared = PreparedFile | IngestResult


def ingest_file(team: Team, source: str | os.PathLike | BinaryIO, *, name: str) -> IngestResult:
    """One file, committed at once (uploads, STOW-RS parts, PACS pulls)."""
    return commit_prepared(team, [prepare_file(team, source, name=name)])[0]


def prepare_file(team: Team, source: str | os.PathLike | BinaryIO, *, name: str) -> Prepared:
    """All the work but the rows: parse, de-identify, decode once (the cache image), write the
    file. Returns the final result instead when the file is rejected or already stored. Reads
    the database, never writes it."""
    try:
        ds = read_dicom(
            source, max_bytes=settings.DICOM_MAX_FILE_BYTES, limits=read_limits(), read_once=True
        )
    except DicomRejected as exc:
        return IngestResult("rejected", name, code=exc.code, reason=exc.message)
    except OSError as exc:
        return IngestResult("rejected", name, code="unreadable", reason=str(exc))
    quarantine = identity(ds).burned_in_annotation is True
    try:
        if team.deidentify:
            _deidentify(team, ds)
        found = identity(ds)
    except PARSE_ERRORS as exc:
        return _unwritable(name, exc)
    if Instance.objects.filter(team=team, sop_uid=found.sop_uid).exists():
        return IngestResult("duplicate", name, sop_uid=found.sop_uid)
    pixels, decode_error = _cache_pixels(ds)
    relative = store_path(team, found.sop_uid)
    final = settings.DICOM_STORE_DIR / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        temp = _write_temp(ds, final.parent)
    except PARSE_ERRORS as exc:
        return _unwritable(name, exc)
    return PreparedFile(
        name, found, relative, temp, temp.stat().st_size, decode_error, quarantine, pixels
    )


def read_limits() -> ReadLimits:
    """The read limits of every import: deflated files inflate to at most the settings' cap."""
    cap = min(settings.DICOM_MAX_INFLATED_BYTES, settings.DICOM_MAX_FILE_BYTES)
    return replace(DEFAULT_LIMITS, max_inflated_bytes=cap)


def _unwritable(name: str, exc: Exception) -> IngestResult:
    """A value the reader took but de-identification or the writer cannot handle: the file is
    refused with the reason (and the other files of an archive go on), and the traceback is
    logged, since the reader should have refused it or the writer taken it."""
    log.warning("%s read but cannot be stored", name, exc_info=exc)
    reason = f"the file cannot be stored: {type(exc).__name__}: {exc}"[:500]
    return IngestResult("rejected", name, code="bad_value", reason=reason)


def commit_prepared(team: Team, items: Sequence[Prepared]) -> list[IngestResult]:
    """Rows, cache rows and files of prepared files in one transaction; results in order.

    Each file gets a savepoint: one whose UID another import stored first (also concurrently)
    becomes a duplicate without undoing the others. Temporary files never outlive the call, and
    if the transaction fails the files it moved into place are removed again.
    """
    prepared = [item for item in items if isinstance(item, PreparedFile)]
    placed: list[Path] = []
    try:
        outcomes = _commit_batch(team, prepared, placed) if prepared else {}
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    finally:
        for item in prepared:
            item.temp.unlink(missing_ok=True)
    return [item if isinstance(item, IngestResult) else outcomes[id(item)] for item in items]


def commit_in_batches(team: Team, items: Iterable[Prepared]) -> Iterator[IngestResult]:
    """:func:`commit_prepared` over a stream, :data:`COMMIT_BATCH` files per transaction."""
    batch: list[Prepared] = []
    try:
        for item in items:
            batch.append(item)
            if len(batch) >= COMMIT_BATCH:
                done, batch = batch, []
                yield from commit_prepared(team, done)
        done, batch = batch, []
        yield from commit_prepared(team, done)
    finally:
        discard_prepared(batch)  # an error while preparing: the batch is never committed


def discard_prepared(items: Iterable[Prepared]) -> None:
    """Remove the temporary files of prepared files that will not be committed."""
    for item in items:
        if isinstance(item, PreparedFile):
            item.temp.unlink(missing_ok=True)


def _commit_batch(
    team: Team, prepared: list[PreparedFile], placed: list[Path]
) -> dict[int, IngestResult]:
    outcomes: dict[int, IngestResult] = {}
    with transaction.atomic():
        rows = _CacheRows(team)
        if any(item.pixels is not None for item in prepared):
            rows.lock()
        parents = _Parents(team, prepared)
        for item in prepared:
            instance = _commit_one(team, item, rows, parents)
            if instance is None:
                outcomes[id(item)] = IngestResult(
                    "duplicate", item.name, sop_uid=item.found.sop_uid
                )
            else:
                placed.append(item.final)
                outcomes[id(item)] = IngestResult(
                    "imported", item.name, sop_uid=item.found.sop_uid, instance_id=instance.pk
                )
        rows.save()
    return outcomes


def _commit_one(
    team: Team, item: PreparedFile, rows: _CacheRows, parents: _Parents, tries: int = 3
) -> Instance | None:
    """The instance's rows, cache row and file; None when another import of the same UID won
    the race. A lost race on the study or series row (a sibling instance created it a moment
    earlier) is retried with the winner's row, since this instance is new."""
    for attempt in range(tries):
        try:
            with transaction.atomic():
                row = None if item.pixels is None else rows.next_row()
                instance = _create_rows(team, item, row, parents)
                if row is not None:
                    rows.write(row, item.pixels)
                os.replace(item.temp, item.final)
        except IntegrityError:
            if Instance.objects.filter(team=team, sop_uid=item.found.sop_uid).exists():
                return None
            if attempt == tries - 1:
                raise
            parents.load([item.found])
        else:
            parents.remember(instance)
            return instance
    return None


class _CacheRows:
    """Cache rows of one transaction: the team's counter is locked once, before the first file
    (two ingests never share a row), rows are handed out in order and the counter saved once."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.cache: ImageCache | None = None
        self.store = cache_store(team)
        self.used = 0

    def lock(self) -> None:
        """Outside any file's savepoint, so that a rolled-back file cannot undo the counter."""
        size = settings.CACHE_IMAGE_SIZE
        ImageCache.objects.get_or_create(team=self.team, size=size)
        self.cache = ImageCache.objects.select_for_update().get(team=self.team, size=size)

    def next_row(self) -> int:
        if self.cache is None:
            raise RuntimeError("lock() the cache rows first")
        return self.cache.rows + self.used

    def write(self, row: int, pixels: np.ndarray) -> None:
        self.store.write(row, pixels)
        self.used += 1

    def save(self) -> None:
        if self.cache is not None and self.used:
            self.cache.rows += self.used
            self.cache.save(update_fields=["rows"])


def team_secret(team: Team) -> bytes:
    return team.pseudonym_secret.encode()


def _deidentify(team: Team, ds) -> deid.DeidReport:
    """Basic profile, keeping what research needs: sex and age, and dates shifted per patient
    (the same shift for every study of a patient, so intervals between studies survive)."""
    secret = team_secret(team)
    patient_id = text_of(ds.get("PatientID", "") or "")
    if not patient_id:
        patient_id = _stand_in_patient(str(ds.StudyInstanceUID))
        deid.set_value(ds, "PatientID", patient_id)
    return deid.deidentify(
        ds,
        pseudonym=deid.pseudonym_for(secret, patient_id),
        date_shift_days=date_shift_for(secret, patient_id),
        keep_patient_characteristics=True,
        accession_map=lambda accession: deid.accession_for(secret, accession),
        uid_map=deid.hashed_uid_map(secret) if team.remap_uids else None,
    )


def date_shift_for(secret: bytes, patient_id: str, max_days: int = 365) -> int:
    digest = hmac.new(secret, f"date-shift:{patient_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % (2 * max_days + 1) - max_days


def _cache_pixels(ds) -> tuple[np.ndarray | None, str]:
    """The cache image, or why there is none: a well-formed file whose pixels no codec can
    decode is kept and flagged, never trained on."""
    try:
        return resize_u8(to_uint8(ds), settings.CACHE_IMAGE_SIZE), ""
    except DicomRejected as exc:
        return None, " ".join(exc.message.split())[:255]


def cache_store(team: Team, size: int | None = None) -> ArrayStore:
    size = size or settings.CACHE_IMAGE_SIZE
    return ArrayStore(settings.CACHE_STORE_DIR / str(team.pk) / f"s{size}", size)


def cached_image(instance: Instance) -> np.ndarray | None:
    if instance.cache_row is None:
        return None
    return cache_store(instance.team).read(instance.cache_row)


def _write_temp(ds, folder: Path) -> Path:
    handle, name = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as fp:
            write_file(ds, fp)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _stand_in_patient(study_uid: str) -> str:
    """An image without PatientID becomes a patient of its own (keyed by its study), never one
    shared "unknown" patient that would merge strangers across the train / test split."""
    return f"no-patient-id:{study_uid}"[:64]


class _Parents:
    """The study and series rows of one batch: looked up for all its files in two queries,
    created when missing (the caller's savepoint undoes a creation that loses a race)."""

    def __init__(self, team: Team, prepared: list[PreparedFile]) -> None:
        self.team = team
        self.studies: dict[str, Study] = {}
        self.series: dict[str, Series] = {}
        self.load([item.found for item in prepared])

    def load(self, found: list[InstanceIdentity]) -> None:
        studies = Study.objects.filter(team=self.team, study_uid__in={f.study_uid for f in found})
        self.studies.update((study.study_uid, study) for study in studies)
        series = Series.objects.filter(team=self.team, series_uid__in={f.series_uid for f in found})
        self.series.update((one.series_uid, one) for one in series)

    def study(self, found: InstanceIdentity) -> Study:
        if found.study_uid in self.studies:
            return self.studies[found.study_uid]
        return _create_fitted(
            Study,
            team=self.team,
            study_uid=found.study_uid,
            accession_number=found.accession_number,
            patient_id=found.patient_id or _stand_in_patient(found.study_uid),
            patient_sex=found.patient_sex,
            patient_age=found.patient_age,
            study_date=found.study_date,
            description=found.study_description,
            patient_name=found.patient_name,
            study_time=found.study_time,
        )

    def one_series(self, found: InstanceIdentity, study: Study) -> Series:
        if found.series_uid in self.series:
            return self.series[found.series_uid]
        return _create_fitted(
            Series,
            team=self.team,
            series_uid=found.series_uid,
            study=study,
            modality=found.modality,
            series_number=found.series_number,
            body_part=found.body_part,
            description=found.series_description,
        )

    def remember(self, instance: Instance) -> None:
        """Called once the instance's savepoint is released: its parents exist for good."""
        self.studies[instance.study.study_uid] = instance.study
        self.series[instance.series.series_uid] = instance.series


def _create_rows(
    team: Team, item: PreparedFile, cache_row: int | None, parents: _Parents
) -> Instance:
    found = item.found
    study = parents.study(found)
    series = parents.one_series(found, study)
    return _create_fitted(
        Instance,
        team=team,
        study=study,
        series=series,
        sop_uid=found.sop_uid,
        sop_class_uid=found.sop_class_uid,
        instance_number=found.instance_number,
        rows=found.rows,
        columns=found.columns,
        number_of_frames=found.number_of_frames,
        photometric=found.photometric,
        bits_stored=found.bits_stored,
        transfer_syntax=found.transfer_syntax,
        view_position=found.view_position,
        file_path=str(item.relative),
        file_size=item.size,
        decode_error=item.decode_error,
        quarantined=item.quarantine,
        cache_row=cache_row,
    )


def _create_fitted(model, **values):
    """``model.objects.create(**values)`` with each text cut to its column's length.

    A reader-accepted file may still carry values longer than DICOM allows (a 24-character CS
    View Position, a long description): they are kept as far as the column holds them, never a
    reason to refuse an image whose pixels decode. SQLite ignores column lengths; PostgreSQL
    refuses the row, so without this the same file imported on one and was a 500 on the other.
    """
    for name, value in values.items():
        if isinstance(value, str):
            limit = model._meta.get_field(name).max_length
            if limit is not None:
                values[name] = value[:limit]
    return model.objects.create(**values)


# Archives whose entries expand more than this against their compressed size are zip bombs.
MAX_ZIP_RATIO = 200
MAX_ZIP_ENTRIES = 100_000


def ingest_zip(
    team: Team, source: str | os.PathLike | BinaryIO, *, name: str
) -> list[IngestResult]:
    """Ingest every file of a zip archive, in batches; hostile entries are rejected one by one."""
    opened = open_archive(source, name=name)
    if isinstance(opened, IngestResult):
        return [opened]
    archive, entries = opened
    with archive:
        prepared = (prepare_zip_entry(team, archive, info, name) for info in entries)
        return list(commit_in_batches(team, prepared))


def open_archive(
    source: str | os.PathLike | BinaryIO, *, name: str
) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]] | IngestResult:
    """The archive and its file entries, or why it is refused as a whole."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        return IngestResult("rejected", name, code="bad_archive", reason=str(exc))
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > MAX_ZIP_ENTRIES:
        archive.close()
        return IngestResult(
            "rejected",
            name,
            code="bad_archive",
            reason=f"{len(entries)} entries; at most {MAX_ZIP_ENTRIES} per archive",
        )
    return archive, entries


def prepare_zip_entry(
    team: Team, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str
) -> Prepared:
    label = f"{name}:{info.filename}"
    problem = _entry_problem(info)
    if problem:
        return IngestResult("rejected", label, code="bad_archive_entry", reason=problem)
    limit = settings.DICOM_MAX_FILE_BYTES
    with tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024) as spool:
        try:
            with archive.open(info) as entry:
                copied = copy_capped(entry, spool, limit)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            return IngestResult("rejected", label, code="bad_archive_entry", reason=str(exc))
        if copied > limit:
            return IngestResult(
                "rejected", label, code="too_large", reason=f"expands beyond {limit} bytes"
            )
        spool.seek(0)
        return prepare_file(team, spool, name=label)


def _entry_problem(info: zipfile.ZipInfo) -> str:
    path = info.filename.replace("\\", "/")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "absolute path in archive"
    if ".." in path.split("/"):
        return "'..' in archive path"
    if info.file_size > settings.DICOM_MAX_FILE_BYTES:
        return f"declares {info.file_size} bytes, above the limit"
    if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
        return f"compression ratio above {MAX_ZIP_RATIO}: a zip bomb"
    return ""


def copy_capped(source: BinaryIO, target: BinaryIO, limit: int) -> int:
    """Copies at most limit + 1 bytes: declared sizes in a zip can lie."""
    copied = 0
    while chunk := source.read(1024 * 1024):
        copied += len(chunk)
        if copied > limit:
            return copied
        target.write(chunk)
    return copied
