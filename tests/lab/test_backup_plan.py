"""The backup covers every model of a team, read from the app registry: a model added (or moved
between apps) with a path to Team is carried or explicitly excluded with a reason; its JSON
columns say which ids they hold; every job kind says which ids its config keeps."""

import pytest
from django.apps import apps
from django.db import models
from django.test.utils import isolate_apps

from jobs.models import WorkerPresence
from jobs.registry import KINDS
from lab.backup import plan, refs
from labeling.models import Study
from teams.models import Team


def reaches_team(model, seen=()) -> bool:
    """Whether a chain of foreign keys leads from ``model`` to Team (written apart from the
    plan's own walk, so that the two can disagree)."""
    for field in model._meta.concrete_fields:
        if not field.is_relation:
            continue
        target = field.related_model
        if target is Team or (target not in seen and reaches_team(target, (*seen, model))):
            return True
    return False


def test_every_model_with_a_path_to_a_team_is_carried_or_excluded_with_a_reason():
    reachable = {
        m._meta.label_lower
        for m in apps.get_models()
        if m is not Team and not m._meta.proxy and reaches_team(m)
    }
    carried = {m.label for m in plan.build()}
    assert reachable - set(plan.EXCLUDED) == carried
    assert all(reason.strip() for reason in plan.EXCLUDED.values())
    # The models the issue names, wherever the architecture puts them.
    for label in ("jobs.job", "curation.auditentry", "curation.labelset", "teams.membership",
                  "labeling.instance", "labeling.pacsconnection", "training.prediction",
                  "results.heatmap"):  # fmt: skip
        assert label in carried


def test_rows_come_after_the_rows_they_refer_to():
    order = [m.label for m in plan.build()]
    for model in plan.build():
        for link in model.links:
            if link.target not in (plan.TEAM, plan.USER, plan.SELF):
                assert order.index(link.target) < order.index(model.label), (model, link)


def test_every_json_column_says_which_ids_it_holds():
    columns = {
        (m.label, f.name) for m in plan.build() for f in m.fields if isinstance(f, models.JSONField)
    }
    listed = {(label, name) for label, fields in refs.JSON_FIELDS.items() for name in fields}
    assert columns == listed, (
        f"list in lab/backup/refs.py: {sorted(columns - listed)}; stale: {sorted(listed - columns)}"
    )


def test_every_job_kind_says_which_ids_its_config_and_metrics_hold():
    assert set(KINDS) <= set(refs.JOB_KIND_IDS), sorted(set(KINDS) - set(refs.JOB_KIND_IDS))
    carried = {m.label for m in plan.build()}
    for keys in refs.JOB_KIND_IDS.values():
        assert set(keys.values()) <= carried


@isolate_apps("lab")
def test_a_new_model_below_a_team_model_is_carried_through_its_parent(monkeypatch):
    class Annotation(models.Model):
        study = models.ForeignKey(Study, on_delete=models.CASCADE)
        text = models.TextField()

        class Meta:
            app_label = "lab"

        def __str__(self) -> str:
            return self.text

    registered = apps.get_models()
    monkeypatch.setattr(plan.apps, "get_models", lambda: [*registered, Annotation])
    built = {m.label: m for m in plan.build()}
    assert built["lab.annotation"].team_path == "study__team"
    assert [(link.attname, link.target) for link in built["lab.annotation"].links] == [
        ("study_id", "labeling.study")
    ]


@isolate_apps("lab")
def test_a_team_model_linked_to_something_the_backup_cannot_carry_stops_the_plan(monkeypatch):
    class Lease(models.Model):
        team = models.ForeignKey(Team, on_delete=models.CASCADE)
        worker = models.ForeignKey(WorkerPresence, on_delete=models.CASCADE)

        class Meta:
            app_label = "lab"

        def __str__(self) -> str:
            return f"lease {self.pk}"

    registered = apps.get_models()
    monkeypatch.setattr(plan.apps, "get_models", lambda: [*registered, Lease])
    with pytest.raises(plan.PlanError, match="lab.lease.worker points at jobs.WorkerPresence"):
        plan.build()
