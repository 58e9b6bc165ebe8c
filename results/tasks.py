"""The Celery task name Grad-CAM maps had before they were jobs, kept so that nothing queued
before the upgrade is lost: such a message carries a heatmap id, and its row's job runs through
the jobs layer like any other (``run_job`` carries every map queued since)."""

import logging

from celery import shared_task

from jobs import worker

from . import heatmaps
from .models import Heatmap

log = logging.getLogger(__name__)


@shared_task(name=heatmaps.TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def compute_heatmap(heatmap_id: int) -> None:
    job_id = Heatmap.objects.filter(pk=heatmap_id).values_list("job_id", flat=True).first()
    if job_id is None:
        log.info("heatmap %s no longer exists; nothing to do", heatmap_id)
        return
    worker.run(job_id)
