"""What a failed job's error means to the person who launched it: one sentence saying what they
can do, and whether running the job again can change the outcome.

Errors are classified by the exception type the worker recorded (``fail_attempt`` writes
``"Type: message"``; the reaper writes its own note). Input errors (a config or data the job
cannot work with) fail the same way on every attempt, so no retry is offered for them; a lost
worker, an out-of-memory error or an interrupted job may well pass the next time.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from . import registry
from .models import Job, JobStatus

# Exception types whose message is about the job's input: the same input fails again (with the
# types each kind registers as permanent).
INPUT_ERRORS = ("ConfigError", "JobInputError")
OUT_OF_MEMORY = ("OutOfMemoryError", "out of memory", "MemoryError", "Killed")
WORKER_LOST = "stopped sending heartbeats"


@dataclass(frozen=True)
class Explanation:
    kind: str  # "input", "weights", "memory", "worker", "other"
    advice: str  # one sentence: what the user can do
    detail: str  # the recorded error, without the exception's type name
    retry: bool  # whether running the job again can change the outcome


def _parts(error: str) -> tuple[str, str]:
    head, sep, rest = error.partition(": ")
    if sep and head.isidentifier():
        return head, rest
    return "", error


def explain(job: Job) -> Explanation | None:
    """How to read a failed job's error; None for a job that has not failed."""
    if job.status != JobStatus.FAILED:
        return None
    error = job.error or ""
    exc_type, detail = _parts(error)
    if WORKER_LOST in error:
        advice = _("The worker running this job stopped (it was restarted or lost its host); "
                   "retry the job, and it resumes from its last checkpoint.")  # fmt: skip
        return Explanation("worker", advice, detail, True)
    if any(sign in error for sign in OUT_OF_MEMORY):
        advice = _("The job ran out of memory; retry it when the device is less busy, or "
                   "rerun it with a smaller batch size.")  # fmt: skip
        return Explanation("memory", advice, detail, True)
    if detail.startswith("weights: ") and "not found" in detail:
        advice = _("The pretrained weights file is missing: copy the file named below into "
                   "that folder (see “Pretrained weights, offline” in the README), or rerun "
                   "with weights “none”.")  # fmt: skip
        return Explanation("weights", advice, detail, False)
    if exc_type in _input_errors(job.kind):
        advice = _("The job cannot run with this configuration or data: correct what the "
                   "message below names, then rerun it with an edited config.")  # fmt: skip
        return Explanation("input", advice, detail, False)
    advice = _("The job stopped on an unexpected error; retry it, and if it fails the same "
               "way, send the details below to your administrator.")  # fmt: skip
    return Explanation("other", advice, detail or error, True)


def _input_errors(kind: str) -> set[str]:
    registered = registry.get(kind)
    permanent = registered.permanent if registered else ()
    return {*INPUT_ERRORS, *(exc.__name__ for exc in permanent)}


def retry_can_help(job: Job) -> bool:
    """Cancelled jobs resume; failed ones only when the error is not about their input."""
    if job.status == JobStatus.CANCELLED:
        return True
    explanation = explain(job)
    return explanation is not None and explanation.retry
