"""Checkpoints: written atomically, holding everything an exact resume needs.

A checkpoint is a plain dict of tensors, numbers, strings and lists, so it loads with
`torch.load(..., weights_only=True)`: model, optimiser, scheduler and grad-scaler state, the
epoch and step reached, the torch RNG states (CPU and every CUDA device), the config, the class
names and the label-set hash. numpy randomness in the engine is always derived from the seed
and the epoch, so there is no numpy state to save.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from .config import ConfigError

FORMAT = 1


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path`.

    A crash mid-write leaves the previous checkpoint intact, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"format": FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the web app reads it too
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (weights_only); a missing or foreign file is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint: {path} not found")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"checkpoint: {path} is not an engine checkpoint (format {FORMAT})")
    return state
