"""Issue 16: a run may leave labels out (`labels`), and the split the web counts with is the
engine's own (training/engine/splits.py)."""

import json

import numpy as np
import pytest

from training.engine import splits
from training.engine.config import ConfigError
from training.engine.data import keep_labels, open_dataset
from training.engine.runner import preflight, run

NAMES = ["normal", "a", "b"]


def _labels(rows):
    return np.array([[name in row for name in NAMES] for row in rows])


def test_an_image_whose_only_label_is_left_out_is_abnormal_and_leaves_single_disease():
    labels = _labels([("normal",), ("b",), ("a", "b"), ("a",)])
    kept = labels[:, splits.keep_columns(NAMES, ["normal", "a"])]
    kept_names = ["normal", "a"]
    binary = splits.task_classes("normal_abnormal", kept, kept_names, "normal")
    assert binary.targets.tolist() == [0, 1, 1, 1]  # "b" alone: still not normal
    single = splits.task_classes("single_disease", kept, kept_names, "normal")
    # "b" alone has no label left: out; "a"+"b" has only "a" left: a single-label image now
    assert single.members.tolist() == [True, False, True, True]
    multi = splits.task_classes("multi_label", kept, kept_names, "normal")
    assert multi.members.all() and multi.targets[1].tolist() == [False, False]


def test_keep_labels_refuses_an_unknown_label_and_leaving_out_normal(dataset_dir):
    ds = open_dataset(dataset_dir)
    with pytest.raises(ConfigError, match="labels: label 'nope' is not among"):
        keep_labels(ds, ["normal", "nope"])
    with pytest.raises(ConfigError, match="normal label 'normal' cannot be left out"):
        keep_labels(ds, ["disease_1", "disease_2"])
    assert keep_labels(ds, []) is ds


def test_the_counts_the_web_computes_are_the_engine_s(dataset_dir, tiny_config):
    ds = open_dataset(dataset_dir)
    for task in splits.TASKS:
        keep = ["normal", "disease_1", "disease_2"]
        planned = splits.plan(task, ds.patient_ids, ds.labels, ds.label_names, keep=keep)
        prep = preflight(tiny_config(task=task, labels=keep))
        assert (prep.split == planned.split).all()
        assert prep.task.class_names == planned.classes.class_names
        engine_counts = [
            [int(((prep.split == code) & prep.task.members & row).sum()) for code in range(3)]
            for row in _class_rows(prep.task)
        ]
        assert engine_counts == planned.counts.tolist()


def _class_rows(task):
    if task.multi_label:
        return [task.targets[:, j] for j in range(task.targets.shape[1])]
    return [task.targets == c for c in range(len(task.class_names))]


def test_a_single_disease_run_on_a_subset_has_only_those_classes(tiny_config):
    cfg = tiny_config(task="single_disease", labels=["disease_1", "normal"], epochs=1)
    result = run(cfg)
    assert result["class_names"] == ["normal", "disease_1"]
    lines = [json.loads(x) for x in (cfg.output_path / "predictions.jsonl").open()]
    task_lines = [x for x in lines if x["subset"] == "task"]
    assert task_lines and all(set(x["probabilities"]) == {"normal", "disease_1"} for x in lines)
    # an image whose labels were all left out is in no single-disease prediction
    assert all(x["labels"] for x in task_lines)


def test_leaving_out_short_labels_splits_again_until_every_kept_label_has_the_minimum():
    rng = np.random.default_rng(0)
    rows = [("normal",)] * 40 + [("a",)] * 40 + [("b",)] * 4
    labels = _labels(rows)
    patients = np.array([f"p{i}" for i in rng.permutation(len(rows))])
    first = splits.plan("single_disease", patients, labels, NAMES)
    assert {s.label for s in first.short} == {"b"}
    fixed = splits.plan_leaving_out_short("single_disease", patients, labels, NAMES)
    assert fixed.kept == ["normal", "a"] and fixed.left_out == ["b"] and fixed.short == []
    assert (fixed.counts >= splits.MIN_PER_LABEL).all()
