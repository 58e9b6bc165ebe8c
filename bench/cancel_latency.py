"""How long a cancelled training job keeps running: the time from the cancel to the end of the
engine's epoch loop, for a real architecture on this machine's CPU.

    python bench/cancel_latency.py [--arch resnet101] [--batch-size 60] [--crop 224] [--batches 3]

The engine checks for a cancel after every batch (``train_one_epoch``'s ``check``); a job's check
reads its row at most every ``jobs.worker.CANCEL_POLL_SECONDS``. The cancel here lands halfway
through a batch (timed from the first batch's length), so the figure is the rest of that batch
plus the check; on a worker, add up to CANCEL_POLL_SECONDS and one small database read. Prints
the batch time and the latency; asserts nothing.
"""

from __future__ import annotations

import argparse
import threading
import time

import torch
from torch import nn

from training.engine.loop import train_one_epoch
from training.engine.modeling import build_model


class Cancelled(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet101")
    parser.add_argument("--batch-size", type=int, default=60)  # the paper presets' batch
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_model(args.arch, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batches = [(torch.randint(0, 256, (args.batch_size, args.crop, args.crop), dtype=torch.uint8),
                torch.randint(0, 2, (args.batch_size,))) for _ in range(args.batches)]  # fmt: skip
    done: list[float] = []
    cancel = threading.Event()
    asked: list[float] = []

    def check() -> None:
        done.append(time.perf_counter())
        if len(done) == 1:  # after the first batch: cancel halfway through the second
            half = (done[0] - started) / 2
            timer = threading.Timer(half, lambda: (asked.append(time.perf_counter()), cancel.set()))
            timer.start()
        if cancel.is_set():
            raise Cancelled

    started = time.perf_counter()
    try:
        train_one_epoch(model, batches, lambda x: x.float().unsqueeze(1) / 255,
                        nn.CrossEntropyLoss(), optimizer, check=check)  # fmt: skip
        print("the epoch ended before the cancel landed; use more --batches")
        return
    except Cancelled:
        stopped = time.perf_counter()
    first = done[0] - started
    print(f"{args.arch}, batch {args.batch_size} at {args.crop} px, "
          f"{torch.get_num_threads()} CPU threads")  # fmt: skip
    print(f"first batch (with warm-up): {first:.1f} s; second: {done[1] - done[0]:.1f} s")
    print(f"cancel to stop: {stopped - asked[0]:.1f} s (the rest of the batch under way)")


if __name__ == "__main__":
    main()
