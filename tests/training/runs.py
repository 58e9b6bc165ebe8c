"""Finished runs for evaluation, prediction and registry tests, trained in-process.

A worker process is what tests/training/test_worker.py is about; here the job's runner is called
directly on a claimed row (the same code a worker calls), which keeps these tests fast.
"""

import logging

from jobs import services as job_services
from jobs.models import Job
from jobs.registry import KINDS
from jobs.worker import JobContext

TINY = {
    "task": "normal_abnormal", "arch": "tiny", "crop": 56, "batch_size": 16,
    "eval_batch_size": 32, "lr": 0.05, "device": "cpu", "amp": "off", "eval_crops": "center",
    "min_per_label_eval": 1, "log_every": 2, "epochs": 1,
}  # fmt: skip


def run_inline(job: Job, worker: str = "test-worker") -> Job:
    """Claim the job and run its kind's runner here, recording success or failure as a worker
    would; returns the reloaded row."""
    claimed = job_services.claim_job(job.pk, worker)
    assert claimed is not None, f"job {job.pk} could not be claimed ({job.status})"
    try:
        result = KINDS[claimed.kind].function(JobContext(claimed, worker))
    except Exception as exc:  # recorded on the row, as run_job does
        logging.getLogger(__name__).exception("job %s failed", claimed.pk)
        job_services.fail_attempt(claimed.pk, worker, exc, retry=False)
    else:
        job_services.succeed(claimed.pk, worker, result.get("metrics", {}), result["output_dir"])
    job.refresh_from_db()
    return job


def trained_job(team, owner, label_set, **engine) -> Job:
    config = {"label_set": label_set.pk, "engine": {**TINY, **engine}}
    job = job_services.create_job(team, owner, "train", config, name="tiny run")
    job = run_inline(job)
    assert job.status == "succeeded", job.error + job.traceback
    return job
