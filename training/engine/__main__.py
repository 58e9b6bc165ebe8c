"""Command line: python -m training.engine train|evaluate|predict --config FILE [key=value ...]

Examples:
    python -m training.engine train --config run.yaml epochs=3 arch=vgg16
    python -m training.engine evaluate --config run.yaml checkpoint=runs/a/best.pt
    torchrun --standalone --nproc_per_node=8 -m training.engine train --config run.yaml

Bad input prints one line naming the field or path and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from .config import ConfigError, load_config
from .runner import COMMANDS, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--config", help="YAML or JSON file of Config fields")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", 0))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")  # fmt: skip
    try:
        config = load_config(args.config, args.overrides)
        result = run(config, args.command)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if rank == 0:
        summary = {k: v for k, v in result.items() if k in ("status", "epoch", "best_epoch",
                   "epochs_run", "predictions", "count")}  # fmt: skip
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
