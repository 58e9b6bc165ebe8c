"""``manage.py ingest PATH... --team T [--reports FILE] [--workers N]``: DICOM files, folders and
zip archives.

The work per file (parse, de-identify, decode, write) runs in ``--workers`` processes, forked
from this one (default: one per CPU, at most eight); this process commits the rows, cache rows and files in
batches of :data:`labeling.services.COMMIT_BATCH`, in the order of the files, so the result is
the same whatever the number of workers.
"""

import itertools
import multiprocessing
import os
import zipfile
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import CommandError
from django.db import connections

from labeling import services
from labeling.dicom import native_output_captured
from labeling.reports import import_reports
from teams.management.base import LabCommand
from teams.models import Team

# One unit of work: a file, or one entry of an archive (path, index in its infolist()).
Unit = tuple[Path, int | None]
# Each worker holds a few 2048² images at once (about 100 MB): a big server does not get one
# per core unless it asks.
MAX_DEFAULT_WORKERS = 8
# Units handed to the pool ahead of the one being committed, per worker: enough to keep every
# worker busy, few enough that prepared files waiting on disk stay bounded.
AHEAD_PER_WORKER = 4


class Command(LabCommand):
    help = "Import DICOM files, folders and zip archives into a team, then a reports file."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--reports", type=Path, help="CSV or JSONL reports file")
        parser.add_argument(
            "--workers",
            type=int,
            default=min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS),
            help="processes that parse, de-identify and decode files "
            f"(default: one per CPU, at most {MAX_DEFAULT_WORKERS})",
        )

    def handle(self, *args, **options) -> None:
        team = self.team(options["team"])
        missing = [str(p) for p in options["paths"] if not p.exists()]
        if missing:
            raise CommandError(f"no such file or folder: {', '.join(missing)}")
        if options["reports"] and not options["reports"].is_file():
            raise CommandError(f"no such reports file: {options['reports']}")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        counts = {"imported": 0, "duplicate": 0, "rejected": 0}
        rejected = []
        units, refused = units_of(sorted(_files(options["paths"])))
        # What the C codecs print goes to the DEBUG log, not between the result lines.
        with native_output_captured():
            prepared = prepare_all(team, units, options["workers"])
            results = services.commit_in_batches(team, prepared)
            for result in [*refused, *self.progress(results, len(units), "ingesting")]:
                counts[result.status] += 1
                if result.status == "rejected":
                    rejected.append(result.as_dict())
        reports = None
        if options["reports"]:
            reports = import_reports(
                team, options["reports"].read_bytes(), source=options["reports"].name
            )
        summary = {"team": team.name, **counts, "rejected_files": rejected}
        if reports:
            summary["reports"] = reports.as_dict()
        lines = [
            f"{counts['imported']} imported, {counts['duplicate']} duplicates, "
            f"{counts['rejected']} rejected"
        ]
        lines += [rejection_line(r) for r in rejected]
        if reports:
            lines.append(
                f"reports: {reports.created} created, {reports.updated} updated, "
                f"{len(reports.unknown_keys)} with unknown keys"
            )
            lines += [f"  unknown key {key}" for key in reports.unknown_keys]
        self.emit(summary, "\n".join(lines))


def rejection_line(result: dict) -> str:
    """One line per rejected file: its name, the stable code (README, "Accepted and rejected
    DICOM objects") and the reason, folded onto the line (codec messages span several)."""
    reason = " ".join(str(result.get("reason", "")).split())
    return f"  rejected {result['name']} [{result.get('code', '')}]: {reason}"


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def units_of(files: list[Path]) -> tuple[list[Unit], list[services.IngestResult]]:
    """Files and archive entries to prepare, and the archives refused as a whole."""
    units: list[Unit] = []
    refused = []
    for path in files:
        if not zipfile.is_zipfile(path):
            units.append((path, None))
            continue
        opened = services.open_archive(path, name=path.name)
        if isinstance(opened, services.IngestResult):
            refused.append(opened)
            continue
        archive, entries = opened
        with archive:
            index = {id(info): i for i, info in enumerate(archive.infolist())}
            units += [(path, index[id(info)]) for info in entries]
    return units, refused


def prepare_all(team: Team, units: list[Unit], workers: int) -> Iterator[services.Prepared]:
    """Prepared units in order, from a pool of forked processes or from this one.

    Forked workers open their own database connections (they only read: the duplicate check),
    so this process closes its connection first. Inside a transaction (call_command from code
    that holds one) the workers could not see its rows, so the work stays in this process.
    """
    if workers == 1 or len(units) < 2 or connections["default"].in_atomic_block:
        preparer = _Preparer(team)
        try:
            yield from map(preparer, units)
        finally:
            preparer.close()
        return
    connections.close_all()
    workers = min(workers, len(units))
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, _start_worker, (team,)) as pool:
        waiting = iter(units)
        pending = deque(
            pool.apply_async(_prepare_in_worker, (unit,))
            for unit in itertools.islice(waiting, workers * AHEAD_PER_WORKER)
        )
        try:
            while pending:
                prepared = pending.popleft().get()
                for unit in itertools.islice(waiting, 1):
                    pending.append(pool.apply_async(_prepare_in_worker, (unit,)))
                yield prepared
        finally:
            _discard_pending(pending)


def _discard_pending(pending: deque) -> None:
    """After an error: let the files in flight finish, then remove what they wrote."""
    for result in pending:
        try:
            services.discard_prepared([result.get()])
        except Exception:  # noqa: BLE001 - the error being raised already says what went wrong
            continue


class _Preparer:
    """Prepares units of one team, keeping the archive it read last open."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.archive: tuple[Path, zipfile.ZipFile] | None = None

    def __call__(self, unit: Unit) -> services.Prepared:
        path, entry = unit
        if entry is None:
            return services.prepare_file(self.team, path, name=str(path))
        archive = self._open(path)
        return services.prepare_zip_entry(self.team, archive, archive.infolist()[entry], path.name)

    def _open(self, path: Path) -> zipfile.ZipFile:
        if self.archive is None or self.archive[0] != path:
            self.close()
            self.archive = (path, zipfile.ZipFile(path))
        return self.archive[1]

    def close(self) -> None:
        if self.archive is not None:
            self.archive[1].close()
            self.archive = None


_worker: _Preparer | None = None


def _start_worker(team: Team) -> None:
    global _worker
    _worker = _Preparer(team)


def _prepare_in_worker(unit: Unit) -> services.Prepared:
    assert _worker is not None, "the pool initializer sets the preparer"
    return _worker(unit)
