"""The ``cluster`` job: runs a clustering run that ``start_clustering`` made, on a worker or
in-process (``run_clustering``, ``manage.py cluster``, through ``jobs.worker.run`` alike).

The job row carries the run's lifecycle (status, progress and stage, heartbeat, attempts,
cancel, log); the run row keeps its parameters and result (k curve, clusters, timings). Progress
goes to the job only. Registered from ``CurationConfig.ready()``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from jobs import services as job_services
from jobs.registry import runner
from jobs.services import ClaimLost, JobCancelled, JobInputError
from jobs.worker import JobContext

from . import services
from .models import ClusterRun
from .services.runs import CLUSTER_KIND


def _progress_point(fraction: float, stage: str) -> dict:
    return {"phase": stage, "epoch": 1, "epochs": 1, "step": round(fraction * 100),
            "total_steps": 100}  # fmt: skip


@runner(CLUSTER_KIND, label=_("cluster"))
def cluster(context: JobContext) -> dict:
    """Claim the job's run, cluster, and fail the job (without retrying) when the run fails
    for a reason a user can fix (k too large for the clauses, no clauses left)."""
    job = context.job
    run_id = job.config.get("cluster_run")
    if not services.claim_run_for_job(run_id, job.pk):
        raise JobInputError(f"clustering run {run_id!r} is not this job's or has already finished")

    def progress(fraction: float, stage: str) -> None:
        context.report(_progress_point(fraction, stage), keep=False)

    try:
        progress(0.01, "claimed")
        services.execute_run(run_id, on_progress=progress)
    except ClaimLost:
        raise  # the job is another worker's now: write nothing more
    except JobCancelled as stop:
        services.stop_run(run_id, str(stop))
        raise
    run = ClusterRun.objects.get(pk=run_id)
    if run.failure:
        raise JobInputError(run.failure)
    # The last point directly: the run has succeeded, so a late cancel no longer stops it.
    job_services.record_progress(job.pk, context.worker, _progress_point(1.0, "done"), keep=False)
    clusters = run.clusters.filter(merged_into=None).count()
    metrics = {"cluster_run": run.pk, "k": run.k, "seed": run.seed, "clusters": clusters,
               "clauses": run.n_clauses, "unique": run.n_unique, "loss": run.loss,
               "silhouette": run.silhouette, "seconds": run.timings.get("total")}  # fmt: skip
    return {"metrics": metrics, "output_dir": ""}
