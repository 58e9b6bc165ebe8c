"""Launching a job: the one way the launch forms, ``POST /api/jobs/`` and the ``train`` /
``evaluate`` commands start training, evaluation and prediction.

``launch_job`` parses the config into its kind's typed config (unless the caller's serializer
already has), checks what it refers to in the team, and queues the job through the jobs layer.
Field problems raise ``InvalidConfig`` (a 400, or the field's error on a form); a reference to
something the team does not have raises ``MissingInput`` (a 404: another team's objects are
never confirmed to exist).
"""

from __future__ import annotations

from collections.abc import Mapping

from jobs import services as job_services
from jobs.models import Job

from .configs import JOB_CONFIGS, InvalidConfig, JobConfig
from .serializers import parse_config
from .services import MissingInput, check_job_inputs

__all__ = ["InvalidConfig", "MissingInput", "launch_job"]


def launch_job(team, user, kind: str, data: Mapping | JobConfig, *, name: str = "",
               queue: str = "") -> Job:  # fmt: skip
    """Queue a job of ``kind`` for ``team`` with the config ``data`` (raw, or parsed already)."""
    if kind not in JOB_CONFIGS:
        raise InvalidConfig({"kind": [f"{kind!r} is not one of {sorted(JOB_CONFIGS)}"]})
    config = data if type(data) is JOB_CONFIGS[kind] else parse_config(kind, data)
    stored = config.stored()
    problems = check_job_inputs(team, kind, stored)  # raises MissingInput
    if problems:  # e.g. a run that did not succeed, a label set with other labels
        raise InvalidConfig({field: [message] for field, message in problems.items()})
    return job_services.create_job(team, user, kind, stored, name=name, queue=queue)
