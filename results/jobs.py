"""The ``gradcam`` job: a worker draws the Grad-CAM map that a page asked for.

The job row carries what every job has (queue, heartbeat, reaper, attempts, log); the
``Heatmap`` row names what to draw and reads its status from the job. A map is one image's
forward and backward pass: any worker on the ``default`` queue, no GPU needed. The jobs are
hidden from the job list unless asked for. Registered from ``ResultsConfig.ready()``.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext_lazy as _

from jobs.registry import runner
from jobs.services import JobInputError
from jobs.worker import JobContext

from . import heatmaps
from .models import Heatmap

log = logging.getLogger("results.heatmaps")


# A map is one deterministic pass: an error fails the job at once (a second attempt would fail
# the same way), and asking again re-queues it. Only a dead worker's map is tried again.
@runner(heatmaps.KIND, queue="default", label=_("Grad-CAM map"), permanent=(Exception,),
        hidden=True)  # fmt: skip
def gradcam(context: JobContext) -> dict:
    """Draw the job's map (or find it drawn by an attempt that died before it could say so)."""
    heatmap = Heatmap.objects.select_related("run", "instance__team").filter(job=context.job)
    heatmap = heatmap.first()
    if heatmap is None:
        raise JobInputError(f"job {context.job.pk} makes no Grad-CAM map")
    path = heatmaps.make(heatmap)
    log.info("heatmap %s written to %s", heatmap.pk, path)
    return {"metrics": {"heatmap": heatmap.pk}, "output_dir": ""}
