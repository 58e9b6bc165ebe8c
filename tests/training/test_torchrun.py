"""A job that asks for several GPUs runs the engine under torchrun: progress relayed from its log,
cancel terminates it. Tested with two gloo processes on the CPU, through the job's runner."""

from pathlib import Path

import pytest

from jobs import services as job_services
from jobs.models import Job
from jobs.registry import KINDS
from jobs.services import JobCancelled
from jobs.worker import JobContext
from training import torchrun
from training.engine.checkpoints import load_checkpoint
from training.engine.data import make_synthetic_dataset
from training.runs import job_folder
from training.torchrun import ProgressParser

from .runs import TINY
from .stalling_trainer import Stall
from .test_worker import wait_for

pytestmark = pytest.mark.slow


def test_the_engine_s_log_lines_become_progress_points():
    ticks = iter([10.0, 12.0, 14.0])
    parser = ProgressParser(epochs=3, clock=lambda: next(ticks))
    first = parser.parse("epoch 1 step 2/12 loss 0.6931 480 images/s")
    assert first == {"phase": "train", "epoch": 1, "epochs": 3, "step": 2, "total_steps": 12,
                     "loss": 0.6931, "images_per_s": 480.0, "eta_s": None, "val": None}  # fmt: skip
    later = parser.parse("epoch 1 step 4/12 loss 0.5 500 images/s")
    assert later["eta_s"] == pytest.approx(8.0)  # 1 s a step, 8 steps to go
    validation = parser.parse("epoch 1: train loss 0.5000, val auc 0.8125")
    assert validation["phase"] == "validate" and validation["val"] == {"auc": 0.8125}
    assert validation["step"] == 4 and validation["total_steps"] == 12
    assert parser.parse("resumed from /runs/last.pt after epoch 1") is None
    assert parser.parse("epoch 2: train loss nan, val auc nan")["val"] == {"auc": None}


def claimed_job(personas, **engine) -> Job:
    job = Job.objects.create(
        team=personas.team, owner=personas.owner, kind="train", queue="gpu",
        config={"label_set": 1, "gpus": 2, "engine": {**TINY, **engine}},
    )  # fmt: skip
    # The export is tested elsewhere; a synthetic dataset in the job's folder is reused as an
    # earlier attempt's export would be.
    make_synthetic_dataset(job_folder(job) / "dataset", n=120, size=64, n_labels=3, seed=1)
    return job_services.claim_job(job.pk, "test-worker")


def test_a_two_process_job_trains_under_torchrun_with_progress_on_the_row(personas):
    job = claimed_job(personas, epochs=2)
    result = KINDS["train"].function(JobContext(job, "test-worker"))
    job.refresh_from_db()
    assert 0.0 <= result["metrics"]["test"]["auc"] <= 1.0
    assert result["metrics"]["patient_split"]["train"]["images"] > 0
    phases = [point["phase"] for point in job.history]
    assert "train" in phases and phases.count("validate") == 2
    assert job.progress["epoch"] == 2 and job.progress["total_steps"] > 0
    run = job_folder(job) / "run"
    assert load_checkpoint(run / "last.pt")["epoch"] == 2
    assert (job_folder(job) / "engine-config.json").is_file()


class CancelAfterFirstEpoch(JobContext):
    """A user presses Cancel once the first checkpoint exists."""

    def report(self, progress: dict, **options) -> None:
        if progress["phase"] == "validate":
            Job.objects.filter(pk=self.job.pk).update(cancel_requested=True)
        super().report(progress, **options)


def processes_naming(text: str) -> list[int]:
    """The processes whose command line holds ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text in (proc / "cmdline").read_text():
                found.append(int(proc.name))
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
    return found


def test_cancel_terminates_the_torchrun_processes_and_keeps_the_checkpoint(
    personas, monkeypatch, tmp_path
):
    # The ranks stall after epoch 2's checkpoint: the cancel, sent at epoch 1's validation line,
    # lands before the run's end however late this process reads that line.
    stall = Stall(tmp_path, "ranks", 2)

    def stalling(nproc: int, config_file: Path) -> list[str]:
        command = torchrun_command(nproc, config_file)
        at = command.index("training.engine")
        return [*command[: at - 1], *stall.command(), "engine", *command[at + 1 :]]

    torchrun_command = torchrun.command
    monkeypatch.setattr(torchrun, "command", stalling)
    job = claimed_job(personas, epochs=40)
    with pytest.raises(JobCancelled):
        KINDS["train"].function(CancelAfterFirstEpoch(job, "test-worker"))
    wait_for(lambda: not processes_naming(str(stall.marker)), 60, "torchrun and its ranks to end")
    job.refresh_from_db()
    assert job.progress["epoch"] < 40
    assert load_checkpoint(job_folder(job) / "run" / "last.pt")["epoch"] >= 1
    assert not (job_folder(job) / "run" / "metrics.json").exists()


def test_a_job_asking_for_more_gpus_than_the_worker_has_fails_at_once(personas):
    import torch

    job = claimed_job(personas, device="cuda")
    Job.objects.filter(pk=job.pk).update(config={**job.config, "gpus": 64})
    job.refresh_from_db()
    with pytest.raises(
        ValueError, match=f"asks for 64 GPUs; this worker has {torch.cuda.device_count()}"
    ):
        KINDS["train"].function(JobContext(job, "test-worker"))
