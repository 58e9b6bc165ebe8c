"""``celery -A lab worker`` whose training stalls right after one epoch's checkpoint, so that a
test stops a job at a known point of its run instead of racing a timer.

    python -m tests.training.stalling_trainer MARKER EPOCH worker -Q QUEUE ...

Once ``last.pt`` holds EPOCH, the engine writes MARKER and waits, where a long epoch would be,
until a file ``MARKER.go`` appears; a test that kills the worker never writes it. The job stays
claimed and beating as on any worker.
"""

import os
import sys
import time
from pathlib import Path


def main() -> None:
    marker, epoch, arguments = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    go = marker.with_name(marker.name + ".go")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django

    django.setup()
    from training.engine import runner

    save = runner.save_checkpoint

    def save_then_stall(path, state: dict):
        saved = save(path, state)
        if Path(path).name == "last.pt" and state["epoch"] == epoch:
            marker.write_text(str(epoch))
            while not go.exists():
                time.sleep(0.1)
        return saved

    runner.save_checkpoint = save_then_stall  # the pool's processes fork from this one
    from celery.bin.celery import main as celery

    sys.argv = ["celery", "-A", "lab", *arguments]
    celery()


if __name__ == "__main__":
    main()
