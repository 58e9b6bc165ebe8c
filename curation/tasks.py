"""Celery tasks: thin. The run row is the source of truth; the message carries only its id."""

import logging

from celery import shared_task

from . import services
from .models import ClusterRun

log = logging.getLogger(__name__)


# Routed to the "default" queue (CELERY_TASK_DEFAULT_QUEUE): clustering needs no GPU.
@shared_task(name="curation.run_clustering", ignore_result=True)
def run_clustering_task(run_id: int) -> None:
    if not ClusterRun.objects.filter(pk=run_id).exists():
        log.warning("clustering run %s is gone; nothing to do", run_id)
        return
    if not services.claim_run(run_id):
        log.info("clustering run %s was already claimed", run_id)
        return
    services.execute_run(run_id)
