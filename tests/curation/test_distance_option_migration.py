"""Migration 0007: a stored auto-label threshold in whole edits becomes a share of the median
length of the team's curated medoids (8 characters for a team without clusters), and runs made
before it are marked as compared with the paper's distance."""

import pytest
from django.apps import apps

from .test_run_job_migration import latest, migrate

BEFORE = [("curation", "0006_run_status_is_its_jobs")]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_stored_edit_thresholds_become_shares_and_old_runs_are_the_papers():
    try:
        old = migrate(BEFORE).loader.project_state(BEFORE).apps
        Team = old.get_model("teams", "Team")
        Settings = old.get_model("curation", "CurationSettings")
        bare = Team.objects.create(name="No clusters", slug="bare")
        curated = Team.objects.create(name="Curated", slug="curated")
        Settings.objects.create(team=bare, auto_label_distance=2)
        Settings.objects.create(team=curated, auto_label_distance=2)
        job = old.get_model("jobs", "Job").objects.create(team=curated, kind="cluster", config={})
        run = old.get_model("curation", "ClusterRun").objects.create(team=curated, k=3, job=job)
        for medoid in ("主动脉硬化", "心影增大", "胸腔积液"):  # lengths 5, 4, 4: median 4
            old.get_model("curation", "ProposedCluster").objects.create(
                team=curated, run=run, polarity="affirmed", medoid_text=medoid,
                medoid_normalized=medoid, name=medoid,
            )  # fmt: skip

        migrate(latest())
    finally:
        migrate(latest())  # leave the schema as every other test expects it

    CurationSettings = apps.get_model("curation", "CurationSettings")
    assert CurationSettings.objects.get(team_id=bare.pk).auto_label_distance == 0.25  # 2 / 8
    assert CurationSettings.objects.get(team_id=curated.pk).auto_label_distance == 0.5  # 2 / 4
    table = CurationSettings.objects.get(team_id=bare.pk).synonyms
    assert any(group[0] == "心影增大" and "心影增宽" in group for group in table)
    ClusterRun = apps.get_model("curation", "ClusterRun")
    assert ClusterRun.objects.get(pk=run.pk).distance == "paper"
