"""High-level entry points: `run(config, command, progress)` for the CLI and the web app's job.

A run writes into `config.output`: `config.json`, `last.pt` (every epoch), `best.pt` (best
validation metric), `metrics.json` (history plus validation and test reports) and
`predictions.jsonl` (one line per evaluated image: image_id, split, subset, probabilities after
crop averaging, true labels). Progress goes to the callback (a `Progress`) and to `logging`.
Everything that can be wrong with the input is checked by `preflight` before any GPU work.

Where the time goes is reported apart: the warm-up (the first steps: compilation, autotuning,
CUDA-graph recording), training steps (the only ones images/s counts), validation and the final
test, in `Progress.timings` while the run goes and in metrics.json's `timings` at its end. With
`compile` the model is compiled once for training and once for evaluation (inference mode,
static shapes), as CUDA graphs where `modeling.uses_cuda_graphs` allows, its compiled graphs
cached per host under CXR_DATA_DIR (`modeling.configure_compile_cache`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import distributed, tasks
from .checkpoints import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import Config, ConfigError, from_dict
from .data import (
    SPLIT_NAMES,
    TEST,
    TRAIN,
    VAL,
    Batches,
    Dataset,
    ImageStore,
    keep_labels,
    open_dataset,
    patient_split,
    rebalanced_counts,
    rebalanced_epoch,
    shard,
)
from .loop import Check, StepMeter, predict, train_one_epoch
from .metrics import multilabel_report, to_jsonable
from .modeling import (
    build_model,
    compile_model,
    configure_compile_cache,
    resolve_weights,
    unwrap,
    uses_cuda_graphs,
)
from .transforms import TrainAugment

log = logging.getLogger("training.engine")


@dataclass
class Progress:
    """What the job runner shows: sent every `log_every` steps and after each validation."""

    phase: str  # "train", "validate", "test", "done", "stopped"
    epoch: int  # 1-based epoch in progress
    epochs: int
    step: int  # batches done over the whole run
    total_steps: int
    loss: float | None = None
    images_per_s: float | None = None  # over training steps only; None for the warm-up point
    eta_s: float | None = None
    val: dict | None = field(default=None)
    # seconds so far per phase: warmup_s, train_s (+ train_images, train_images_per_s),
    # validate_s, test_s; see Timings
    timings: dict | None = field(default=None)

    def to_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[Progress], None]


@dataclass
class Prepared:
    """A config whose inputs all checked out, with the data it will use (host memory only)."""

    config: Config
    dataset: Dataset
    split: np.ndarray
    task: tasks.Task
    balance: str  # "paper", "weighted_loss" or "none" ("auto" resolved for the task)

    def rows(self, code: int) -> np.ndarray:
        return np.flatnonzero(self.task.members & (self.split == code))


def preflight(config: Config) -> Prepared:
    """Check everything that can fail on bad input; touches no GPU."""
    config.validate()
    balance = config.balance
    if balance == "auto":  # the paper rebalanced task 2 only; task 1 is balanced already
        balance = "paper" if config.task == "single_disease" else "none"
    if balance == "paper" and config.task == "multi_label":
        raise ConfigError("balance: 'paper' resampling needs one class per image; "
                          "use weighted_loss or none for multi_label")  # fmt: skip
    resolve_weights(config.arch, config.weights)
    ds = keep_labels(open_dataset(config.dataset, config.normal_label), config.labels)
    if config.crop > ds.image_size:
        raise ConfigError(f"crop: {config.crop} exceeds the stored image size {ds.image_size}")
    split = patient_split(ds.patient_ids, ds.labels, config.split_fractions, config.seed,
                          config.min_per_label_eval)  # fmt: skip
    task = tasks.make_task(config.task, ds)
    tasks.check_coverage(task, split, config.split_fractions)
    return Prepared(config, ds, split, task, balance)


# --- pieces of a training run ----------------------------------------------------------------------


def _amp(config: Config, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype, whether a GradScaler is needed) for this config and device."""
    if device.type != "cuda" or config.amp == "off":
        return None, False
    if config.amp == "bf16" or (config.amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16, False
    return torch.float16, True


def _set_determinism(config: Config) -> None:
    torch.manual_seed(config.seed)
    # warn_only: a few CUDA backward kernels (adaptive pooling) have no deterministic variant
    torch.use_deterministic_algorithms(config.deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not config.deterministic
    torch.backends.cuda.matmul.allow_tf32 = not config.deterministic
    torch.backends.cudnn.allow_tf32 = not config.deterministic


def _optimizer(
    config: Config, model: torch.nn.Module, device: torch.device
) -> torch.optim.Optimizer:
    fused = {"fused": True} if device.type == "cuda" else {}
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]  # biases and norms: no decay
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]  # fmt: skip
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, **fused)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, **fused)


def _scheduler(config: Config, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))
        if config.schedule == "step":
            return config.step_gamma ** (step // (config.step_epochs * steps_per_epoch))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _epoch_order(prep: Prepared, epoch: int) -> np.ndarray:
    """Image indices of one training epoch, shuffled (and rebalanced) from (seed, epoch)."""
    cfg, train = prep.config, prep.rows(TRAIN)
    rng = np.random.default_rng([cfg.seed, epoch])
    if prep.balance != "paper":
        return rng.permutation(train)
    targets = prep.task.targets[train]
    wanted = rebalanced_counts(np.bincount(targets, minlength=len(prep.task.class_names)),
                               cfg.min_count, cfg.min_fraction, prep.task.majority,
                               cfg.majority_fraction)  # fmt: skip
    return train[rebalanced_epoch(targets, wanted, rng)]


def _open_store(config: Config, prep: Prepared, device: torch.device) -> ImageStore:
    images = prep.dataset.images
    wanted = {"on": True, "off": False}.get(config.gpu_cache)
    if wanted is None:
        wanted = ImageStore.fits_on_device(images, device)
    return ImageStore(images, device, on_device=wanted and device.type == "cuda")


def _checkpoint_state(prep, model, optimizer, scheduler, scaler, epoch, step, extra) -> dict:
    return {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler else {},
        "epoch": epoch,
        "step": step,
        "rng": rng_state(),
        "config": prep.config.to_dict(),
        "task": prep.task.name,
        "arch": prep.config.arch,
        "class_names": prep.task.class_names,
        "label_set_hash": prep.dataset.label_set_hash,
        **extra,
    }


def _check_compatible(state: dict, prep: Prepared, path: Path) -> None:
    if state["label_set_hash"] != prep.dataset.label_set_hash:
        raise ConfigError(f"checkpoint: {path} was trained on label set "
                          f"{state['label_set_hash']}, the dataset has "
                          f"{prep.dataset.label_set_hash}")  # fmt: skip
    if state["class_names"] != prep.task.class_names:
        raise ConfigError(f"checkpoint: {path} has classes {state['class_names']}, "
                          f"task {prep.task.name} has {prep.task.class_names}")  # fmt: skip


class Timings:
    """Seconds spent per phase of a run: the step meter's warm-up and training, plus the
    validations and the final test."""

    def __init__(self) -> None:
        self.meter = StepMeter()
        self.validate_s = 0.0
        self.test_s = 0.0

    def to_dict(self) -> dict:
        return {**self.meter.to_dict(), "validate_s": self.validate_s, "test_s": self.test_s}


def _resume_path(config: Config) -> Path | None:
    if not config.resume:
        return None
    if config.resume == "auto":
        last = Path(config.output) / "last.pt"
        return last if last.is_file() else None
    return Path(config.resume)


def _restore(path: Path, prep: Prepared, model, optimizer, scheduler, scaler, state: dict) -> dict:
    """Load a checkpoint into the live objects; return the loop state it was saved with."""
    ckpt = load_checkpoint(path)
    _check_compatible(ckpt, prep, path)
    unwrap(model).load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if scaler and ckpt["scaler"]:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    log.info("resumed from %s after epoch %d", path, ckpt["epoch"])
    return {k: ckpt[k] for k in state}


def _record_validation(state: dict, epoch: int, metric: float) -> None:
    """Best epoch and early-stopping patience. Ties go to the later (longer trained) epoch;
    only a strict gain resets the patience. A NaN metric never counts as a gain."""
    valid = not math.isnan(metric)
    state["bad_epochs"] = 0 if valid and metric > state["best_metric"] else state["bad_epochs"] + 1
    if state["best_epoch"] == 0 or (valid and metric >= state["best_metric"]):
        state["best_epoch"] = epoch
        state["best_metric"] = metric if valid else state["best_metric"]


# --- commands -----------------------------------------------------------------------------------------


def train(
    config: Config, progress: ProgressCallback | None = None, check: Check | None = None
) -> dict:
    """Fine-tune, validate every epoch, keep the best, then evaluate val and test. ``check``
    runs after every training batch and raises to stop the run there (a cancel)."""
    prep = preflight(config)
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    world, device = distributed.init(config.device)
    try:
        return _train(prep, world, device, progress or (lambda p: None), check)
    finally:
        distributed.shutdown()


def _train(prep: Prepared, world: distributed.World, device: torch.device,
           progress: ProgressCallback, check: Check | None = None) -> dict:  # fmt: skip
    cfg, task = prep.config, prep.task
    out = Path(cfg.output)
    _set_determinism(cfg)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    amp_dtype, needs_scaler = _amp(cfg, device)
    log.info("building the model: %s on %s", cfg.arch, device)
    model = build_model(cfg.arch, len(task.class_names), cfg.weights, cfg.grayscale).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    weights = None
    if prep.balance == "weighted_loss":
        weights = tasks.class_weight_vector(task, prep.rows(TRAIN))
    loss_fn = task.loss(weights, device)
    optimizer = _optimizer(cfg, model, device)
    per_rank = len(shard(_epoch_order(prep, 0), world.rank, world.size))
    batches_per_epoch = math.ceil(per_rank / cfg.batch_size)
    scheduler = _scheduler(cfg, optimizer, math.ceil(batches_per_epoch / cfg.accumulate))
    scaler = torch.amp.GradScaler("cuda") if needs_scaler else None
    state = {"epoch": 0, "step": 0, "best_metric": -math.inf, "best_epoch": 0, "history": [],
             "bad_epochs": 0}  # fmt: skip
    resume = _resume_path(cfg)
    if resume is not None:
        state = _restore(resume, prep, model, optimizer, scheduler, scaler, state)
    train_model = model
    if world.size > 1:
        ids = [device.index] if device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    graphs = uses_cuda_graphs(cfg.compile, cfg.cuda_graphs, device, cfg.deterministic,
                              world.size)  # fmt: skip
    eval_model = model
    if cfg.compile:
        configure_compile_cache()
        train_model = compile_model(train_model, graphs)
        eval_model = compile_model(model, graphs)
    store = _open_store(cfg, prep, device)
    targets = task.target_tensor(device)
    augment = TrainAugment(cfg.crop, cfg.flip, cfg.affine_degrees, cfg.affine_scale, device)
    val_rows = prep.rows(VAL)
    total_steps = cfg.epochs * batches_per_epoch
    stopped_early = False
    log.info("training %d images, %d batches per epoch, %d epochs; the first step runs now",
             len(prep.rows(TRAIN)), batches_per_epoch, cfg.epochs)  # fmt: skip
    eta = Eta(total_steps)
    timings = Timings()
    # the first steps of this process compile, autotune and (with graphs) record
    warmup_steps = 3 if graphs else 1

    def report_progress(p: Progress) -> None:
        if world.is_main:
            p.timings = timings.to_dict()
            progress(p)

    def score(rows: np.ndarray) -> np.ndarray:
        return predict(eval_model, store, rows, cfg.crop, cfg.eval_crops, cfg.eval_batch_size,
                       task.activation, amp_dtype, cfg.channels_last, world, cfg.compile,
                       graphs)  # fmt: skip

    for epoch in range(state["epoch"], cfg.epochs):
        order = shard(_epoch_order(prep, epoch), world.rank, world.size)
        augment.reseed(cfg.seed * 1_000_003 + epoch * 1009 + world.rank)

        def on_log(done: int, loss: float, ips: float | None, epoch: int = epoch) -> None:
            step = epoch * batches_per_epoch + done
            rate = None if ips is None else ips * world.size
            report_progress(Progress("train", epoch + 1, cfg.epochs, step, total_steps, loss,
                                     rate, eta.at(step)))  # fmt: skip
            if rate is None:
                log.info("warm-up: %d steps in %.1f s (%s included), loss %.4f", done,
                         timings.meter.warmup_s, "compilation" if cfg.compile else "autotuning",
                         loss)  # fmt: skip
                return
            log.info("epoch %d step %d/%d loss %.4f %.0f images/s", epoch + 1, step,
                     total_steps, loss, rate)  # fmt: skip

        loss = train_one_epoch(train_model, Batches(store, order, cfg.batch_size, targets), augment,
                               loss_fn, optimizer, scheduler, scaler, amp_dtype, cfg.accumulate,
                               cfg.channels_last, cfg.log_every, on_log, check, warmup_steps,
                               timings.meter, graphs)  # fmt: skip
        warmup_steps = 0
        started = time.perf_counter()
        loss = distributed.mean_over_ranks(loss, world, device)
        probs = score(val_rows)
        metric = tasks.quick_metric(task, probs, task.targets[val_rows])
        timings.validate_s += time.perf_counter() - started
        state["step"] = (epoch + 1) * batches_per_epoch
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "train_loss": loss,
                                 f"val_{task.primary_metric}": metric,
                                 "lr": scheduler.get_last_lr()[0]})  # fmt: skip
        _record_validation(state, epoch + 1, metric)
        if world.is_main:
            ckpt = _checkpoint_state(prep, model, optimizer, scheduler, scaler, state["epoch"],
                                     state["step"], {k: state[k] for k in state
                                                     if k not in ("epoch", "step")})  # fmt: skip
            save_checkpoint(out / "last.pt", ckpt)
            if state["best_epoch"] == epoch + 1:
                save_checkpoint(out / "best.pt", ckpt)
        log.info("epoch %d: train loss %.4f, val %s %.4f", epoch + 1, loss,
                 task.primary_metric, metric)  # fmt: skip
        report_progress(Progress("validate", epoch + 1, cfg.epochs, state["step"], total_steps,
                                 loss, val={task.primary_metric: metric}))  # fmt: skip
        if cfg.early_stop_patience and state["bad_epochs"] >= cfg.early_stop_patience:
            log.info("early stop: no improvement for %d epochs", state["bad_epochs"])
            stopped_early = True
            break
        if cfg.stop_after_epoch and epoch + 1 == cfg.stop_after_epoch and epoch + 1 < cfg.epochs:
            distributed.barrier(world)
            report_progress(Progress("stopped", epoch + 1, cfg.epochs, state["step"], total_steps))
            return {"status": "stopped", "epoch": epoch + 1}
    distributed.barrier(world)  # best.pt is on disk before anyone reads it
    best = load_checkpoint(out / "best.pt")
    model.load_state_dict(best["model"])
    report_progress(Progress("test", state["epoch"], cfg.epochs, state["step"], total_steps))
    started = time.perf_counter()
    result = _final_evaluation(prep, score, world)
    timings.test_s = time.perf_counter() - started
    result.update(history=state["history"], best_epoch=state["best_epoch"],
                  epochs_run=state["epoch"], stopped_early=stopped_early,
                  timings=timings.to_dict())  # fmt: skip
    if world.is_main:
        _write_json(out / "metrics.json", result)
    report_progress(Progress("done", state["epoch"], cfg.epochs, state["step"], total_steps,
                             val={task.primary_metric: state["best_metric"]}))  # fmt: skip
    return result


class Eta:
    """Seconds left, from the pace between the first progress point and the latest: None until
    two points exist (the first step includes warm-up, so it is not a pace of its own)."""

    def __init__(self, total_steps: int) -> None:
        self.total_steps = total_steps
        self.first: tuple[float, int] | None = None

    def at(self, step: int, now: float | None = None) -> float | None:
        now = time.perf_counter() if now is None else now
        if self.first is None:
            self.first = (now, step)
            return None
        start, first_step = self.first
        if step <= first_step:
            return None
        return (now - start) / (step - first_step) * (self.total_steps - step)


def _final_evaluation(prep: Prepared, score: Callable[[np.ndarray], np.ndarray],
                      world: distributed.World) -> dict:  # fmt: skip
    """Validation and test reports (thresholds from validation), predictions written;
    `score` gives the probabilities of rows."""
    cfg, task = prep.config, prep.task
    result = {"task": task.name, "arch": cfg.arch, "class_names": task.class_names,
              "label_set_hash": prep.dataset.label_set_hash, "eval_crops": cfg.eval_crops,
              "split_counts": {n: len(prep.rows(c)) for c, n in enumerate(SPLIT_NAMES)}}  # fmt: skip
    predictions = []
    val_rows, test_rows = prep.rows(VAL), prep.rows(TEST)
    val_probs, test_probs = score(val_rows), score(test_rows)
    thresholds = tasks.thresholds_from(task, val_probs, task.targets[val_rows])
    for name, rows, probs in (("val", val_rows, val_probs), ("test", test_rows, test_probs)):
        result[name] = tasks.report(task, probs, task.targets[rows], thresholds)
        predictions += _prediction_records(prep, rows, probs, "task")
    if task.name == "single_disease":
        result["multi_disease"], records = _multi_disease(prep, score)
        predictions += records
    if world.is_main:
        _write_jsonl(Path(cfg.output) / "predictions.jsonl", predictions)
    return result


def _multi_disease(prep: Prepared, score: Callable[[np.ndarray], np.ndarray]) -> tuple[dict, list]:
    """The paper's task 3: score images with 2+ labels with the single-disease model, rank."""
    ds, task = prep.dataset, prep.task
    multi = ds.labels.sum(axis=1) >= 2
    val_rows = np.flatnonzero(multi & (prep.split == VAL))
    test_rows = np.flatnonzero(multi & (prep.split == TEST))
    if len(test_rows) == 0:  # small or mostly single-label data: nothing to rank
        return {"test": None, "reason": "no test image carries two or more labels"}, []
    val_probs, test_probs = score(val_rows), score(test_rows)
    ranking = tasks.Task("multi_label", task.class_names, multi, ds.labels, None)
    thresholds = tasks.thresholds_from(ranking, val_probs, ds.labels[val_rows])
    block = {"test": multilabel_report(test_probs, ds.labels[test_rows], task.class_names,
                                       thresholds)}  # fmt: skip
    return block, _prediction_records(prep, test_rows, test_probs, "multi_disease")


def _prediction_records(prep: Prepared, rows: np.ndarray, probs: np.ndarray, subset: str) -> list:
    ds, names = prep.dataset, prep.task.class_names
    return [
        {
            "image_id": ds.image_ids[i],
            "split": SPLIT_NAMES[prep.split[i]],
            "subset": subset,
            "probabilities": {n: round(float(p), 6) for n, p in zip(names, row, strict=True)},
            "labels": [ds.label_names[j] for j in np.flatnonzero(ds.labels[i])],
        }
        for i, row in zip(rows, probs, strict=True)
    ]


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(to_jsonable(data), indent=1, allow_nan=False))
    os.replace(tmp, path)


def _write_jsonl(path: Path, records: list[dict]) -> None:
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _load_for_inference(config: Config, device: torch.device) -> tuple[Prepared, torch.nn.Module]:
    """The checkpoint's own config decides architecture, task and split; this one the data."""
    path = Path(config.checkpoint or Path(config.output) / "best.pt")
    ckpt = load_checkpoint(path)
    trained = from_dict(ckpt["config"])
    merged = from_dict({**trained.to_dict(), "dataset": config.dataset, "output": config.output,
                        "device": config.device, "eval_crops": config.eval_crops,
                        "eval_batch_size": config.eval_batch_size, "weights": "none",
                        "predict_split": config.predict_split, "gpu_cache": config.gpu_cache,
                        "amp": config.amp})  # fmt: skip
    prep = preflight(merged)
    _check_compatible(ckpt, prep, path)
    model = build_model(merged.arch, len(prep.task.class_names), "none", merged.grayscale)
    model.load_state_dict(ckpt["model"])
    model = model.to(device)
    if merged.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return prep, model


def evaluate(config: Config, progress: ProgressCallback | None = None) -> dict:
    """Re-score validation and test with a checkpoint; rewrite metrics.json and predictions."""
    config.validate()
    world, device = distributed.init(config.device)
    try:
        prep, model = _load_for_inference(config, device)
        cfg = prep.config
        store = _open_store(cfg, prep, device)
        amp_dtype = _amp(cfg, device)[0]

        def score(rows: np.ndarray) -> np.ndarray:
            return predict(model, store, rows, cfg.crop, cfg.eval_crops, cfg.eval_batch_size,
                           prep.task.activation, amp_dtype, cfg.channels_last, world)  # fmt: skip

        result = _final_evaluation(prep, score, world)
        if world.is_main:
            Path(config.output).mkdir(parents=True, exist_ok=True)
            _write_json(Path(config.output) / "metrics.json", result)
        return result
    finally:
        distributed.shutdown()


def predict_split(config: Config, progress: ProgressCallback | None = None) -> dict:
    """Probabilities for every image of `predict_split` (task membership ignored)."""
    config.validate()
    world, device = distributed.init(config.device)
    try:
        prep, model = _load_for_inference(config, device)
        cfg = prep.config
        codes = {"train": [TRAIN], "val": [VAL], "test": [TEST], "all": [TRAIN, VAL, TEST]}
        rows = np.flatnonzero(np.isin(prep.split, codes[config.predict_split]))
        store = _open_store(cfg, prep, device)
        probs = predict(model, store, rows, cfg.crop, cfg.eval_crops, cfg.eval_batch_size,
                        prep.task.activation, _amp(cfg, device)[0], cfg.channels_last, world)  # fmt: skip
        path = Path(config.output) / f"predictions_{config.predict_split}.jsonl"
        if world.is_main:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_jsonl(path, _prediction_records(prep, rows, probs, "predict"))
        return {"predictions": str(path), "count": len(rows)}
    finally:
        distributed.shutdown()


COMMANDS = {"train": train, "evaluate": evaluate, "predict": predict_split}


def run(config: Config, command: str = "train", progress: ProgressCallback | None = None,
        check: Check | None = None) -> dict:  # fmt: skip
    """The one entry point the CLI and the web app's job call; ``check`` (training only) runs
    after every batch and raises to stop there."""
    if command not in COMMANDS:
        raise ConfigError(f"command: {command!r} is not one of {tuple(COMMANDS)}")
    if command == "train":
        return train(config, progress, check)
    return COMMANDS[command](config, progress)
