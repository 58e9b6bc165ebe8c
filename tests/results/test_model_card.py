"""The run page exports the model card: Markdown and JSON with the run's test metrics and
their CIs, the split counts and the data snapshot's hash; a run with missing artifacts gets a
card that says what is missing."""

import json

from django.urls import reverse

from jobs.models import Job

from .pages import elements_with, engine_outputs


def test_the_run_page_exports_the_model_card_with_metrics_splits_and_snapshot(
    client, personas, single_run, label_set
):
    metrics, _predictions = engine_outputs(single_run)
    client.force_login(personas.teammate)
    html = client.get(reverse("results:run", args=[single_run.pk])).content.decode()
    links = {a["data-export"]: a["href"] for _t, a in elements_with(html, "data-export")}
    assert links["model-card"] == reverse("results:model-card-markdown", args=[single_run.pk])
    assert links["model-card-json"] == reverse("results:model-card-json", args=[single_run.pk])

    card = json.loads(client.get(links["model-card-json"]).content)
    assert card["data"]["snapshot_hash"] == label_set.content_hash
    assert card["data"]["label_set_version"] == label_set.version
    assert card["task_images_per_split"] == metrics["split_counts"]
    assert card["split"] == single_run.metrics["patient_split"]
    auc = {row["label"]: row for row in card["metrics"] if row["metric"] == "auc"}
    assert {key: row["value"] for key, row in auc.items()} == metrics["test"]["auc"]
    for key, row in auc.items():
        interval = metrics["test"]["auc_ci95"][key]
        assert row["ci95"] == (list(interval) if interval else None)
    assert card["missing"] == []

    download = client.get(links["model-card"])
    assert download["Content-Type"].startswith("text/markdown")
    assert f"run-{single_run.pk}-model-card.md" in download["Content-Disposition"]
    text = download.content.decode()
    assert f"sha256 `{label_set.content_hash}`" in text
    for name, count in metrics["split_counts"].items():
        assert f"| {name} | {count} |" in text
    key, row = next((k, r) for k, r in auc.items() if r["ci95"])
    low, high = row["ci95"]
    assert f"| {key} | auc | {row['value']:.4f} | {low:.3f}–{high:.3f} |" in text
    assert "## Missing" not in text


def test_a_run_with_missing_artifacts_gets_a_card_saying_what_is_missing(client, personas):
    job = Job.objects.create(team=personas.team, owner=personas.owner, kind="train",
                             status="failed", error="RuntimeError: CUDA out of memory")  # fmt: skip
    client.force_login(personas.owner)
    html = client.get(reverse("results:run", args=[job.pk])).content.decode()
    assert reverse("results:model-card-markdown", args=[job.pk]) in html
    response = client.get(reverse("results:model-card-markdown", args=[job.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "## Missing" in text and "metrics.json is missing" in text
    assert "predictions.jsonl is missing" in text and "No test metrics." in text
    assert "The job has not succeeded (failed)." in text
    assert "Data snapshot: unknown" in text
    card = client.get(reverse("results:model-card-json", args=[job.pk])).json()
    assert card["metrics"] == [] and card["data"]["snapshot_hash"] is None
    assert "No label set: the data snapshot is unknown." in card["missing"]


def test_another_team_s_model_card_is_404(client, personas, single_run):
    client.force_login(personas.outsider)
    for route in ("results:model-card-markdown", "results:model-card-json"):
        assert client.get(reverse(route, args=[single_run.pk])).status_code == 404
