"""``manage.py demo --team T --images N --seed S [--enriched]``: synthetic radiographs and
reports, ingested. Labels follow Table I's frequencies, or with ``--enriched`` (what ``make run``'s
default demo uses) every label has enough images for all three tasks (synth/demo.py).

The generator's hidden truth (true labels per image, what each clause says) is written beside
the files as ``truth.json``; the label pipeline never reads it, tests and benchmarks do.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from labeling import services, synth
from labeling.reports import import_reports
from teams.management.base import LabCommand


class Command(LabCommand):
    help = "Create N synthetic DX chest radiographs with Chinese reports and ingest them."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--images", type=int, default=100, help="how many images (≥ 1)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--size", type=int, default=2048, help="image side in pixels")
        parser.add_argument("--workers", type=int, default=None, help="generator processes")
        parser.add_argument("--out", type=Path, default=None, help="folder for the files")
        parser.add_argument(
            "--enriched",
            action="store_true",
            help="every label gets enough images for all three tasks (not Table I's frequencies)",
        )

    def handle(self, *args, **options) -> None:
        team = self.team(options["team"])
        if options["images"] < 1:
            raise CommandError(f"--images must be at least 1, got {options['images']}")
        out = options["out"] or (
            settings.DATA_DIR
            / "demo"
            / team.slug
            / f"seed{options['seed']}-{options['images']}{'-enriched' if options['enriched'] else ''}"
        )
        bar = self.counter(options["images"], "generating")
        manifest = synth.generate_demo(
            out,
            options["images"],
            seed=options["seed"],
            size=options["size"],
            workers=options["workers"],
            progress=lambda done, total: bar.update(done - bar.n),
            enriched=options["enriched"],
        )
        bar.close()
        counts = {"imported": 0, "duplicate": 0, "rejected": 0}
        rejected = []
        paths = self.progress(manifest.dicom_paths, len(manifest.dicom_paths), "ingesting")
        prepared = (services.prepare_file(team, path, name=path.name) for path in paths)
        for result in services.commit_in_batches(team, prepared):  # many files a transaction
            counts[result.status] += 1
            if result.status == "rejected":
                rejected.append(result.as_dict())
        reports = import_reports(
            team, manifest.reports_path.read_bytes(), source="demo reports.jsonl"
        )
        if rejected:
            raise CommandError(f"{len(rejected)} generated files were rejected: {rejected[:3]}")
        summary = {
            "team": team.name,
            "images": manifest.n_images,
            "studies": manifest.n_studies,
            "patients": manifest.n_patients,
            **counts,
            "reports": reports.as_dict(),
            "enriched": options["enriched"],
            "generate_seconds": round(manifest.seconds, 2),
            "files": str(manifest.out_dir),
            "truth": str(manifest.truth_path),
        }
        self.emit(
            summary,
            f"{team.name}: {counts['imported']} images imported ({counts['duplicate']} already "
            f"there), {manifest.n_studies} studies of {manifest.n_patients} patients, "
            f"{reports.created + reports.updated} reports; files in {manifest.out_dir}",
        )
