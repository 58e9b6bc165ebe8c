"""Query-string filters of the read-only run and model APIs (``/api/runs/``, ``/api/models/``).

Each value is checked: an unknown task, status or kind is a 400 that names the choices, never
an empty list that looks like "no runs". A team is named by id or slug among the caller's teams
(the querysets are already scoped to them, so another team's name finds nothing).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from training.engine.config import TASKS

from .models import CurrentModel

_TRUE, _FALSE = {"1", "true", "yes"}, {"0", "false", "no"}


def choice(params, name: str, allowed) -> str | None:
    """The parameter's value if it is one of ``allowed``; absent or empty: None."""
    value = params.get(name, "").strip()
    if not value:
        return None
    if value not in allowed:
        raise ValidationError(
            {name: [_("unknown value “%(value)s”; one of: %(choices)s")
                    % {"value": value, "choices": ", ".join(allowed)}]}
        )  # fmt: skip
    return value


def boolean(params, name: str) -> bool | None:
    value = params.get(name, "").strip().lower()
    if not value:
        return None
    if value not in _TRUE | _FALSE:
        raise ValidationError({name: [_("must be true or false")]})
    return value in _TRUE


def by_team(jobs: QuerySet, params) -> QuerySet:
    key = params.get("team", "").strip()
    if not key:
        return jobs
    return jobs.filter(team__pk=int(key)) if key.isdigit() else jobs.filter(team__slug=key)


def by_task(jobs: QuerySet, params) -> QuerySet:
    """A run's task is the one its metrics name, or its training config's while it runs."""
    task = choice(params, "task", TASKS)
    if task is None:
        return jobs
    return jobs.filter(Q(metrics__task=task) | Q(config__engine__task=task))


def by_current(jobs: QuerySet, params) -> QuerySet:
    current = boolean(params, "current")
    if current is None:
        return jobs
    marked = CurrentModel.objects.values("job_id")
    return jobs.filter(pk__in=marked) if current else jobs.exclude(pk__in=marked)
