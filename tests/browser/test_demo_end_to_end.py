"""Issue 16, problem 1: the default demo reaches every result.

A fresh database, `make run`'s demo (the bootstrap command: 300 enriched images), clustering from
the workspace (k = 40), one action per cluster in the browser (map it to the label its clauses
say, or mark it as carrying no label; the run itself maps the clusters of normal statements),
a freeze, then the three tasks launched from the form on
the CPU preset: all three succeed. Slow (a few minutes): one Celery worker clusters and trains.
"""

import collections
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from curation.models import ClusterRun, Label, LabelSet, ProposedCluster
from jobs.models import Job
from labeling.text import AFFIRMED, normalize
from teams.models import Team
from tests.training.test_worker import Worker

from .jobs import watch_job

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TASKS = ("normal_abnormal", "single_disease", "multi_label")


@pytest.fixture
def worker(tmp_path, settings):
    settings.CACHE_IMAGE_SIZE = 64  # small cache images: the worker reads the same setting
    started = Worker(tmp_path, "demo")
    yield started
    started.stop()


def _truth_by_clause() -> dict[tuple[str, str], collections.Counter]:
    """What each normalised clause of each polarity says, from the generator's hidden truth: the
    test's oracle for what a curator reads in a cluster's clauses (label key, or None for no
    label). Keyed by polarity too: 胸膜增厚？ normalises to the text of the affirmed 胸膜增厚."""
    truth_path = next((Path(settings.DATA_DIR) / "demo").rglob("truth.json"))
    truth = json.loads(truth_path.read_text())
    said: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for study in truth["studies"].values():
        for clause in study["clauses"]:
            carries = clause["polarity"] == AFFIRMED or clause["label"] == "normal"
            key = clause["label"] if carries else None
            said[(normalize(clause["text"]), clause["polarity"])][key] += 1
    return said


def _decision(cluster: ProposedCluster, said) -> str | None:
    """The label key most of the cluster's clauses carry, or None (no label)."""
    tally = collections.Counter()
    for member in cluster.members.all():
        for key, count in said.get((member.normalized, member.polarity), {}).items():
            tally[key] += count
    return tally.most_common(1)[0][0] if tally else None


def test_fresh_demo_cluster_map_freeze_then_all_three_tasks_succeed(
    login, live_server, tmp_path, worker
):
    with open(tmp_path / "bootstrap.json", "w") as out:
        call_command("bootstrap", "--json", stdout=out)  # make run's demo, its defaults
    team = Team.objects.get()
    admin = get_user_model().objects.get(username="admin")
    said = _truth_by_clause()
    page = login(admin)

    page.goto(f"{live_server.url}/curation/")
    page.fill("#run-form input[name=k]", "40")
    page.click("#run-form button[type=submit]")
    page.wait_for_url(re.compile(r".*\?run=\d+"), timeout=120_000)  # the worker clustered
    run = ClusterRun.objects.get(team=team)
    labels = {label.key: label.pk for label in Label.objects.filter(team=team)}
    clusters = list(ProposedCluster.objects.filter(run=run, merged_into=None))
    assert len(clusters) == 40
    for cluster in clusters:  # one action per cluster the run left open
        key = _decision(cluster, said)
        if cluster.verdict != "open":  # the run mapped its statements of normality already
            # (the generator's truth files some of them, 两肺纹理清晰, as a denied finding)
            assert (cluster.verdict, cluster.label.key) == ("label", "normal") and key in (
                "normal", None)  # fmt: skip
            continue
        card = page.locator(f'#clusters .cluster[data-id="{cluster.pk}"]')
        card.click()
        if key is None:
            page.keyboard.press("n")
        else:
            page.keyboard.press("l")
            page.locator("#label-dialog select").select_option(str(labels[key]))
            page.locator("#label-dialog button[value=ok]").click()
        page.locator(f'#clusters .cluster[data-id="{cluster.pk}"]:not(.verdict-open)').wait_for()
        page.locator("#toast .toast-close").click()  # the toast would cover the next card
    assert not ProposedCluster.objects.filter(run=run, merged_into=None, verdict="open").exists()

    page.goto(f"{live_server.url}{reverse('curation:label-sets')}")
    page.click("#freeze-form button[type=submit]")
    page.wait_for_url("**/label-sets/*/")
    label_set = LabelSet.objects.get(team=team)
    assert page.locator("#shortfalls").count() == 0, page.locator("#shortfalls").inner_text()

    jobs = []
    for task in TASKS:
        page.goto(f"{live_server.url}{reverse('training:launch')}?preset=cpu")
        page.select_option("#id_label_set", str(label_set.pk))
        page.select_option("#id_task", task)
        table = page.locator(f'table.split-counts[data-task="{task}"]')
        assert table.is_visible() and table.locator("td.error").count() == 0
        page.fill("#id_crop", "56")  # the 64-pixel cache of this test
        page.fill("#id_name", f"demo {task}")
        page.click("form.launch button[type=submit]")
        page.wait_for_url("**/jobs/*/")
        jobs.append(Job.objects.get(name=f"demo {task}"))
    for job in jobs:
        page.goto(f"{live_server.url}{reverse('training:job-detail', args=[job.pk])}")
        watch_job(page, polls=600)
        job.refresh_from_db()
        assert job.status == "succeeded", (job.name, job.error, worker.log.read_text()[-3000:])
