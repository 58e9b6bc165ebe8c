"""Label-set arithmetic with no Django: Table I statistics, content hashes, comparisons, kappa.

A label set is a mapping ``image id -> label keys`` plus the vocabulary order; everything here
works on that plain form, so the live statistics, frozen sets and tests share one definition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TableRow:
    """One row of the paper's Table I: images carrying the label, and those where it is alone."""

    key: str
    en: str
    zh: str
    total: int
    single: int

    @property
    def single_percent(self) -> float:
        return round(100.0 * self.single / self.total, 1) if self.total else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "single_percent": self.single_percent}


def table_one(
    vectors: Mapping[str, Sequence[str]], labels: Sequence[Mapping[str, str]]
) -> list[TableRow]:
    """Per label (in vocabulary order): total images and single-label images."""
    totals = dict.fromkeys((label["key"] for label in labels), 0)
    singles = dict(totals)
    for keys in vectors.values():
        for key in keys:
            if key in totals:
                totals[key] += 1
                singles[key] += len(keys) == 1
    return [
        TableRow(
            label["key"], label["en"], label["zh"], totals[label["key"]], singles[label["key"]]
        )
        for label in labels
    ]


def content_hash(vectors: Mapping[str, Sequence[str]], labels: Sequence[Mapping[str, str]]) -> str:
    """SHA-256 of the canonical JSON of vocabulary and sorted per-image labels.

    Independent of row order and of when or by whom the set was frozen: the same decisions on
    the same images always hash the same.
    """
    document = {
        "labels": [[label["key"], label["en"], label["zh"]] for label in labels],
        "images": sorted((image, sorted(keys)) for image, keys in vectors.items()),
    }
    canonical = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Comparison:
    """What changed from label set ``a`` to ``b``."""

    counts: list[dict]  # per label: key, a, b, delta
    added: list[str]  # images only in b
    removed: list[str]  # images only in a
    changed: list[dict]  # images in both whose labels differ: image, a, b

    def as_dict(self, limit: int = 200) -> dict:
        return {
            "counts": self.counts,
            "added": len(self.added),
            "removed": len(self.removed),
            "changed_count": len(self.changed),
            "changed": self.changed[:limit],
        }


def compare(
    a: Mapping[str, Sequence[str]],
    b: Mapping[str, Sequence[str]],
    labels: Sequence[Mapping[str, str]],
) -> Comparison:
    """Per-label counts side by side and the images whose labels changed."""
    rows_a = {row.key: row.total for row in table_one(a, labels)}
    rows_b = {row.key: row.total for row in table_one(b, labels)}
    counts = [
        {"key": key, "a": rows_a[key], "b": rows_b[key], "delta": rows_b[key] - rows_a[key]}
        for key in rows_a
    ]
    changed = [
        {"image": image, "a": sorted(a[image]), "b": sorted(b[image])}
        for image in sorted(set(a) & set(b))
        if set(a[image]) != set(b[image])
    ]
    return Comparison(counts, sorted(set(b) - set(a)), sorted(set(a) - set(b)), changed)


def cohen_kappa(first: Sequence[bool], second: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no calls; None when undefined (no items, or both raters
    constant and equal, where chance agreement is already perfect)."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} first ratings but {len(second)} second ratings")
    n = len(first)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(first, second, strict=True)) / n
    p_first, p_second = sum(first) / n, sum(second) / n
    expected = p_first * p_second + (1 - p_first) * (1 - p_second)
    if expected == 1.0:
        return None
    return (observed - expected) / (1 - expected)
