"""Teams moved out of lab and jobs out of training: a database made before the move migrates
forward with every row in place, foreign keys included."""

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The newest migration of each app before the teams and jobs layers existed.
BEFORE = [
    ("lab", "0002_remap_uids"),
    ("labeling", "0005_pacs_proxy"),
    ("curation", "0003_imagereview_evidence"),
    ("training", "0004_model_registry"),
    ("results", "0001_initial"),
    ("teams", None),
    ("jobs", None),
]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rows_of_every_moved_table_survive_the_move():
    old = migrate(BEFORE).loader.project_state([node for node in BEFORE if node[1]]).apps
    team = old.get_model("lab", "Team").objects.create(name="Radiology A", slug="radiology-a")
    user = old.get_model("auth", "User").objects.create(username="ana")
    old.get_model("lab", "Membership").objects.create(team=team, user=user, role="curator")
    job = old.get_model("training", "Job").objects.create(
        team=team, owner=user, kind="cluster", config={"k": 3}, status="succeeded"
    )
    old.get_model("training", "WorkerPresence").objects.create(
        name="gpu-1", queues=["gpu"], device="cuda", last_seen="2026-12-01T00:00:00Z"
    )
    old.get_model("curation", "ClusterRun").objects.create(team=team, k=3, job=job)
    old.get_model("training", "CurrentModel").objects.create(team=team, task="t", job=job)

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    team = apps.get_model("teams", "Team").objects.get(slug="radiology-a")
    membership = apps.get_model("teams", "Membership").objects.get()
    assert (membership.team, membership.user.username, membership.role) == (team, "ana", "curator")
    job = apps.get_model("jobs", "Job").objects.get()
    assert (job.team, job.owner.username, job.kind, job.config) == (
        team,
        "ana",
        "cluster",
        {"k": 3},
    )
    assert apps.get_model("jobs", "WorkerPresence").objects.get().name == "gpu-1"
    assert apps.get_model("curation", "ClusterRun").objects.get().job == job
    assert apps.get_model("training", "CurrentModel").objects.get().job == job
    moved = apps.get_model("contenttypes", "ContentType").objects.filter(
        app_label__in=["lab", "training"], model__in=["team", "membership", "job"]
    )
    assert not moved.exists()  # permissions and admin history follow the models
