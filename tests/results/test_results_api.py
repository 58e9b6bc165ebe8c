"""The results API for notebooks: ``/api/runs/`` (the run page's metrics), a run's predictions,
``/api/models/`` (the registry), team-scoped, read-only, in the schema, paginated by ``limit``
or ``page_size`` up to the cap."""

import json
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from jobs.models import Job
from teams.pagination import MAX_PAGE_SIZE
from teams.tokens import issue_token
from training import model_registry
from training.runs import RunFolder

from .pages import engine_outputs, metric_cells, num3, pct


def api_for(user) -> APIClient:
    """A notebook's client: an API token, as the README's example sends it."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user)}")
    return client


def page_cells(client, job) -> dict:
    client.force_login(job.owner)
    return metric_cells(client.get(reverse("results:run", args=[job.pk])).content.decode())


def run_row(team, status="succeeded", task="normal_abnormal", **fields) -> Job:
    """A run as its job row has it, for what needs no trained model (access, paging, filters)."""
    metrics = {"task": task, "class_names": ["normal", "abnormal"]} if status == "succeeded" else {}
    return Job.objects.create(team=team, kind="train", status=status, metrics=metrics,
                              config={"engine": {"task": task, "arch": "tiny"}}, **fields)  # fmt: skip


def scored_images(job, count: int) -> list[dict]:
    """Write a predictions.jsonl of ``count`` images into the run's folder, as the engine does."""
    folder = RunFolder.of(job).run
    folder.mkdir(parents=True)
    records = [{"image_id": f"1.2.3.{i}", "split": "test" if i % 2 else "val", "subset": "task",
                "labels": ["normal"], "probabilities": {"normal": 0.25, "abnormal": 0.75}}
               for i in range(count)]  # fmt: skip
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


# --- the numbers are the run page's ----------------------------------------------------------------


def test_runs_list_the_run_page_s_per_label_metrics(client, personas, single_run, binary_run):
    api = api_for(personas.teammate)
    listed = api.get("/api/runs/").json()
    assert listed["count"] == 2
    rows = {row["id"]: row for row in listed["results"]}
    assert list(rows) == [binary_run.pk, single_run.pk]  # newest first

    single = rows[single_run.pk]
    assert single["task"] == "single_disease" and single["architecture"] == "tiny"
    assert single["status"] == "succeeded" and single["kind"] == "train"
    label_set = single_run.config["label_set"]
    assert single["label_set"] == label_set and single["label_set_version"] == 2
    assert single["page"].endswith(reverse("results:run", args=[single_run.pk]))
    cells = page_cells(client, single_run)
    metrics, _predictions = engine_outputs(single_run)
    assert [label["key"] for label in single["metrics"]["labels"]] == metrics["class_names"]
    for label in single["metrics"]["labels"]:
        key = label["key"]
        for metric in ("specificity", "sensitivity", "top3_sensitivity"):
            assert pct(label[metric]) == cells[("task", key, metric)]
        assert cells[("task", key, "auc")].startswith(num3(label["auc"]))
        assert label["support"] is None and label["ppv"] is None  # counted for one run only
    assert pct(single["metrics"]["accuracy"]) == cells[("", "", "accuracy")]
    assert num3(single["multi_disease"]["mean_ap"]) == cells[("", "", "mean_ap")]
    for label in single["multi_disease"]["labels"]:
        assert pct(label["sensitivity"]) == cells[("multi_disease", label["key"], "sensitivity")]

    binary = rows[binary_run.pk]
    cells = page_cells(client, binary_run)
    assert binary["task"] == "normal_abnormal" and binary["metrics"]["labels"] == []
    for metric in ("accuracy", "sensitivity", "specificity"):
        assert pct(binary["metrics"][metric]) == cells[("", "", metric)]
    assert cells[("", "", "auc")].startswith(num3(binary["metrics"]["auc"]))
    assert len(binary["metrics"]["auc_ci95"]) == 2 and binary["multi_disease"] is None


def test_one_run_adds_support_ppv_its_split_and_names_in_the_request_s_language(
    client, personas, single_run
):
    detail = api_for(personas.owner).get(f"/api/runs/{single_run.pk}/").json()
    cells = page_cells(client, single_run)
    for label in detail["metrics"]["labels"]:
        assert str(label["support"]) == cells[("task", label["key"], "support")]
        assert pct(label["ppv"]) == cells[("task", label["key"], "ppv")]
    metrics, _predictions = engine_outputs(single_run)
    assert detail["confusion_matrix"] == metrics["test"]["confusion_matrix"]
    assert detail["split"] == single_run.metrics["patient_split"]
    assert detail["config"]["label_set"] == single_run.config["label_set"]
    assert detail["missing"] == [] and detail["problems"] == []
    # Label names are in the request's language, as on the page.
    chinese = (
        api_for(personas.owner)
        .get(f"/api/runs/{single_run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
        .json()
    )
    names = {label["key"]: label["name"] for label in chinese["metrics"]["labels"]}
    assert names["aortosclerosis"] == "主动脉硬化"


def test_a_run_s_predictions_page_through_with_true_labels(personas, single_run):
    api = api_for(personas.owner)
    _metrics, records = engine_outputs(single_run)
    test = [r for r in records if r["split"] == "test" and r["subset"] == "task"]
    first = api.get(f"/api/runs/{single_run.pk}/predictions/?split=test&subset=task&limit=5")
    body = first.json()
    assert body["count"] == len(test) and len(body["results"]) == 5
    row = body["results"][0]
    assert row["image_id"] == test[0]["image_id"] and row["labels"] == test[0]["labels"]
    assert row["probabilities"] == pytest.approx(test[0]["probabilities"])
    assert api.get(f"/api/instances/{row['instance']}/").json()["sop_uid"] == row["image_id"]
    second = api.get(body["next"]).json()
    assert [r["image_id"] for r in second["results"]] == [r["image_id"] for r in test[5:10]]
    everything = api.get(f"/api/runs/{single_run.pk}/predictions/").json()
    assert everything["count"] == len(records)


def test_the_registry_lists_models_and_the_current_one(personas, single_run, binary_run):
    model_registry.mark_current(single_run, personas.owner)
    api = api_for(personas.teammate)
    models = {row["id"]: row for row in api.get("/api/models/").json()["results"]}
    assert set(models) == {single_run.pk, binary_run.pk}
    current = models[single_run.pk]
    assert current["current"] is True and models[binary_run.pk]["current"] is False
    assert current["task"] == "single_disease" and current["label_set_version"] == 2
    assert current["test"]["accuracy"] == single_run.metrics["test"]["accuracy"]
    assert current["test"]["auc"] is None  # per label in task 2: see /api/runs/{id}/
    assert api.get(current["card"]).json()["job"] == single_run.pk
    only = api.get("/api/models/?current=true").json()["results"]
    assert [row["id"] for row in only] == [single_run.pk]
    binary = api.get("/api/models/?task=normal_abnormal").json()["results"]
    assert [row["id"] for row in binary] == [binary_run.pk]
    assert binary[0]["test"]["auc"] == binary_run.metrics["test"]["auc"]


# --- who sees what, and what can be done ------------------------------------------------------------


def test_another_team_s_runs_and_models_are_404_and_unlisted(personas):
    ours = run_row(personas.team)
    theirs = run_row(personas.other_team)
    scored_images(theirs, 3)
    api = api_for(personas.owner)
    for path in (f"/api/runs/{theirs.pk}/", f"/api/runs/{theirs.pk}/predictions/",
                 f"/api/models/{theirs.pk}/"):  # fmt: skip
        assert api.get(path).status_code == 404, path
    assert [row["id"] for row in api.get("/api/runs/").json()["results"]] == [ours.pk]
    assert [row["id"] for row in api.get("/api/models/").json()["results"]] == [ours.pk]
    other = personas.other_team
    for query in (f"team={other.pk}", f"team={other.slug}"):
        assert api.get(f"/api/runs/?{query}").json()["count"] == 0
    assert api.get(f"/api/runs/?team={personas.team.slug}").json()["count"] == 1
    assert APIClient().get("/api/runs/").status_code == 401


def test_only_finished_training_runs_are_models(personas):
    run_row(personas.team, status="failed")
    running = run_row(personas.team, status="running")
    api = api_for(personas.owner)
    assert api.get("/api/models/").json()["count"] == 0
    assert api.get(f"/api/models/{running.pk}/").status_code == 404
    runs = api.get("/api/runs/?status=failed").json()["results"]
    assert len(runs) == 1 and runs[0]["metrics"] is None


@pytest.mark.parametrize("path", ["/api/runs/", "/api/models/"])
def test_the_results_api_is_read_only(personas, path):
    job = run_row(personas.team)
    api = api_for(personas.owner)  # a team admin: may train, still may not write here
    assert api.post(path, {"name": "x"}, format="json").status_code == 405
    for method in (api.put, api.patch, api.delete):
        assert method(f"{path}{job.pk}/", {"name": "x"}, format="json").status_code == 405
    assert api.post(f"/api/runs/{job.pk}/predictions/").status_code == 405
    job.refresh_from_db()
    assert job.name == "" and Job.objects.count() == 1


@pytest.mark.parametrize(
    "query, field",
    [("task=bogus", "task"), ("status=done", "status"), ("kind=predict", "kind")],
)
def test_an_unknown_filter_value_is_a_400_naming_the_choices(personas, query, field):
    response = api_for(personas.owner).get(f"/api/runs/?{query}")
    assert response.status_code == 400
    assert "one of" in response.json()[field][0]


def test_clustering_runs_stay_under_curation(personas):
    run_row(personas.team)
    api = api_for(personas.owner)
    assert api.get("/api/curation/runs/").status_code == 200
    assert all(row["kind"] == "train" for row in api.get("/api/runs/").json()["results"])


def test_the_schema_documents_the_results_api(personas):
    schema = api_for(personas.owner).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in ("/api/runs/", "/api/runs/{id}/", "/api/runs/{id}/predictions/",
                 "/api/models/", "/api/models/{id}/"):  # fmt: skip
        assert "get" in paths[path], path
        assert not set(paths[path]) & {"post", "put", "patch", "delete"}, path
    listed = {p["name"] for p in paths["/api/runs/"]["get"]["parameters"]}
    assert {"limit", "page_size", "offset", "task", "status", "team"} <= listed
    predictions = {p["name"] for p in paths["/api/runs/{id}/predictions/"]["get"]["parameters"]}
    assert {"limit", "page_size", "offset", "split", "subset"} <= predictions
    studies = {p["name"] for p in paths["/api/studies/"]["get"]["parameters"]}
    assert {"limit", "page_size"} <= studies


# --- pagination: limit, its alias page_size, and the cap --------------------------------------------


def test_page_size_is_limit_everywhere_pagination_is(personas):
    for _ in range(3):
        run_row(personas.team)
    api = api_for(personas.owner)
    for path in ("/api/runs/", "/api/models/", "/api/jobs/"):
        by_limit = api.get(f"{path}?limit=2").json()
        by_page_size = api.get(f"{path}?page_size=2").json()
        assert by_limit == by_page_size, path
        assert by_limit["count"] == 3 and len(by_limit["results"]) == 2
        assert "limit=2" in by_limit["next"] and "page_size" not in by_page_size["next"]
        rest = api.get(by_page_size["next"]).json()
        assert len(rest["results"]) == 1 and rest["next"] is None


def test_limit_and_page_size_are_capped(personas):
    job = run_row(personas.team)
    scored_images(job, MAX_PAGE_SIZE + 5)
    api = api_for(personas.owner)
    for param in ("limit", "page_size"):
        body = api.get(f"/api/runs/{job.pk}/predictions/?{param}={MAX_PAGE_SIZE * 10}").json()
        assert body["count"] == MAX_PAGE_SIZE + 5
        assert len(body["results"]) == MAX_PAGE_SIZE
        assert f"limit={MAX_PAGE_SIZE}&" in body["next"] + "&"
        assert len(api.get(body["next"]).json()["results"]) == 5


@pytest.mark.parametrize(
    "query, field",
    [("limit=abc", "limit"), ("page_size=0", "page_size"), ("limit=-3", "limit"),
     ("offset=-1", "offset"), ("offset=x", "offset"), ("limit=2&page_size=3", "page_size")],
)  # fmt: skip
def test_a_bad_page_is_a_400_that_says_why(personas, query, field):
    run_row(personas.team)
    for path in ("/api/runs/", "/api/studies/"):
        response = api_for(personas.owner).get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert field in response.json()


def test_limit_and_page_size_may_both_be_given_when_equal(personas):
    run_row(personas.team)
    body = api_for(personas.owner).get("/api/runs/?limit=1&page_size=1").json()
    assert body["count"] == 1 and len(body["results"]) == 1


def test_a_list_of_runs_takes_a_fixed_number_of_queries(personas, django_assert_max_num_queries):
    trained = [run_row(personas.team) for _ in range(6)]
    for source in trained:  # an evaluation's label set is its training run's
        Job.objects.create(team=personas.team, kind="evaluate", status="queued",
                           config={"source_job": source.pk})  # fmt: skip
    api = api_for(personas.owner)
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/runs/?limit=12").json()["results"]) == 12


# --- the README's example, against a running server ------------------------------------------------


def readme_example() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## API for notebooks\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_s_notebook_example_runs(live_server, personas, capsys):
    labels = ["normal", "emphysema"]
    per_label = {label: 0.5 for label in labels}
    test = {"n": 4, "accuracy": 0.75, "macro_auc": 0.5, "sensitivity": per_label,
            "specificity": per_label, "top3_sensitivity": per_label, "auc": per_label,
            "auc_ci95": {label: [0.1, 0.9] for label in labels}}  # fmt: skip
    job = run_row(personas.team, task="single_disease")
    job.metrics = {"task": "single_disease", "class_names": labels, "test": test}
    job.save(update_fields=["metrics"])
    scored_images(job, 2500)
    model_registry.mark_current(job, personas.owner)
    code = readme_example().replace("http://127.0.0.1:8000", live_server.url)
    code = code.replace("<key>", issue_token(personas.teammate))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the README's own code, as printed
    assert [run["id"] for run in namespace["runs"]] == [job.pk]
    assert len(namespace["test_scores"]) == 1250  # two pages: 1000 at most in one
    assert [model["id"] for model in namespace["current"]] == [job.pk]
    assert capsys.readouterr().out.splitlines() == ["normal 0.5 0.5 0.5", "emphysema 0.5 0.5 0.5"]
