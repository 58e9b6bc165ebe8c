"""Server time of the results API for notebooks on a paper-sized run.

    DEBUG=1 python bench/results_api.py [--labels 10] [--images 16569] [--runs 50] [--repeat 5]

The run is bench/results.py's (a throw-away test database, a team, ``--images`` test images, a
frozen label set, a run folder written by the engine's own report functions over random
scores), plus ``--runs`` more finished runs with the same metrics on their rows for the list.
Printed: median and worst server time over ``--repeat`` requests of the run list, one run, one
page of 1000 predictions (cold: the predictions file parsed again; warm: parsed once per file
version), and of walking every page of the predictions as a notebook does.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")


def _results_bench():
    """bench/results.py (its module name would shadow the results app)."""
    spec = importlib.util.spec_from_file_location("bench_results", ROOT / "bench/results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--images", type=int, default=16569)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench = _results_bench()
    with bench.test_database(), tempfile.TemporaryDirectory() as tmp:
        from django.conf import settings

        settings.RUNS_DIR = Path(tmp) / "runs"
        run_bench(args, bench)


def run_bench(args, bench) -> None:
    from jobs.models import Job

    client, job, _key = bench.build(args.labels, args.images)
    Job.objects.bulk_create(
        Job(team=job.team, owner=job.owner, kind="train", status="succeeded", name=f"copy {i}",
            config=job.config, metrics=job.metrics)
        for i in range(args.runs)
    )  # fmt: skip
    print(f"{args.labels} labels, {args.images} scored images, {args.runs + 1} runs (shared "
          "machine; server time through Django's test client)")  # fmt: skip
    urls = {
        f"run list (limit {min(args.runs + 1, 1000)})": f"/api/runs/?limit={args.runs + 1}",
        "one run (support and PPV counted)": f"/api/runs/{job.pk}/",
        "predictions, one page of 1000": f"/api/runs/{job.pk}/predictions/?page_size=1000",
    }
    for url in urls.values():
        bench.timed(client, url)  # first request: imports (not measured)
    for name, url in urls.items():
        cold, warm = bench.measure(client, url, args.repeat)
        print(f"{name:38s} cold median {cold[0]:6.0f} ms worst {cold[1]:6.0f} ms | "
              f"warm median {warm[0]:6.0f} ms worst {warm[1]:6.0f} ms")  # fmt: skip
    start, url, pages = time.perf_counter(), f"/api/runs/{job.pk}/predictions/?page_size=1000", 0
    while url:
        url, pages = client.get(url).json()["next"], pages + 1
    print(f"every prediction, {pages} pages of 1000: {(time.perf_counter() - start):.1f} s")


if __name__ == "__main__":
    main()
