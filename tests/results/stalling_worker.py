"""``celery -A lab worker`` whose Grad-CAM maps stall mid-map, for a test to kill it there.

    python -m tests.results.stalling_worker MARKER worker -Q QUEUE ...

A map's job is claimed and beating as on any worker; inside the map it writes MARKER (the
heatmap id) and waits for ever, where a slow forward and backward pass would be.
"""

import os
import sys
import time
from pathlib import Path


def main() -> None:
    marker, arguments = Path(sys.argv[1]), sys.argv[2:]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django

    django.setup()
    from results import heatmaps

    def stall(heatmap) -> Path:
        # Written beside it, then renamed: a test that sees the marker reads the whole id.
        written = marker.with_name(marker.name + ".tmp")
        written.write_text(str(heatmap.pk))
        os.replace(written, marker)
        while True:
            time.sleep(60)

    heatmaps.compute = stall  # the pool's processes fork from this one, patch included
    from celery.bin.celery import main as celery

    sys.argv = ["celery", "-A", "lab", *arguments]
    celery()


if __name__ == "__main__":
    main()
