"""A clustering run started from the browser or the API is a job of kind "cluster": on the
queue page, claimed by a real worker, cancellable; the run shows its job's status."""

import pytest
from django.db.models import RestrictedError
from django.urls import reverse
from rest_framework.test import APIClient

from curation import services
from curation.models import ClusterRun, ProposedCluster
from jobs import services as job_services
from jobs.models import Job, JobStatus
from jobs.registry import KINDS
from jobs.services import JobCancelled
from jobs.worker import JobContext
from tests.training.test_worker import wait_for, workers  # noqa: F401 (a fixture)


@pytest.fixture
def api(curator):
    client = APIClient()
    client.force_authenticate(curator)
    return client


def start(api, k: int, seed: int = 0) -> ClusterRun:
    response = api.post("/api/curation/runs/", {"k": k, "seed": seed}, format="json")
    assert response.status_code == 202, response.content
    return ClusterRun.objects.select_related("job").get(pk=response.json()["id"])


def test_a_cancel_while_running_stops_the_run_at_its_next_stage(corpus, curator):
    run = services.start_clustering(corpus.team, curator, k=6)
    job = job_services.claim_job(run.job.pk, "test-worker")
    job_services.request_cancel(job)
    with pytest.raises(JobCancelled):
        KINDS["cluster"].function(JobContext(job, "test-worker"))
    job_services.mark_cancelled(job.pk, "test-worker")  # what the worker does next
    run.refresh_from_db()
    assert run.status == "failed" and run.error == "cancelled on request"
    assert not ProposedCluster.objects.filter(run=run).exists()


def test_a_run_whose_job_is_cancelled_while_queued_ends_for_its_poller(
    api, corpus, client, personas
):
    run = start(api, k=6)
    job_services.request_cancel(run.job)
    polled = api.get(f"/api/curation/runs/{run.pk}/").json()
    assert polled["status"] == "failed" and polled["error"] == "the job was cancelled"
    # The run shows its job's status as it is: reading it reconciles nothing.
    assert ClusterRun.objects.filter(pk=run.pk, failure="").exists()
    client.force_login(personas.owner)
    page = client.get(reverse("curation:workspace")).content.decode()
    assert 'id="run-progress" hidden' in page  # no run shown as still clustering


def test_a_viewer_cannot_start_a_run_and_no_job_is_made(corpus, personas):
    viewer = APIClient()
    viewer.force_authenticate(personas.teammate)
    assert viewer.post("/api/curation/runs/", {"k": 6}, format="json").status_code == 403
    assert not Job.objects.exists() and not ClusterRun.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cluster_jobs_run_on_a_real_worker_and_show_on_the_queue(
    api,
    corpus,
    personas,
    client,
    workers,  # noqa: F811
):
    bad = start(api, k=6)  # queued before any worker: its run turns impossible meanwhile
    ClusterRun.objects.filter(pk=bad.pk).update(k=500)
    worker = workers("clustering")
    good = start(api, k=6, seed=3)
    ids = [bad.job.pk, good.job.pk]
    wait_for(lambda: all(job.finished for job in Job.objects.filter(pk__in=ids)), 120,
             "both cluster jobs", [worker.log])  # fmt: skip
    bad_job, good_job = Job.objects.get(pk=bad.job.pk), Job.objects.get(pk=good.job.pk)

    assert good_job.status == JobStatus.SUCCEEDED, good_job.error + worker.log.read_text()[-3000:]
    assert good_job.kind == "cluster" and good_job.queue == "default"
    assert good_job.worker and good_job.progress["step"] == 100
    good.refresh_from_db()
    assert good.status == "succeeded" and good.stage == "done" and good.n_clauses == 21
    stored = ProposedCluster.objects.filter(run=good, merged_into=None)
    assert stored.count() == good_job.metrics["clusters"] > 0
    assert sum(c.clause_count for c in stored) == good.n_clauses

    # A user's mistake fails at once (no retries), and says why on the job and on the run.
    bad.refresh_from_db()
    assert bad_job.status == JobStatus.FAILED and bad_job.attempts < bad_job.max_attempts
    assert "larger than the number of unique clauses" in bad_job.error
    assert bad.status == "failed" and "larger than the number of unique clauses" in bad.error

    listed = {row["id"]: row for row in api.get(reverse("job-list")).json()["results"]}
    assert listed[good_job.pk]["kind"] == "cluster"
    assert listed[good_job.pk]["status"] == "succeeded"
    client.force_login(personas.owner)
    queue = client.get(reverse("training:job-list")).content.decode()
    # the name the server made up, in the UI's words (training.display.job_title)
    assert "clustering, k=6, seed 3, normalised distance" in queue, queue
    outsider = APIClient()
    outsider.force_authenticate(personas.outsider)
    assert outsider.get(reverse("job-detail", args=[good_job.pk])).status_code == 404


def test_a_runs_job_goes_only_with_its_team(small_run, corpus):
    """The job is the run's status: it cannot be deleted from under the run, but deleting the
    team takes both along."""
    with pytest.raises(RestrictedError):
        small_run.job.delete()
    corpus.team.delete()
    assert not ClusterRun.objects.exists() and not Job.objects.exists()
