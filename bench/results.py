"""Server time of the results pages for a big run: the run page and a case gallery.

    DEBUG=1 python bench/results.py [--labels 10] [--images 2000] [--repeat 7]

A throw-away test database (Django's test runner machinery) gets one team, ``--images`` test
images (rows only: thumbnails are separate requests) and a frozen label set of ``--labels``
labels. The run folder is written by the engine's own report functions over random scores
(task 2 plus task 3's multi-disease block), exactly as a training job would leave it. Printed:
median and worst server time per page over ``--repeat`` requests, cold (the predictions file
parsed again) and warm (parsed once per file version). Goal (issue 7): ≤ 300 ms each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with test_database():
        run_bench(args)


@contextlib.contextmanager
def test_database():
    """Django set up on a throwaway test database (bench/results_api.py uses it too)."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run_bench(args) -> None:
    from django.conf import settings

    with tempfile.TemporaryDirectory() as tmp:
        settings.RUNS_DIR = Path(tmp) / "runs"
        client, job, key = build(args.labels, args.images)
        pages = {
            "run page": f"/results/runs/{job.pk}/",
            "case gallery (one label's true negatives)": (
                f"/results/runs/{job.pk}/cases/?label={key}&outcome=tn"
            ),
            "case gallery (confusion cell)": f"/results/runs/{job.pk}/cases/?true={key}&pred={key}",
        }
        print(f"{args.labels} labels, {args.images} test images (shared machine; server time "
              "through Django's test client)")  # fmt: skip
        for url in pages.values():
            timed(client, url)  # first request: imports, template compilation (not measured)
        for name, url in pages.items():
            cold, warm = measure(client, url, args.repeat)
            print(f"{name:45s} cold median {cold[0]:6.0f} ms worst {cold[1]:6.0f} ms | "
                  f"warm median {warm[0]:6.0f} ms worst {warm[1]:6.0f} ms")  # fmt: skip


def measure(client, url: str, repeat: int) -> tuple[tuple[float, float], tuple[float, float]]:
    from results.artifacts import _read_predictions

    cold, warm = [], []
    for _ in range(repeat):
        _read_predictions.cache_clear()
        cold.append(timed(client, url))
        warm.append(timed(client, url))
    return (statistics.median(cold), max(cold)), (statistics.median(warm), max(warm))


def timed(client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return elapsed


def build(n_labels: int, n_images: int):
    """A team, its images, a label set and a finished job whose folder the engine wrote."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.test import Client

    from curation.models import LabelSet
    from jobs.models import Job
    from labeling.models import Instance, Series, Study
    from teams import services
    from teams.models import Role
    from training.engine import metrics
    from training.runs import job_folder

    team = services.create_team("Bench")
    user = get_user_model().objects.create_user("bench", password="bench-pw-1234")
    services.add_member(team, user, Role.ADMIN)
    keys = [f"label_{j}" for j in range(n_labels)]
    label_set = LabelSet.objects.create(
        team=team, version=1, content_hash="b" * 64,
        labels=[{"key": k, "en": k.replace("_", " "), "zh": f"标签{j}"} for j, k in enumerate(keys)],
    )  # fmt: skip
    studies = Study.objects.bulk_create(
        Study(team=team, study_uid=f"2.25.1.{i}", patient_id=f"P{i}") for i in range(n_images)
    )
    series = Series.objects.bulk_create(
        Series(team=team, study=s, series_uid=f"{s.study_uid}.1") for s in studies
    )
    Instance.objects.bulk_create(
        Instance(team=team, study=s, series=r, sop_uid=f"{s.study_uid}.1.1", file_path="x")
        for s, r in zip(studies, series, strict=True)
    )
    rng = np.random.default_rng(0)
    targets = rng.integers(0, n_labels, n_images)
    logits = rng.normal(size=(n_images, n_labels)) + 2.0 * np.eye(n_labels)[targets]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.eye(n_labels, dtype=bool)[targets]
    multi = rng.random(n_images) < 0.25  # a quarter also get a second label (task 3)
    truth[multi, (targets[multi] + 1) % n_labels] = True
    result = {
        "task": "single_disease", "arch": "resnet101", "class_names": keys,
        "label_set_hash": label_set.content_hash, "eval_crops": "five",
        "split_counts": {"train": 8 * n_images, "val": n_images, "test": n_images},
        "test": metrics.multiclass_report(scores[~multi], targets[~multi], keys),
        "multi_disease": {"test": metrics.multilabel_report(
            scores[multi], truth[multi], keys, np.full(n_labels, 0.2))},
        "history": [{"epoch": e, "train_loss": 1 / e, "val_macro_auc": 0.8} for e in range(1, 11)],
    }  # fmt: skip
    job = Job.objects.create(team=team, owner=user, kind="train", status="succeeded",
                             name="bench", config={"label_set": label_set.pk,
                                                   "engine": {"task": "single_disease"}})  # fmt: skip
    folder = job_folder(job) / "run"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics.to_jsonable(result)))
    with (folder / "predictions.jsonl").open("w") as out:
        for i in range(n_images):
            out.write(json.dumps({
                "image_id": f"2.25.1.{i}.1.1", "split": "test",
                "subset": "multi_disease" if multi[i] else "task",
                "probabilities": {k: round(float(p), 6) for k, p in zip(keys, scores[i],
                                                                      strict=True)},
                "labels": [keys[j] for j in np.flatnonzero(truth[i])],
            }) + "\n")  # fmt: skip
    Job.objects.filter(pk=job.pk).update(metrics=metrics.to_jsonable(result))
    client = Client()
    client.force_login(user)
    return client, job, keys[0]


if __name__ == "__main__":
    main()
