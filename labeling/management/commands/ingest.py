"""``manage.py ingest PATH... --team T [--reports FILE]``: DICOM files, folders and zip archives."""

import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import CommandError

from lab.management.base import LabCommand
from labeling import services


class Command(LabCommand):
    help = "Import DICOM files, folders and zip archives into a team, then a reports file."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--reports", type=Path, help="CSV or JSONL reports file")

    def handle(self, *args, **options) -> None:
        team = self.team(options["team"])
        missing = [str(p) for p in options["paths"] if not p.exists()]
        if missing:
            raise CommandError(f"no such file or folder: {', '.join(missing)}")
        if options["reports"] and not options["reports"].is_file():
            raise CommandError(f"no such reports file: {options['reports']}")
        files = sorted(_files(options["paths"]))
        counts = {"imported": 0, "duplicate": 0, "rejected": 0}
        rejected = []
        for path in self.progress(files, len(files), "ingesting"):
            for result in _ingest_path(team, path):
                counts[result.status] += 1
                if result.status == "rejected":
                    rejected.append(result.as_dict())
        reports = None
        if options["reports"]:
            reports = services.import_reports(
                team, options["reports"].read_bytes(), source=options["reports"].name
            )
        summary = {"team": team.name, **counts, "rejected_files": rejected}
        if reports:
            summary["reports"] = reports.as_dict()
        lines = [
            f"{counts['imported']} imported, {counts['duplicate']} duplicates, "
            f"{counts['rejected']} rejected"
        ]
        lines += [f"  rejected {r['name']}: {r.get('reason', '')}" for r in rejected]
        if reports:
            lines.append(
                f"reports: {reports.created} created, {reports.updated} updated, "
                f"{len(reports.unknown_keys)} with unknown keys"
            )
            lines += [f"  unknown key {key}" for key in reports.unknown_keys]
        self.emit(summary, "\n".join(lines))


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _ingest_path(team, path: Path) -> Iterator[services.IngestResult]:
    if zipfile.is_zipfile(path):
        yield from services.ingest_zip(team, path, name=path.name)
    else:
        yield services.ingest_file(team, path, name=str(path))
