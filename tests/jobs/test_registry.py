"""A job kind is one ``@runner`` in its own app's ``jobs.py``: the jobs layer queues, runs, logs
and ends it without naming it, and the apps' kinds are registered when Django starts."""

import logging

import pytest
from celery import current_app

from jobs import registry, services, worker
from jobs.models import Job, JobStatus

log = logging.getLogger("tests.jobs")


class Unfixable(Exception):
    pass


@pytest.fixture
def echo_kind():
    @registry.runner("echo", queue="echo-queue", label="echo words", permanent=(Unfixable,))
    def echo(context) -> dict:
        words = context.job.config["say"]
        if words == "unfixable":
            raise Unfixable("this will never work")
        if words == "flaky":
            raise RuntimeError("maybe next time")
        context.report({"phase": "echo", "step": 1, "total_steps": 1}, now=True)
        log.info("echoing %s", words)
        return {"metrics": {"said": words}}

    yield echo
    registry.KINDS.pop("echo")


@pytest.fixture
def sent(monkeypatch) -> list:
    messages = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args, queue, **_: messages.append(
        (name, args, queue)))  # fmt: skip
    return messages


def launch(personas, say: str, django_capture_on_commit_callbacks) -> Job:
    with django_capture_on_commit_callbacks(execute=True):
        return services.create_job(personas.team, personas.owner, "echo", {"say": say})


@pytest.mark.django_db
def test_a_new_kind_runs_through_the_jobs_layer_without_it_naming_the_kind(
    personas, echo_kind, sent, django_capture_on_commit_callbacks
):
    job = launch(personas, "hello", django_capture_on_commit_callbacks)
    assert sent == [("training.run_job", [job.pk], "echo-queue")]  # the kind's own queue
    assert job.get_kind_display() == "echo words"
    worker.run(job.pk)  # what the Celery task does with the message
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1
    assert job.metrics == {"said": "hello"} and job.progress["phase"] == "echo"
    assert "echoing hello" in job.log  # the kind's app's logger reaches the row


@pytest.mark.django_db
def test_a_kind_s_permanent_error_fails_at_once_and_others_are_retried(
    personas, echo_kind, sent, django_capture_on_commit_callbacks
):
    unfixable = launch(personas, "unfixable", django_capture_on_commit_callbacks)
    worker.run(unfixable.pk)
    unfixable.refresh_from_db()
    assert unfixable.status == JobStatus.FAILED and unfixable.attempts == 1
    assert unfixable.error == "Unfixable: this will never work"
    flaky = launch(personas, "flaky", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        worker.run(flaky.pk)
    flaky.refresh_from_db()
    assert flaky.status == JobStatus.QUEUED and flaky.attempts == 1
    assert sent[-1] == ("training.run_job", [flaky.pk], "echo-queue")  # requeued


@pytest.mark.django_db
def test_a_job_whose_kind_nobody_registered_fails_with_a_message(personas):
    job = Job.objects.create(team=personas.team, owner=personas.owner, kind="gone", config={})
    worker.run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert "no runner for jobs of kind 'gone'" in job.error
    assert job.get_kind_display() == "gone"


def test_each_app_registers_its_kinds_when_django_starts():
    kinds = {name: (kind.queue, kind.function.__module__) for name, kind in registry.KINDS.items()}
    assert kinds == {
        "train": ("gpu", "training.jobs"),
        "evaluate": ("gpu", "training.jobs"),
        "predict": ("gpu", "training.jobs"),
        "cluster": ("default", "curation.jobs"),
        "pacs_pull": ("default", "labeling.jobs"),
        "gradcam": ("default", "results.jobs"),
    }
    assert registry.hidden_kinds() == ["gradcam"]  # left out of the job lists unless asked for
