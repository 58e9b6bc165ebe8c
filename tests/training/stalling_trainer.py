"""``celery -A lab worker`` whose training stalls right after chosen epochs' checkpoints, so that a
test acts on a job at a known point of its run instead of racing a timer.

    python -m tests.training.stalling_trainer MARKER EPOCHS worker -Q QUEUE ...
    python -m tests.training.stalling_trainer MARKER EPOCHS engine train --config FILE

EPOCHS is one epoch or several, comma-separated. Once ``last.pt`` holds one of them, the engine
writes that epoch into MARKER and waits, where a long epoch would be, until a file ``MARKER.go``
appears; it takes the file away and goes on, to wait again at the next of EPOCHS. A test that
kills the worker never writes it. The job stays claimed and beating as on any worker. The test's
side is :class:`Stall`.

The second form runs the engine's own command line (``python -m training.engine``) instead, as
torchrun starts it on each rank: rank 0 writes the checkpoints and stalls, the others wait for it.
"""

import os
import sys
import time
from pathlib import Path


class Stall:
    """Where a stalling worker's training waits, as the test sees it: ``at(epoch)`` once that
    epoch's checkpoint is written and training waits there, ``go()`` to let it go on."""

    def __init__(self, folder: Path, name: str, *epochs: int) -> None:
        self.marker = folder / f"{name}.stalled"
        self.epochs = epochs

    def command(self) -> tuple[str, ...]:
        """The arguments for ``python`` that start a worker stalling at these epochs (followed by
        ``engine`` and its arguments, the engine's command line instead)."""
        epochs = ",".join(map(str, self.epochs))
        return ("-m", "tests.training.stalling_trainer", str(self.marker), epochs)

    def at(self, epoch: int) -> bool:
        """Whether training reached this epoch's stall (it waits there until ``go``)."""
        try:
            return self.marker.read_text() == str(epoch)
        except FileNotFoundError:
            return False

    def go(self) -> None:
        go(self.marker).touch()


def go(marker: Path) -> Path:
    return marker.with_name(marker.name + ".go")


def stall(marker: Path, epoch: int) -> None:
    """Say where training waits (atomically: a test never reads half a number), then wait."""
    written = marker.with_name(marker.name + ".tmp")
    written.write_text(str(epoch))
    os.replace(written, marker)
    while not go(marker).exists():
        time.sleep(0.1)
    go(marker).unlink()  # the next stall waits for a go of its own


def stall_after_checkpoints(marker: Path, epochs: set[int]) -> None:
    from training.engine import runner

    save = runner.save_checkpoint

    def save_then_stall(path, state: dict):
        saved = save(path, state)
        if Path(path).name == "last.pt" and state["epoch"] in epochs:
            stall(marker, state["epoch"])
        return saved

    runner.save_checkpoint = save_then_stall


def main() -> None:
    marker, arguments = Path(sys.argv[1]), sys.argv[3:]
    epochs = {int(epoch) for epoch in sys.argv[2].split(",")}
    if arguments[:1] == ["engine"]:
        from training.engine.__main__ import main as engine

        stall_after_checkpoints(marker, epochs)
        sys.exit(engine(arguments[1:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django

    django.setup()
    stall_after_checkpoints(marker, epochs)  # the pool's processes fork from this one
    from celery.bin.celery import main as celery

    sys.argv = ["celery", "-A", "lab", *arguments]
    celery()


if __name__ == "__main__":
    main()
