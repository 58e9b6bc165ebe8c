"""The real-world corpus against Orthanc (issue #14's goal: ours rendered >= Orthanc rendered).

    .venv/bin/python bench/dicom_corpus.py [--only NAME_PART]

Every DICOM file of pydicom's test files and pydicom-data's (tests/labeling/dicom_corpus.py says
which files, and by what rule) is POSTed to a Debian Orthanc with the GDCM plugin (started on
loopback in a temporary folder) and its preview asked for; then imported here through the
import service every entry point uses (a throwaway SQLite database and data folder, one team per
file) and rendered: the cache image and ``/rendered``. Printed: one row per file (file, what it
is, Orthanc, ours), the totals, the files Orthanc renders and we do not, and the time each side
took. The same table is what ``pytest -s tests/labeling/test_corpus_orthanc.py`` prints.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.labeling import dicom_corpus  # noqa: E402
from tests.labeling.dicom_corpus import OrthancProbe, Row  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="only the files whose name contains this")
    args = parser.parse_args()
    entries = [e for e in dicom_corpus.corpus() if args.only in e.name]
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as folder:
        work = Path(folder)
        started = time.monotonic()
        with OrthancProbe(work / "orthanc") as probe:
            theirs = {e.name: probe.outcome(e) for e in entries}
            starts = probe.starts
        orthanc_seconds = time.monotonic() - started
        _setup_django(work / "var")
        started = time.monotonic()
        rows = [Row(e, theirs[e.name], ours) for e, ours in dicom_corpus.our_outcomes(entries)]
        our_seconds = time.monotonic() - started
    print(dicom_corpus.table(rows))
    print()
    only_theirs = dicom_corpus.only_orthanc_renders(rows)
    print(f"Orthanc renders and we do not ({len(only_theirs)}):")
    for row in only_theirs:
        print(f"  {row.entry.name}: {row.ours.cell()}")
    rendered = sum(r.ours.rendered for r in rows), sum(r.orthanc.rendered for r in rows)
    print(
        f"\nours rendered {rendered[0]}, Orthanc rendered {rendered[1]}: goal ours >= Orthanc "
        f"{'met' if rendered[0] >= rendered[1] else 'NOT met'}"
    )
    print(
        f"time: Orthanc {orthanc_seconds:.1f} s (POST, preview, delete; {starts - 1} restarts "
        f"after a crash), ours {our_seconds:.1f} s (import, cache, /rendered)"
    )


def _setup_django(data_dir: Path) -> None:
    """An empty data folder and SQLite database, migrated, for this run only."""
    data_dir.mkdir(parents=True)
    os.environ["CXR_DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'bench.sqlite3'}"
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


if __name__ == "__main__":
    main()
