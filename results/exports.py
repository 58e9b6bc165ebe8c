"""Downloads of a run: its metrics as CSV (one row per label) and per-image predictions as CSV.

Pure: rows from a run's artifacts, written with the csv module; views add the HTTP headers.
"""

from __future__ import annotations

import csv
import io

from . import artifacts

METRIC_COLUMNS = ("specificity", "sensitivity", "top3_sensitivity", "auc")


def metrics_csv(run: artifacts.RunArtifacts) -> str:
    """Per subset and label: the engine's test metrics, AUC CI, support and PPV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["subset", "label", *METRIC_COLUMNS, "auc_ci95_low", "auc_ci95_high",
                     "support", "ppv"])  # fmt: skip
    for subset, block in _blocks(run):
        data = artifacts.scored(run, subset) if run.predictions else None
        support, ppv = artifacts.support_and_ppv(data) if data is not None else ({}, {})
        for key in run.class_names:
            values = [_per_label(block, metric, key) for metric in METRIC_COLUMNS]
            ci = _per_label(block, "auc_ci95", key) or (None, None)
            writer.writerow([subset, key, *map(_cell, values), *map(_cell, ci),
                             _cell(support.get(key)), _cell(ppv.get(key))])  # fmt: skip
        for name in ("n", "accuracy", "macro_auc", "mean_ap", "threshold"):
            if name in block and not isinstance(block[name], dict | list):
                writer.writerow([subset, f"({name})", _cell(block[name])])
    return out.getvalue()


def _blocks(run: artifacts.RunArtifacts) -> list[tuple[str, dict]]:
    main = artifacts.default_subset(run)
    blocks = [(main, artifacts.report_block(run, main))]
    if run.metrics.get("multi_disease"):
        blocks.append(("multi_disease", artifacts.report_block(run, "multi_disease")))
    return blocks


def _per_label(block: dict, metric: str, key: str):
    """A per-label value; a binary report's scalar metrics have no per-label entries."""
    values = block.get(metric)
    return values.get(key) if isinstance(values, dict) else None


def predictions_csv(run: artifacts.RunArtifacts) -> str:
    """One row per scored image: its UID, split, subset, true labels, one column per class."""
    names = run.class_names or (list(run.predictions[0]["probabilities"]) if run.predictions
                                else [])  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["image_id", "split", "subset", "labels", *names])
    for record in run.predictions:
        probabilities = record["probabilities"]
        writer.writerow([record.get("image_id", ""), record.get("split", ""),
                         record.get("subset", ""), ";".join(record.get("labels") or []),
                         *(_cell(probabilities.get(n)) for n in names)])  # fmt: skip
    return out.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
