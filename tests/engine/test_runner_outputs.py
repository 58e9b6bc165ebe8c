"""What the job runner sees: progress events, metrics.json, predictions, evaluate and predict."""

import json

from training.engine.data import TRAIN
from training.engine.runner import Progress, preflight, run


def test_progress_callback_reports_steps_loss_speed_eta_and_validation(tiny_config):
    events: list[Progress] = []
    cfg = tiny_config(task="normal_abnormal", epochs=2)
    run(cfg, progress=events.append)
    train = [e for e in events if e.phase == "train"]
    assert train and all(e.loss > 0 for e in train)
    # the first point closes the warm-up step: timed on its own, no rate (it would mix
    # compilation and autotuning into images/s); every later point has a rate
    warmup = train[0]
    assert warmup.step == 1 and warmup.images_per_s is None
    assert warmup.timings["warmup_steps"] == 1 and warmup.timings["warmup_s"] > 0
    assert all(e.images_per_s > 0 for e in train[1:])
    # the ETA comes from the pace between two points: none at the first, from the second on
    assert train[0].eta_s is None and all(e.eta_s >= 0 for e in train[1:])
    assert train[-1].step == train[-1].total_steps
    validations = [e for e in events if e.phase == "validate"]
    assert [e.epoch for e in validations] == [1, 2] and "auc" in validations[0].val
    assert events[-1].phase == "done"
    assert set(events[0].to_dict()) >= {"epoch", "step", "loss", "images_per_s", "eta_s", "val"}


def test_throughput_counts_training_steps_only_and_phases_are_timed_apart(tiny_config):
    events: list[Progress] = []
    cfg = tiny_config(task="normal_abnormal", epochs=2, log_every=1)
    result = run(cfg, progress=events.append)
    timings = result["timings"]
    n_train = len(preflight(cfg).rows(TRAIN))  # normal_abnormal: no resampling
    # every real training image but the warm-up step's; padding and validation not counted
    assert timings["warmup_steps"] == 1
    assert timings["train_images"] == 2 * n_train - cfg.batch_size
    assert timings["validate_s"] > 0 and timings["test_s"] > 0 and timings["train_s"] > 0
    assert timings["train_images_per_s"] == timings["train_images"] / timings["train_s"]
    validations = [e for e in events if e.phase == "validate"]
    # validation is timed as its own phase, growing with each epoch
    assert 0 < validations[0].timings["validate_s"] < validations[1].timings["validate_s"]
    assert validations[0].timings["train_s"] < validations[1].timings["train_s"]


def test_evaluate_reproduces_the_test_metrics_and_predict_scores_a_split(tiny_config, tmp_path):
    cfg = tiny_config(task="normal_abnormal", epochs=1)
    trained = run(cfg)
    again = run(tiny_config(output=cfg.output), command="evaluate")
    assert again["test"]["auc"] == trained["test"]["auc"]
    out = run(tiny_config(output=cfg.output, predict_split="val"), command="predict")
    lines = [json.loads(x) for x in open(out["predictions"])]
    assert len(lines) == out["count"] > 0 and {x["split"] for x in lines} == {"val"}
    assert all(abs(sum(x["probabilities"].values()) - 1) < 1e-4 for x in lines)
