"""Comparing runs, for every task: each cell holds the number the run's own page shows, runs
without results cannot be ticked or compared, and warnings say exactly what differs (and
nothing when runs share a task, a label set and a split)."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import translation

from curation.models import LabelSet, LabelSetImage
from jobs.models import Job
from tests.training.runs import trained_job

from .pages import elements_with, engine_outputs, metric_cells, num3, pct

SPLIT = [0.6, 0.2, 0.2]


class _CompareCells(HTMLParser):
    """Each compare cell's shown value (its delta left out), keyed by (table, label, metric,
    run), and its delta's text."""

    def __init__(self) -> None:
        super().__init__()
        self.subset = self.label = ""
        self.cell: tuple | None = None
        self.in_delta = False
        self.values: dict[tuple, str] = {}
        self.deltas: dict[tuple, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.subset = attrs.get("data-subset", "")
        elif tag == "tr":
            self.label = attrs.get("data-label", "")
        elif tag == "td" and "data-run" in attrs:
            self.cell = (self.subset, self.label, attrs["data-metric"], int(attrs["data-run"]))
            self.values[self.cell] = ""
        elif tag == "small" and self.cell:
            self.in_delta = True
            self.deltas[self.cell] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None
        elif tag == "small":
            self.in_delta = False

    def handle_data(self, data):
        if self.cell:
            target = self.deltas if self.in_delta else self.values
            target[self.cell] += data.strip()


def compare_page(client, *runs, status: int = 200, **headers) -> str:
    response = client.get(reverse("results:compare"), {"runs": [r.pk for r in runs]}, **headers)
    assert response.status_code == status, response.content.decode()[:500]
    return response.content.decode()


def cells_of(html: str) -> tuple[dict, dict]:
    parser = _CompareCells()
    parser.feed(html)
    return parser.values, parser.deltas


def warnings_of(html: str) -> list[str]:
    parser = _Texts("data-warning")
    parser.feed(html)
    return parser.texts


class _Texts(HTMLParser):
    def __init__(self, attribute: str) -> None:
        super().__init__()
        self.attribute, self.depth, self.texts = attribute, 0, []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif self.attribute in dict(attrs):
            self.depth = 1
            self.texts.append("")

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.texts[-1] += data


def run_page_cells(client, run) -> dict:
    return metric_cells(client.get(reverse("results:run", args=[run.pk])).content.decode())


def _number(text: str) -> str:
    """A run page's AUC cell without its confidence interval."""
    return text.split(" ")[0]


# --- task 1 ---------------------------------------------------------------------------------


@pytest.fixture
def second_binary(personas, label_set):
    return trained_job(personas.team, personas.owner, label_set, lr=0.01, epochs=2)


def test_binary_runs_show_auc_sensitivity_and_specificity_as_their_run_pages(
    client, personas, binary_run, second_binary, django_assert_max_num_queries
):
    client.force_login(personas.teammate)
    with django_assert_max_num_queries(10):
        html = compare_page(client, binary_run, second_binary)
    values, deltas = cells_of(html)
    for run in (binary_run, second_binary):
        metrics, _ = engine_outputs(run)
        page = run_page_cells(client, run)
        for metric in ("accuracy", "sensitivity", "specificity", "auc"):
            shown = values[("overall", "", metric, run.pk)]
            assert shown != "—"
            assert shown == _number(page[("", "", metric)])
            expected = num3 if metric == "auc" else pct
            assert shown == expected(metrics["test"][metric])
    # Deltas against the first run: in points for rates, in AUC units for the AUC.
    first, second = (engine_outputs(r)[0]["test"] for r in (binary_run, second_binary))
    delta = second["auc"] - first["auc"]
    assert deltas[("overall", "", "auc", second_binary.pk)] == f"({delta:+.3f})"
    delta = (second["sensitivity"] - first["sensitivity"]) * 100
    assert deltas[("overall", "", "sensitivity", second_binary.pk)] == f"({delta:+.1f})"
    assert ("overall", "", "auc", binary_run.pk) not in deltas
    # One task, one label set, one split: nothing to warn about, and no per-label table.
    assert warnings_of(html) == []
    assert 'data-subset="task"' not in html
    # The overlaid ROC offers the abnormal class of both runs.
    assert '<option value="abnormal">abnormal</option>' in html


def test_binary_runs_on_different_splits_say_which_setting_and_counts_differ(
    client, personas, label_set, binary_run
):
    other = trained_job(personas.team, personas.owner, label_set, split_fractions=SPLIT)
    client.force_login(personas.owner)
    shown = warnings_of(compare_page(client, binary_run, other))
    n_first = engine_outputs(binary_run)[0]["test"]["n"]
    n_other = engine_outputs(other)[0]["test"]["n"]
    assert n_first != n_other
    assert shown == [
        "These runs split their data differently (split fractions: "
        f"#{binary_run.pk} 80/10/10, #{other.pk} 60/20/20; test images: "
        f"#{binary_run.pk} {n_first}, #{other.pk} {n_other}): they were tested on different "
        "images."
    ]


# --- task 2 (and its task 3 block) ------------------------------------------------------------


@pytest.fixture
def second_single(personas, label_set):
    return trained_job(personas.team, personas.owner, label_set, task="single_disease",
                       balance="none", epochs=1, lr=0.02, split_fractions=SPLIT)  # fmt: skip


def test_single_disease_runs_compare_per_label_as_their_run_pages(client, personas, single_run,
                                                                  second_single):  # fmt: skip
    client.force_login(personas.owner)
    html = compare_page(client, single_run, second_single)
    values, _deltas = cells_of(html)
    for run in (single_run, second_single):
        metrics, _ = engine_outputs(run)
        page = run_page_cells(client, run)
        for key in metrics["class_names"]:
            for metric in ("specificity", "sensitivity", "top3_sensitivity", "auc"):
                assert values[("task", key, metric, run.pk)] == _number(page[("task", key, metric)])
            for metric in ("specificity", "sensitivity"):
                assert (values[("multi_disease", key, metric, run.pk)]
                        == page[("multi_disease", key, metric)])  # fmt: skip
        assert values[("overall", "", "accuracy", run.pk)] == page[("", "", "accuracy")]
        assert values[("overall", "", "macro_auc", run.pk)] == page[("", "", "macro_auc")]
        multi = metrics["multi_disease"]["test"]
        assert values[("overall", "", "multi_mean_ap", run.pk)] == num3(multi["mean_ap"])
        # A rate the engine reports is a number on the page, not a dash.
        sensitivity = metrics["test"]["sensitivity"]["normal"]
        assert values[("task", "normal", "sensitivity", run.pk)] == pct(sensitivity) != "—"
    assert warnings_of(html) == []


# --- multi-label ------------------------------------------------------------------------------


def test_multi_label_runs_compare_per_label_and_mean_ap(client, personas, label_set):
    runs = [trained_job(personas.team, personas.owner, label_set, task="multi_label",
                        split_fractions=SPLIT, lr=lr) for lr in (0.05, 0.01)]  # fmt: skip
    client.force_login(personas.owner)
    html = compare_page(client, *runs)
    values, _deltas = cells_of(html)
    for run in runs:
        metrics, _ = engine_outputs(run)
        page = run_page_cells(client, run)
        for key in metrics["class_names"]:
            for metric in ("specificity", "sensitivity", "auc"):
                assert values[("task", key, metric, run.pk)] == _number(page[("task", key, metric)])
            # Multi-label runs report no top-3 sensitivity: no column for it.
            assert ("task", key, "top3_sensitivity", run.pk) not in values
        assert values[("overall", "", "mean_ap", run.pk)] == page[("", "", "mean_ap")] != "—"
    assert warnings_of(html) == []


# --- what cannot be compared ----------------------------------------------------------------


def unfinished_jobs(personas) -> dict[str, Job]:
    make = Job.objects.create
    return {
        status: make(team=personas.team, owner=personas.owner, kind="train", status=status,
                     name=f"{status} one", config={"engine": {"task": "normal_abnormal"}})
        for status in ("failed", "running", "queued", "cancelled")
    } | {"no report": make(team=personas.team, owner=personas.owner, kind="train",
                           status="succeeded", name="no report", metrics={"task": "x"})}  # fmt: skip


def test_runs_without_results_cannot_be_ticked_and_say_why(client, personas, binary_run):
    jobs = unfinished_jobs(personas)
    client.force_login(personas.owner)
    html = client.get(reverse("results:run-list")).content.decode()
    boxes = {int(attrs["value"]): attrs for tag, attrs in elements_with(html, "type")
             if tag == "input" and attrs.get("type") == "checkbox"}  # fmt: skip
    ticked = boxes[binary_run.pk]
    assert ticked.get("name") == "runs" and "disabled" not in ticked
    reasons = {
        "failed": "It failed: a failed run has no results to compare.",
        "running": "It is still running: compare it once it has finished.",
        "queued": "It is queued: compare it once it has finished.",
        "cancelled": "It was cancelled: a cancelled run has no results to compare.",
        "no report": "It has no test report: evaluate the run to compare it.",
    }
    for status, job in jobs.items():
        box = boxes[job.pk]
        # Disabled and nameless: the browser sends nothing for it; the tooltip says why.
        assert "disabled" in box and "name" not in box
        assert box["title"] == reasons[status]
    # The compare page's picker offers only runs with results.
    picker = client.get(reverse("results:compare")).content.decode()
    offered = {int(a["value"]) for t, a in elements_with(picker, "value")
               if t == "option" and a["value"].isdigit()}  # fmt: skip
    assert offered == {binary_run.pk}


def test_the_compare_page_refuses_runs_without_results_given_by_url(client, personas, label_set,
                                                                    binary_run):  # fmt: skip
    jobs = unfinished_jobs(personas)
    other = trained_job(personas.team, personas.owner, label_set, lr=0.01)
    client.force_login(personas.owner)
    html = compare_page(client, binary_run, jobs["failed"], jobs["running"], other, status=400)
    refused = {int(a["data-refused"]) for _t, a in elements_with(html, "data-refused")}
    assert refused == {jobs["failed"].pk, jobs["running"].pk}
    assert "It failed: a failed run has no results to compare." in html
    assert "It is still running: compare it once it has finished." in html
    # No table of dashes, no warnings about the refused runs, and a way on with the others.
    assert "data-warning" not in html and 'data-subset="overall"' not in html
    link = next(a["href"] for _t, a in elements_with(html, "data-compare-others"))
    assert link == f"{reverse('results:compare')}?runs={binary_run.pk}&runs={other.pk}"
    assert client.get(link).status_code == 200
    # Chinese: the refusal is translated.
    with translation.override("zh-hans"):
        chinese = compare_page(client, binary_run, jobs["failed"], status=400,
                               HTTP_ACCEPT_LANGUAGE="zh-hans")  # fmt: skip
    assert "只有已完成且有测试报告的运行可以比较" in chinese


def test_bad_run_lists_are_refused_and_other_teams_runs_are_not_found(client, personas,
                                                                      binary_run):  # fmt: skip
    client.force_login(personas.owner)
    bad = client.get(reverse("results:compare"), {"runs": [binary_run.pk, "7; drop"]})
    assert bad.status_code == 400 and b"is not a run number" in bad.content
    many = client.get(reverse("results:compare"), {"runs": list(range(1, 9))})
    assert many.status_code == 400 and b"At most 6 runs can be compared at once" in many.content
    client.force_login(personas.outsider)
    assert client.get(reverse("results:compare"), {"runs": [binary_run.pk]}).status_code == 404
    mine = Job.objects.create(team=personas.other_team, owner=personas.outsider, kind="train",
                              status="succeeded", metrics={"test": {"auc": 0.5}})  # fmt: skip
    response = client.get(reverse("results:compare"), {"runs": [mine.pk, binary_run.pk]})
    assert response.status_code == 404
    # The same run twice is one run: the page asks for another.
    client.force_login(personas.owner)
    same = compare_page(client, binary_run, binary_run)
    assert "Choose two or more runs" in same and "data-run" not in same


# --- warnings -------------------------------------------------------------------------------


def fewer_labels(label_set: LabelSet, keep: tuple[str, ...]) -> LabelSet:
    """A later label set of the same images with fewer labels (images left bare are dropped)."""
    smaller = LabelSet.objects.create(
        team=label_set.team, version=label_set.version + 1, content_hash="d" * 64,
        labels=[label for label in label_set.labels if label["key"] in keep],
    )  # fmt: skip
    rows = []
    for row in label_set.images.all():
        labels = [key for key in row.labels if key in keep]
        if labels:
            rows.append(LabelSetImage(team=row.team, label_set=smaller, instance=row.instance,
                                      sop_uid=row.sop_uid, labels=labels))  # fmt: skip
    LabelSetImage.objects.bulk_create(rows)
    return smaller


def test_different_tasks_label_sets_and_labels_are_each_named(client, personas, label_set,
                                                              single_run):  # fmt: skip
    client.force_login(personas.owner)
    # Binary and single disease on one label set and split settings: only the task differs.
    binary_run = trained_job(personas.team, personas.owner, label_set, split_fractions=SPLIT)
    shown = warnings_of(compare_page(client, binary_run, single_run))
    assert shown == [
        f"These runs are of different tasks (#{binary_run.pk} Normal vs abnormal, "
        f"#{single_run.pk} Single disease): their numbers measure different things on "
        "different test images."
    ]
    with translation.override("zh-hans"):
        chinese = warnings_of(compare_page(client, binary_run, single_run,
                                           HTTP_ACCEPT_LANGUAGE="zh-hans"))  # fmt: skip
    assert len(chinese) == 1 and chinese[0].startswith("这些运行属于不同任务（")
    smaller = fewer_labels(label_set, ("normal", "increased_lung_marking"))
    two = trained_job(personas.team, personas.owner, smaller, task="single_disease",
                      balance="none", epochs=1, split_fractions=SPLIT)  # fmt: skip
    html = compare_page(client, single_run, two)
    shown = warnings_of(html)
    assert shown == [
        f"These runs used different label sets (#{single_run.pk} label set "
        f"v{label_set.version}, #{two.pk} label set v{smaller.version}): their test images and "
        "labels differ.",
        f"These runs have different labels (#{two.pk} lacks aortosclerosis); a label a run "
        "lacks shows — in its column.",
    ]
    values, _deltas = cells_of(html)
    assert values[("task", "aortosclerosis", "sensitivity", two.pk)] == "—"
    assert values[("task", "aortosclerosis", "sensitivity", single_run.pk)] != "—"
