"""The Celery side of jobs: one task that carries a job id, and the worker's reaper."""

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from . import worker
from .services import RUN_JOB_TASK


@shared_task(name=RUN_JOB_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(job_id: int) -> None:
    worker.run(job_id)


@worker_ready.connect
def _start_reaper(sender=None, **_kwargs) -> None:
    """Each worker says it is alive (queues, device) and looks for jobs whose worker died, at
    start and then periodically."""
    worker.start_reaper(sender)


@worker_shutdown.connect
def _stop_reaper(**_kwargs) -> None:
    worker.stop_reaper()
