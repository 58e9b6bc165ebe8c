"""Celery task of the results app: one Grad-CAM map, its row id in the message, nothing else."""

import logging

from celery import shared_task

from . import heatmaps

log = logging.getLogger(__name__)


@shared_task(name=heatmaps.TASK, acks_late=True, ignore_result=True)
def compute_heatmap(heatmap_id: int) -> None:
    heatmap = heatmaps.claim(heatmap_id)
    if heatmap is None:
        log.info("heatmap %s is not queued (taken or finished); nothing to do", heatmap_id)
        return
    try:
        path = heatmaps.compute(heatmap)
    except Exception as exc:
        log.exception("heatmap %s failed", heatmap_id)
        heatmaps.fail(heatmap_id, exc)
    else:
        log.info("heatmap %s written to %s", heatmap_id, path)
        heatmaps.succeed(heatmap_id)
