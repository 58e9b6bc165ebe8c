"""Checkpoints: written atomically, holding everything an exact resume needs.

A checkpoint is a plain dict of tensors, numbers, strings and lists, so it loads with
`torch.load(..., weights_only=True)`: model, optimiser, scheduler and grad-scaler state, the
epoch and step reached, the torch RNG states (CPU and every CUDA device), the config, the class
names and the label-set hash. numpy randomness in the engine is always derived from the seed
and the epoch, so there is no numpy state to save.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .config import ConfigError
from .files import atomic_write

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
    return atomic_write(path, lambda out: torch.save({"format": FORMAT, **state}, out), sync=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (weights_only); a missing or foreign file is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint: {path} not found")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"checkpoint: {path} is not an engine checkpoint (format {FORMAT})")
    return state
