"""Which models make up a team, read from the app registry, and in which order to restore them.

A model belongs to the backup when a chain of foreign keys leads from it to ``teams.Team``
(every ``TeamOwned`` model, memberships, and any row that hangs off them without a team column
of its own), unless ``EXCLUDED`` names it with the reason. Each of its foreign keys points at
the team, a user (matched by username on the target), itself (set in a second pass), or
another model of the plan (its rows come first); anything else is a ``PlanError``, so a new
kind of link is noticed by tests/lab/test_backup_plan.py before a backup silently drops it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models

from teams.models import Team

# Team-reachable models deliberately left out: label -> why. A model added here must say why a
# restored team does not need its rows.
EXCLUDED: dict[str, str] = {
    "labeling.dicomlistener": (
        "its port and AE title belong to the installation it ran on (a copy restored beside its "
        "source would claim the same port); the listener gives a restored team a fresh row with "
        "a free port on its next poll"
    ),
    "labeling.dicomassociation": (
        "the listener's log of this installation's network traffic, not the team's data; a "
        "restored team starts a new log"
    ),
    "labeling.dicomrejection": "part of the listener's traffic log (see dicomassociation)",
}

TEAM, USER, SELF = "team", "user", "self"


class PlanError(RuntimeError):
    """The data model links a team's rows in a way the backup does not know how to carry."""


@dataclass(frozen=True)
class Link:
    """One foreign key column: ``target`` is TEAM, USER, SELF or a model label of the plan."""

    attname: str
    target: str
    null: bool


@dataclass(frozen=True)
class ModelPlan:
    model: type[models.Model]
    team_path: str  # the lookup from a row to its team, e.g. "team" or "study__team"
    links: tuple[Link, ...]

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    @property
    def fields(self) -> list[models.Field]:
        """The columns a row carries, primary key excluded (the target assigns its own)."""
        return [f for f in self.model._meta.concrete_fields if not f.primary_key]

    def rows(self, team: Team) -> models.QuerySet:
        # The base manager: no custom filtering, and no refusal of frozen rows' bulk reads.
        return self.model._base_manager.filter(**{self.team_path: team}).order_by("pk")


def team_paths() -> dict[type[models.Model], str]:
    """Every model with a chain of foreign keys to Team, with the shortest lookup path."""
    found: dict[type[models.Model], str] = {}
    everything = [
        m for m in apps.get_models() if not m._meta.proxy
    ]  # a proxy's rows are its base's
    queue = deque([(Team, "")])
    while queue:
        target, path = queue.popleft()
        for model in everything:
            if model is Team or model in found:
                continue
            for field in model._meta.concrete_fields:
                if field.is_relation and field.related_model is target:
                    found[model] = f"{field.name}__{path}" if path else field.name
                    queue.append((model, found[model]))
                    break
    return found


def build() -> list[ModelPlan]:
    """The plan, parents before children (ties in label order, so every run agrees)."""
    paths = {m: p for m, p in team_paths().items() if m._meta.label_lower not in EXCLUDED}
    labels = {m._meta.label_lower for m in paths}
    user_model = get_user_model()
    plans = {}
    for model, path in paths.items():
        label = model._meta.label_lower
        if model._meta.many_to_many:
            names = [f.name for f in model._meta.many_to_many]
            raise PlanError(
                f"{label} has many-to-many fields {names}; the backup cannot carry them"
            )
        links = []
        for field in model._meta.concrete_fields:
            if not field.is_relation:
                continue
            related = field.related_model
            if related is Team:
                target = TEAM
            elif related is user_model:
                target = USER
            elif related is model:
                if not field.null:
                    raise PlanError(f"{label}.{field.name} refers to its own model and is "
                                    "required: the restore sets such links after the rows")  # fmt: skip
                target = SELF
            elif related._meta.label_lower in labels:
                target = related._meta.label_lower
            else:
                raise PlanError(
                    f"{label}.{field.name} points at {related._meta.label}, which is neither "
                    "team data nor a user: teach lab/backup/plan.py how to carry it"
                )
            links.append(Link(field.attname, target, field.null))
        plans[label] = ModelPlan(model, path, tuple(links))
    return _ordered(plans)


def _ordered(plans: dict[str, ModelPlan]) -> list[ModelPlan]:
    needs = {
        label: {link.target for link in plan.links if link.target in plans}
        for label, plan in plans.items()
    }
    ordered: list[ModelPlan] = []
    while needs:
        ready = sorted(label for label, wanted in needs.items() if not wanted)
        if not ready:
            raise PlanError(f"foreign keys form a cycle among {sorted(needs)}")
        for label in ready:
            ordered.append(plans[label])
            del needs[label]
        for wanted in needs.values():
            wanted.difference_update(ready)
    return ordered
