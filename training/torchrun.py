"""Several GPUs for one job: the worker starts the engine under torchrun and relays its progress.

    python -m torch.distributed.run --standalone --nproc_per_node N \\
        -m training.engine train --config <job folder>/engine-config.json

The engine's rank 0 logs one line per ``log_every`` steps and one per validation (runner.py); those
lines are the progress channel (no engine change, and the same lines an operator sees when running
torchrun by hand). They become progress points for the job row, and every line goes to the job's
log. The check callback runs at least once a second whether the engine speaks or not; when it
raises (the user cancelled, the row was taken away), the whole process group is terminated: the
last checkpoint on disk stays, since the engine writes checkpoints atomically.

No Django here: the job runner passes callbacks in.
"""

from __future__ import annotations

import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# "2026-01-01 10:00:00,000 INFO epoch 1 step 20/400 loss 0.6931 512 images/s"
PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) (?P<message>.*)$")
STEP = re.compile(r"^epoch (\d+) step (\d+)/(\d+) loss (\S+) (\d+) images/s$")
VALIDATION = re.compile(r"^epoch (\d+): train loss (\S+), val (\w+) (\S+)$")
ERROR = re.compile(r"^error: (.*)$")
FLOAT = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|nan|inf"


def command(nproc: int, config_file: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "training.engine", "train",
            "--config", str(config_file)]  # fmt: skip


def _number(text: str) -> float | None:
    """A logged number; None for nan / inf, which a JSON column cannot hold."""
    if not re.fullmatch(FLOAT, text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


@dataclass
class ProgressParser:
    """Turns the engine's log messages into the dicts ``runner.Progress.to_dict`` gives."""

    epochs: int
    clock: Callable[[], float] = time.monotonic
    started: float | None = None
    first_step: int = 0
    last: dict = field(default_factory=dict)

    def parse(self, message: str) -> dict | None:
        step = STEP.match(message)
        if step:
            epoch, done, total = (int(step.group(i)) for i in (1, 2, 3))
            now = self.clock()
            if self.started is None:
                self.started, self.first_step = now, done
            rate = (now - self.started) / max(done - self.first_step, 1)
            eta = rate * (total - done) if done > self.first_step else None
            self.last = {"phase": "train", "epoch": epoch, "epochs": self.epochs, "step": done,
                         "total_steps": total, "loss": _number(step.group(4)),
                         "images_per_s": float(step.group(5)), "eta_s": eta, "val": None}  # fmt: skip
            return self.last
        validation = VALIDATION.match(message)
        if validation:
            epoch = int(validation.group(1))
            return {"phase": "validate", "epoch": epoch, "epochs": self.epochs,
                    "step": self.last.get("step", 0), "total_steps": self.last.get("total_steps", 0),
                    "loss": _number(validation.group(2)), "images_per_s": None, "eta_s": None,
                    "val": {validation.group(3): _number(validation.group(4))}}  # fmt: skip
        return None


@dataclass
class Outcome:
    returncode: int
    error: str  # the engine's one-line "error: ..." for bad input, else ""
    tail: list[str]  # the last lines, for a crash's message


def run(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    on_line: Callable[[str, str], None],
    on_progress: Callable[[dict], None],
    check: Callable[[], None],
    parser: ProgressParser,
    poll_s: float = 1.0,
    grace_s: float = 15.0,
) -> Outcome:
    """Run torchrun to the end, relaying (level, message) lines and progress; any exception from
    a callback terminates the process group and propagates."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read, args=(process, lines), daemon=True)
    reader.start()
    error, tail = "", []
    try:
        while True:
            try:
                line = lines.get(timeout=poll_s)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                level, message = _split(line)
                tail = (tail + [message])[-20:]
                error = (ERROR.match(message) or [None, error])[1]
                on_line(level, message)
                point = parser.parse(message)
                if point is not None:
                    on_progress(point)
            check()
        return Outcome(process.wait(), error, tail)
    except BaseException:
        terminate(process, grace_s)
        raise
    finally:
        reader.join(timeout=5)


def _read(process: subprocess.Popen, lines: queue.Queue) -> None:
    for line in process.stdout:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _split(line: str) -> tuple[str, str]:
    match = PREFIX.match(line)
    return (match["level"], match["message"]) if match else ("INFO", line)


def terminate(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM to torchrun and its ranks (their own process group), SIGKILL if they linger."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue
