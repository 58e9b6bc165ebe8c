"""Team backup and restore: throughput and peak memory of ``manage.py backup`` / ``restore``.

    .venv/bin/python bench/backup.py                       # 500 images of 2 MiB: ~1 GiB of files
    .venv/bin/python bench/backup.py --images 2000 --file-mb 4 --json

A team is made in a throwaway SQLite database under a temporary ``CXR_DATA_DIR``: one study,
series and instance per image, each with a stored file of random bytes (the backup never parses
DICOM), a training cache of 256×256 rows, and one run folder with a 64 MiB checkpoint. Then
``backup`` and ``restore`` (under a new name, beside the source) run as commands in their own
processes; the figures are their wall time, throughput over the archive's size, and peak
resident memory (``ru_maxrss``), which should stay flat as the team grows: both stream. The
folder is removed afterwards. The machine these figures come from may be shared: read them as
indications.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "bench-backup-passphrase-0123456789"


def _setup_django(data_dir: Path) -> dict:
    env = {**os.environ, "CXR_DATA_DIR": str(data_dir), "DEBUG": "1",
           "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}", "CXR_BACKUP_KEY": KEY}  # fmt: skip
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return env


def _make_team(images: int, file_bytes: int) -> None:
    from django.conf import settings

    from jobs.models import Job
    from labeling.models import ImageCache, Instance, Series, Study
    from labeling.services import cache_store, store_path
    from teams.services import create_team
    from training.runs import RunFolder

    team = create_team("Bench")
    root = "1.2.826.0.1.3680043.10.98"
    studies = Study.objects.bulk_create(
        Study(team=team, study_uid=f"{root}.{i}", patient_id=f"P{i:06d}") for i in range(images)
    )
    series = Series.objects.bulk_create(
        Series(team=team, study=s, series_uid=f"{s.study_uid}.1") for s in studies
    )
    instances = []
    for i, (study, one) in enumerate(zip(studies, series, strict=True)):
        sop = f"{study.study_uid}.1.1"
        path = settings.DICOM_STORE_DIR / store_path(team, sop)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(file_bytes))
        instances.append(Instance(team=team, study=study, series=one, sop_uid=sop, cache_row=i,
                                  file_path=str(store_path(team, sop)), file_size=file_bytes))  # fmt: skip
    Instance.objects.bulk_create(instances, batch_size=2000)
    store = cache_store(team, 256)
    store.folder.mkdir(parents=True, exist_ok=True)
    with store.path.open("wb") as cache:
        for _ in range(images):
            cache.write(os.urandom(256 * 256))
    ImageCache.objects.create(team=team, size=256, rows=images)
    job = Job.objects.create(team=team, kind="train", status="succeeded", config={"label_set": 1})
    folder = RunFolder.of(job)
    folder.run.mkdir(parents=True)
    folder.last.write_bytes(os.urandom(64 * 1024 * 1024))


def _timed(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one command in its own process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--file-mb", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cxr-bench-backup-"))
    try:
        env = _setup_django(work / "var")
        _make_team(args.images, int(args.file_mb * 1024 * 1024))
        archive = work / "bench.cxrbackup"
        manage = [sys.executable, "manage.py"]
        backup_s, backup_mib = _timed([*manage, "backup", "--team", "Bench", str(archive)], env)
        size = archive.stat().st_size
        restore_s, restore_mib = _timed([*manage, "restore", str(archive), "--team", "Copy"], env)
        figures = {
            "images": args.images,
            "archive_mib": round(size / 2**20, 1),
            "backup_s": round(backup_s, 2),
            "backup_mib_per_s": round(size / 2**20 / backup_s, 1),
            "backup_peak_rss_mib": round(backup_mib, 1),
            "restore_s": round(restore_s, 2),
            "restore_mib_per_s": round(size / 2**20 / restore_s, 1),
            "restore_peak_rss_mib": round(restore_mib, 1),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
