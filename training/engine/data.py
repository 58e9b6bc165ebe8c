"""Datasets on disk, label subsets (`keep_labels`), rebalancing samplers and batch gathering.
The patient-level split lives in splits.py (numpy only, shared with the web's launch form) and
is re-exported here.

Dataset directory format (version 1; the web app exports into it, `write_dataset` writes it):

    DIR/meta.json     {"format": "cxr-lab-dataset/1",
                       "label_names": ["normal", "aortosclerosis", ...],   # column order
                       "label_set_hash": "<hex>",                         # frozen label set
                       "normal_label": "normal", "image_size": 256, "count": N}
    DIR/images.u8     N × S × S uint8, C order, no header (S = image_size); `images.npy`
                      (the same array in numpy's .npy format) is accepted instead
    DIR/index.jsonl   N lines, line i describes image i:
                      {"image_id": "...", "patient_id": "<pseudonym>", "study_uid": "...",
                       "labels": ["aortosclerosis", "pleural thickening"]}

Images are memory-mapped, never read whole into host memory: 100,000 images take about 1.6 MB
of index arrays plus the page cache the OS chooses to keep. An image with an empty label list
(or whose labels were all left out) counts as abnormal in the normal-vs-abnormal task, is left
out of the single-disease task, and is a negative for every label in the multi-label task.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .config import ConfigError
from .splits import (  # noqa: F401  (re-exported: the engine's split names live in splits.py)
    SPLIT_NAMES,
    TEST,
    TRAIN,
    VAL,
    SplitError,
    check_disjoint,
    keep_columns,
    patient_split,
)

FORMAT = "cxr-lab-dataset/1"


@dataclass
class Dataset:
    """An opened dataset directory: a uint8 memmap plus index arrays aligned with it."""

    path: Path
    images: np.ndarray  # N × S × S uint8 (memmap)
    image_ids: list[str]
    patient_ids: np.ndarray  # N strings
    labels: np.ndarray  # N × L bool, columns in label_names order
    label_names: list[str]
    label_set_hash: str
    normal_label: str

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])


def label_set_hash(label_names: Sequence[str]) -> str:
    """Content hash of an ordered label list (used when the exporter gives none)."""
    return hashlib.sha256(json.dumps(list(label_names)).encode()).hexdigest()[:16]


def _read_meta(path: Path) -> dict:
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise ConfigError(f"{meta_path}: dataset meta.json not found")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{meta_path}: not valid JSON ({exc})") from None
    for key in ("label_names", "image_size", "count"):
        if key not in meta:
            raise ConfigError(f"{meta_path}: missing key {key!r}")
    return meta


def _open_images(path: Path, count: int, size: int) -> np.ndarray:
    raw, npy = path / "images.u8", path / "images.npy"
    if raw.is_file():
        expected = count * size * size
        if raw.stat().st_size != expected:
            raise ConfigError(f"{raw}: holds {raw.stat().st_size} bytes, meta.json implies "
                              f"{count}×{size}×{size} = {expected}")  # fmt: skip
        return np.memmap(raw, dtype=np.uint8, mode="r", shape=(count, size, size))
    if npy.is_file():
        images = np.load(npy, mmap_mode="r", allow_pickle=False)
        if images.dtype != np.uint8 or images.shape != (count, size, size):
            raise ConfigError(f"{npy}: expected uint8 {(count, size, size)}, "
                              f"got {images.dtype} {images.shape}")  # fmt: skip
        return images
    raise ConfigError(f"{raw}: image store not found (nor {npy.name})")


def open_dataset(path: str | Path, normal_label: str | None = None) -> Dataset:
    """Open and check a dataset directory; every problem names the file at fault."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"dataset: directory {path} not found")
    meta = _read_meta(path)
    names = list(meta["label_names"])
    normal = normal_label or meta.get("normal_label", "normal")
    if normal not in names:
        raise ConfigError(f"normal_label: {normal!r} is not among the labels of {path}: {names}")
    images = _open_images(path, int(meta["count"]), int(meta["image_size"]))
    index_path = path / "index.jsonl"
    if not index_path.is_file():
        raise ConfigError(f"{index_path}: dataset index not found")
    column = {n: j for j, n in enumerate(names)}
    ids, patients, rows = [], [], []
    with index_path.open() as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                ids.append(str(rec["image_id"]))
                patients.append(str(rec["patient_id"]))
                rows.append([column[n] for n in rec["labels"]])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ConfigError(f"{index_path}:{lineno}: bad record ({exc!r})") from None
    if len(ids) != len(images):
        raise ConfigError(f"{index_path}: {len(ids)} records for {len(images)} images")
    labels = np.zeros((len(ids), len(names)), dtype=bool)
    for i, cols in enumerate(rows):
        labels[i, cols] = True
    return Dataset(
        path=path,
        images=images,
        image_ids=ids,
        patient_ids=np.array(patients),
        labels=labels,
        label_names=names,
        label_set_hash=str(meta.get("label_set_hash") or label_set_hash(names)),
        normal_label=normal,
    )


def write_dataset(
    path: str | Path,
    images: np.ndarray,
    records: Sequence[dict],
    label_names: Sequence[str],
    normal_label: str = "normal",
    label_set_hash_: str | None = None,
) -> Path:
    """Write a dataset directory in the format above (records: image_id, patient_id, labels)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    images.tofile(path / "images.u8")
    with (path / "index.jsonl").open("w") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    meta = {
        "format": FORMAT,
        "label_names": list(label_names),
        "label_set_hash": label_set_hash_ or label_set_hash(label_names),
        "normal_label": normal_label,
        "image_size": int(images.shape[-1]),
        "count": len(images),
    }
    (path / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    return path


def make_synthetic_dataset(
    path: str | Path,
    n: int,
    size: int = 256,
    n_labels: int = 10,
    seed: int = 0,
    normal_fraction: float = 0.45,
    multi_fraction: float = 0.25,
    noise: float = 20.0,
) -> Path:
    """Generate a dataset whose labels are learnable: each disease adds its own oriented grating.

    Gratings are translation invariant, so random crops keep the signal. Disease frequencies
    fall off like 1/rank (rare labels, as in the paper), 1-3 images per patient.
    """
    if n_labels < 2:
        raise ConfigError("n_labels: need the normal label and at least one disease")
    rng = np.random.default_rng(seed)
    names = ["normal"] + [f"disease_{j}" for j in range(1, n_labels)]
    weights = 1.0 / np.arange(1, n_labels)
    weights /= weights.sum()
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = 90 + 60 * np.exp(-(((xx - size / 2) / (0.35 * size)) ** 2))  # bright mediastinum
    gratings = []
    for j in range(1, n_labels):
        theta = math.pi * (j - 1) / (n_labels - 1)
        period = 5.0 + 2.0 * ((j - 1) % 3)
        phase = (np.cos(theta) * xx + np.sin(theta) * yy) * 2 * math.pi / period
        gratings.append(40.0 * np.sin(phase))
    images = np.empty((n, size, size), dtype=np.uint8)
    records, patient = [], 0
    for i in range(n):
        if i == 0 or rng.random() < 0.55:  # a new patient; otherwise another image of the last
            patient += 1
        if rng.random() < normal_fraction:
            labels = [0]
        else:
            count = 1 if rng.random() >= multi_fraction else int(rng.integers(2, 4))
            count = min(count, n_labels - 1)
            labels = sorted(1 + rng.choice(n_labels - 1, size=count, replace=False, p=weights))
        img = base + rng.normal(0, noise, (size, size))
        img += rng.uniform(-20, 20)  # exposure differences
        for j in labels:
            if j:
                img += gratings[j - 1]
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
        records.append({
            "image_id": f"img{i:06d}",
            "patient_id": f"patient{patient:05d}",
            "study_uid": f"2.25.{seed}.{i}",
            "labels": [names[j] for j in labels],
        })  # fmt: skip
    return write_dataset(path, images, records, names)


# --- splits and label subsets (the split itself lives in splits.py, shared with the web) -----


def keep_labels(ds: Dataset, keep: Sequence[str]) -> Dataset:
    """The dataset with only the labels in `keep` (all when empty), images unchanged.

    An image whose every label is left out stays, with no label: abnormal in normal_abnormal,
    outside single_disease, a negative for every kept label in multi_label.
    """
    try:
        columns = keep_columns(ds.label_names, keep)
    except ValueError as exc:
        raise ConfigError(f"labels: {exc}") from None
    if ds.normal_label not in [ds.label_names[j] for j in columns]:
        raise ConfigError(f"labels: the normal label {ds.normal_label!r} cannot be left out")
    if len(columns) == len(ds.label_names):
        return ds
    return dataclasses.replace(
        ds, labels=ds.labels[:, columns], label_names=[ds.label_names[j] for j in columns]
    )


# --- sampling ----------------------------------------------------------------------------------


def rebalanced_counts(
    counts: np.ndarray,
    min_count: int = 380,
    min_fraction: float = 0.03,
    majority: int | None = 0,
    majority_fraction: float = 0.219,
) -> np.ndarray:
    """Target samples per class for one epoch (the paper: 380 / 3%, normal down to 21.9%).

    Every non-empty class rises to at least max(min_count, min_fraction × total); then the
    majority class is cut to `majority_fraction` of the resulting epoch (never raised above
    what it has). A majority_fraction of 0 leaves the majority class untouched.
    """
    counts = np.asarray(counts, dtype=np.int64)
    floor = max(min_count, math.ceil(min_fraction * counts.sum()))
    target = np.where(counts > 0, np.maximum(counts, floor), 0)
    if majority is not None and majority_fraction > 0 and counts[majority] > 0:
        others = target.sum() - target[majority]
        wanted = round(majority_fraction / (1 - majority_fraction) * others)
        target[majority] = min(counts[majority], max(wanted, 1))
    return target


def rebalanced_epoch(
    targets: np.ndarray, wanted: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Positions into `targets` holding exactly wanted[c] samples of class c, shuffled.

    Oversampling repeats every image of the class as often as fits, then draws the remainder
    without replacement; undersampling draws without replacement (a new subset each epoch).
    """
    picks = []
    for c, want in enumerate(wanted):
        members = np.flatnonzero(targets == c)
        if want == 0 or len(members) == 0:
            continue
        whole, rest = divmod(int(want), len(members))
        picks.append(np.tile(members, whole))
        picks.append(rng.choice(members, size=rest, replace=False))
    return rng.permutation(np.concatenate(picks))


def class_weights(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights (mean 1 over samples) for a class-weighted loss."""
    counts = np.bincount(targets, minlength=n_classes).astype(float)
    return np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)


def shard(order: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's share of an epoch, padded by wrap-around so every rank gets as many steps."""
    if world == 1:
        return order
    per_rank = math.ceil(len(order) / world)
    padded = np.resize(order, per_rank * world)
    return padded[rank::world]


# --- batches -------------------------------------------------------------------------------------


class ImageStore:
    """The uint8 cache, either on the GPU (copied once) or memory-mapped on the host.

    `gather` returns a uint8 B × S × S tensor on the device either way. On the GPU it indexes
    with a device tensor (nothing built on the host per step); from the host it reads the
    memmap, pins the batch and copies it asynchronously (`Batches` reads the next one in a
    thread meanwhile).
    """

    COPY_CHUNK = 1024  # images per host-to-device copy when the cache moves to the GPU

    def __init__(self, images: np.ndarray, device: torch.device, on_device: bool):
        self.images = images
        self.device = device
        self.on_device = on_device
        self._gpu = self._copy_to(images, device) if on_device else None

    @classmethod
    def _copy_to(cls, images: np.ndarray, device: torch.device) -> torch.Tensor:
        """The cache on `device`, copied a chunk at a time.

        The memmap is read-only, and torch.from_numpy on it warns that the tensor shares memory
        it may not write. Each chunk is copied into a writable host array first (np.array): host
        memory then holds one chunk, never a second copy of the whole cache.
        """
        out = torch.empty(images.shape, dtype=torch.uint8, device=device)
        for start in range(0, len(images), cls.COPY_CHUNK):
            chunk = np.array(images[start : start + cls.COPY_CHUNK])  # writable copy
            out[start : start + len(chunk)].copy_(torch.from_numpy(chunk))
        return out

    @staticmethod
    def fits_on_device(images: np.ndarray, device: torch.device, share: float = 0.3) -> bool:
        if device.type != "cuda":
            return False
        free, _ = torch.cuda.mem_get_info(device)
        return images.nbytes < share * free

    def index_tensor(self, order: np.ndarray) -> torch.Tensor:
        """`order` as an int64 tensor on the device: one (pinned, asynchronous) copy per epoch."""
        host = torch.from_numpy(np.ascontiguousarray(order, dtype=np.int64))
        if self.device.type == "cuda":
            return host.pin_memory().to(self.device, non_blocking=True)
        return host.to(self.device)

    def gather(self, idx: np.ndarray, idx_device: torch.Tensor | None = None) -> torch.Tensor:
        """Images `idx` on the device; `idx_device` (the same indices, already on the device)
        spares the on-device cache a host-to-device copy."""
        if self._gpu is not None:
            if idx_device is None:
                idx_device = self.index_tensor(idx)
            return self._gpu[idx_device]
        # memmap fancy indexing reads pages in index order; sorting keeps reads sequential
        order = np.argsort(idx, kind="stable")
        batch = np.empty((len(idx), *self.images.shape[1:]), dtype=np.uint8)
        batch[order] = self.images[idx[order]]
        tensor = torch.from_numpy(batch)
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor


class Batch(NamedTuple):
    """One batch on the device. With static shapes the last batch of an epoch is padded to the
    full size: `mask` (float, 1 for real images, 0 for padding) is then set, else None, and
    `count` says how many leading rows are real."""

    images: torch.Tensor
    targets: torch.Tensor | None
    mask: torch.Tensor | None
    count: int


class Batches:
    """One epoch's batches in `order`, on the device; sized.

    The whole epoch's order goes to the device once; each step slices it there, so targets and
    (for the on-device cache) images are gathered without host-built index tensors. With
    `static` (the default) every batch has `batch_size` rows, the last one padded by wrapping
    around to the start of the order (real images, so BatchNorm sees nothing artificial) and
    masked out of the loss: a graph-captured or compiled step then never meets a new shape.
    On CUDA the next batch is gathered on a side stream while the current step runs; on the
    host path the next batch is read from the memmap in a thread.
    """

    def __init__(self, store: ImageStore, order: np.ndarray, batch_size: int,
                 targets: torch.Tensor | None, static: bool = True):  # fmt: skip
        self.store, self.order, self.batch_size, self.targets = store, order, batch_size, targets
        self.static = static

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = len(self)
        if n == 0:
            return
        b = self.batch_size
        order = np.resize(self.order, n * b) if self.static else np.asarray(self.order)
        order_dev = self.store.index_tensor(order)
        dev = self.store.device

        def make(k: int, images: torch.Tensor | None = None) -> Batch:
            count = min(b, len(self.order) - k * b)
            rows = order_dev[k * b : k * b + (b if self.static else count)]
            if images is None:
                images = self.store.gather(order[k * b : k * b + len(rows)], rows)
            targets = None if self.targets is None else self.targets[rows]
            mask = None
            if count < len(rows):
                mask = (torch.arange(len(rows), device=dev) < count).float()
            return Batch(images, targets, mask, count)

        if self.store.on_device and dev.type == "cuda":
            yield from _side_stream(make, n, dev)
        elif self.store.on_device or n == 1:
            for k in range(n):
                yield make(k)
        else:
            yield from self._host_prefetch(make, order, n)

    def _host_prefetch(self, make, order: np.ndarray, n: int) -> Iterator[Batch]:
        b, size = self.batch_size, self.batch_size if self.static else None
        with ThreadPoolExecutor(max_workers=1) as pool:

            def read(k: int):
                rows = order[k * b : k * b + (size or min(b, len(self.order) - k * b))]
                return pool.submit(self.store.gather, rows)

            pending = read(0)
            for k in range(n):
                images = pending.result()
                if k + 1 < n:
                    pending = read(k + 1)
                yield make(k, images)


def _side_stream(make: Callable[[int], Batch], n: int, dev: torch.device) -> Iterator[Batch]:
    """Batches made on a second CUDA stream, one ahead: gathering batch k+1 overlaps step k.

    The main stream waits for a batch only when it takes it (an event, not a host sync);
    `record_stream` tells the caching allocator that the main stream uses the batch's memory.
    """
    main = torch.cuda.current_stream(dev)
    side = torch.cuda.Stream(dev)
    side.wait_stream(main)  # the epoch's order was copied on the main stream

    def launch(k: int) -> tuple[Batch, torch.cuda.Event]:
        with torch.cuda.stream(side):
            batch = make(k)
            ready = torch.cuda.Event()
            ready.record(side)
        return batch, ready

    upcoming = launch(0)
    for k in range(n):
        batch, ready = upcoming
        main.wait_event(ready)
        for t in (batch.images, batch.targets, batch.mask):
            if t is not None:
                t.record_stream(main)
        if k + 1 < n:
            upcoming = launch(k + 1)
        yield batch
