"""Downloads, pages for runs with missing artifacts, the review queue of
confident disagreements, the team home's results, and bounded queries on list pages."""

import csv
import io
import json

from django.urls import reverse

from jobs.models import Job
from training.runs import job_folder

from .pages import engine_outputs


def test_exports_hold_the_engine_s_metrics_and_every_prediction(client, personas, single_run):
    metrics, predictions = engine_outputs(single_run)
    client.force_login(personas.teammate)
    exported = client.get(reverse("results:metrics-json", args=[single_run.pk]))
    assert json.loads(exported.content) == metrics
    rows = list(csv.DictReader(io.StringIO(
        client.get(reverse("results:predictions-csv", args=[single_run.pk])).content.decode()
    )))  # fmt: skip
    assert len(rows) == len(predictions)
    assert float(rows[0][metrics["class_names"][0]]) == predictions[0]["probabilities"][
        metrics["class_names"][0]]  # fmt: skip
    table = list(csv.DictReader(io.StringIO(
        client.get(reverse("results:metrics-csv", args=[single_run.pk])).content.decode()
    )))  # fmt: skip
    key = metrics["class_names"][0]
    row = next(r for r in table if r["subset"] == "task" and r["label"] == key)
    assert float(row["sensitivity"]) == float(f"{metrics['test']['sensitivity'][key]:.6g}")


def test_a_crashed_job_s_page_says_what_is_missing(client, personas):
    job = Job.objects.create(team=personas.team, owner=personas.owner, kind="train",
                             status="failed", error="RuntimeError: CUDA out of memory")  # fmt: skip
    client.force_login(personas.owner)
    html = client.get(reverse("results:run", args=[job.pk])).content.decode()
    assert "metrics.json" in html and "predictions.jsonl" in html
    assert "CUDA out of memory" in html and "retry or resume" in html
    gallery = client.get(reverse("results:cases", args=[job.pk]), {"true": "a", "pred": "a"})
    assert gallery.status_code == 200 and b"no stored predictions" in gallery.content


def test_a_torn_predictions_file_is_reported_and_the_rest_still_shown(client, personas,
                                                                      single_run):  # fmt: skip
    path = job_folder(single_run) / "run" / "predictions.jsonl"
    with path.open("a") as out:
        out.write('{"image_id": "1.2.3", "probab')
    client.force_login(personas.owner)
    html = client.get(reverse("results:run", args=[single_run.pk])).content.decode()
    assert "1 unreadable line(s) skipped" in html
    assert 'data-metric="support"' in html


def test_confident_disagreements_list_images_the_run_contradicts(client, personas, single_run):
    metrics, predictions = engine_outputs(single_run)
    test = [p for p in predictions if p["subset"] == "task" and p["split"] == "test"]
    expected = {
        (p["image_id"], key)
        for p in test for key, score in p["probabilities"].items()
        if (key in p["labels"] and score <= 0.5) or (key not in p["labels"] and score >= 0.5)
    }  # fmt: skip
    client.force_login(personas.owner)
    html = client.get(reverse("results:disagreements", args=[single_run.pk]),
                      {"confidence": "0.5"}).content.decode()  # fmt: skip
    from .pages import elements_with

    shown = {(a["data-image-id"], a["data-label"]) for _t, a in elements_with(html, "data-label")
             if "data-image-id" in a}  # fmt: skip
    assert shown == expected


def test_the_team_home_shows_running_jobs_latest_runs_and_best_run_per_label(
    client, personas, single_run, django_assert_max_num_queries
):
    Job.objects.create(team=personas.team, owner=personas.owner, kind="train", name="queued one")
    client.force_login(personas.owner)
    with django_assert_max_num_queries(25):
        html = client.get(reverse("home")).content.decode()
    assert 'id="team-results"' in html and "queued one" in html
    assert reverse("results:run", args=[single_run.pk]) in html
    assert 'data-count="labelled"' in html and 'data-count="unmapped"' in html


def test_list_pages_take_a_bounded_number_of_queries(client, personas, single_run,
                                                     django_assert_max_num_queries):  # fmt: skip
    for n in range(30):
        Job.objects.create(team=personas.team, owner=personas.owner, kind="train", name=f"r{n}")
    client.force_login(personas.owner)
    metrics, _ = engine_outputs(single_run)
    key = metrics["class_names"][0]
    pages = [
        (reverse("results:run-list"), {}),
        (reverse("results:run", args=[single_run.pk]), {}),
        (reverse("results:cases", args=[single_run.pk]), {"label": key, "outcome": "tn"}),
        (reverse("results:disagreements", args=[single_run.pk]), {"confidence": "0.5"}),
        (reverse("results:compare"), {"runs": [single_run.pk, single_run.pk]}),
    ]
    for url, query in pages:
        with django_assert_max_num_queries(12):
            assert client.get(url, query).status_code == 200
