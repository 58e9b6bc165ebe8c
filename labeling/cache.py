"""The training cache: one memory-mappable array of S×S uint8 images per team and image size.

Pure module (no Django). Rows are allocated by the caller (the ingest service, under a database
lock) and written in place with ``os.pwrite``, so concurrent ingests write disjoint regions of
the same file without a file lock. The training engine never decodes DICOM: the exporter copies
the rows a label set needs from here into the engine's dataset directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

IMAGES_FILE = "images.u8"


class ArrayStore:
    def __init__(self, folder: Path, size: int) -> None:
        if size < 1:
            raise ValueError(f"image size must be positive, got {size}")
        self.folder = Path(folder)
        self.size = size
        self.path = self.folder / IMAGES_FILE

    @property
    def row_bytes(self) -> int:
        return self.size * self.size

    def write(self, row: int, image: np.ndarray) -> None:
        if image.shape != (self.size, self.size) or image.dtype != np.uint8:
            raise ValueError(
                f"cache rows are {self.size}×{self.size} uint8, got {image.dtype} {image.shape}"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            data = np.ascontiguousarray(image).tobytes()
            written = os.pwrite(fd, data, row * self.row_bytes)
            if written != len(data):
                raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
        finally:
            os.close(fd)

    def open(self, rows: int) -> np.ndarray:
        """A read-only memmap of the first ``rows`` rows (rows × S × S)."""
        if rows == 0 or not self.path.exists():
            return np.zeros((0, self.size, self.size), dtype=np.uint8)
        available = self.path.stat().st_size // self.row_bytes
        if available < rows:
            raise ValueError(f"{self.path} holds {available} rows, {rows} were expected")
        return np.memmap(self.path, dtype=np.uint8, mode="r", shape=(rows, self.size, self.size))

    def read(self, row: int) -> np.ndarray:
        with open(self.path, "rb") as fp:
            data = os.pread(fp.fileno(), self.row_bytes, row * self.row_bytes)
        if len(data) != self.row_bytes:
            raise ValueError(f"row {row} is not in {self.path}")
        return np.frombuffer(data, dtype=np.uint8).reshape(self.size, self.size)

    def copy_rows(self, rows: Sequence[int], target: Path, chunk: int = 1024) -> None:
        """Write the given rows, in order, to ``target`` as one N×S×S uint8 file."""
        images = self.open(max(rows) + 1 if len(rows) else 0)
        order = np.asarray(rows, dtype=np.int64)
        with open(target, "wb") as out:
            for start in range(0, len(order), chunk):
                out.write(np.ascontiguousarray(images[order[start : start + chunk]]).tobytes())
