"""Clusters show their outliers; clustering gains a distance option; the auto-label threshold
becomes a normalised distance.

Runs stored before this migration compared clauses by plain edits, so they are marked
``distance="paper"``; new runs default to the normalised distance. Their members have no
measured distance (None) and no outlier flags, so their clusters keep purity 1.0 until the
team clusters again. Every team gets the clustering's default synonym table.

``CurationSettings.auto_label_distance`` was a whole number of edits; it becomes a share of the
clause's length in [0, 1] (``labeling.distance``'s normalised distance is edits divided by the
longer text's length). A stored ``e`` edits becomes ``e / m``, capped at 1, rounded to two
decimals, where ``m`` is the median length of the team's curated medoids (the normalised medoid
texts of its clusters: what the threshold was measured against), or 8 characters for a team
without clusters (the demo's clauses are 4 to 12 characters long). So the default 2 edits
becomes 2 / 8 = 0.25: a clause of median length that was within 2 edits of a medoid is within
the share. The conversion is ``labeling.distance.edits_to_share``, written out here so that the
migration does not change when that module does. Going back multiplies by the same median and
rounds to whole edits.
"""

import curation.models
import django.core.validators
from django.db import migrations, models


FALLBACK_MEDIAN = 8


def _median_length(apps, team_id) -> int:
    ProposedCluster = apps.get_model("curation", "ProposedCluster")
    lengths = sorted(
        len(text)
        for text in ProposedCluster.objects.filter(team_id=team_id).values_list(
            "medoid_normalized", flat=True
        )
        if text
    )
    return max(lengths[len(lengths) // 2], 1) if lengths else FALLBACK_MEDIAN


# Both directions read and write only the columns they need, so that a field a later migration
# adds to CurationSettings never enters these queries.


def _thresholds(apps):
    CurationSettings = apps.get_model("curation", "CurationSettings")
    rows = CurationSettings.objects.values_list("pk", "team_id", "auto_label_distance")
    return CurationSettings, list(rows)


def edits_to_share(apps, schema_editor) -> None:
    CurationSettings, rows = _thresholds(apps)
    for pk, team_id, edits in rows:
        share = round(min(1.0, edits / _median_length(apps, team_id)), 2)
        CurationSettings.objects.filter(pk=pk).update(auto_label_distance=share)


def share_to_edits(apps, schema_editor) -> None:
    CurationSettings, rows = _thresholds(apps)
    for pk, team_id, share in rows:
        edits = round(share * _median_length(apps, team_id))
        CurationSettings.objects.filter(pk=pk).update(auto_label_distance=edits)


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0006_run_status_is_its_jobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="clustermember",
            name="distance",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="clustermember",
            name="outlier",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="clusterrun",
            name="distance",
            field=models.CharField(default="paper", max_length=20, verbose_name="distance"),
        ),
        migrations.AlterField(
            model_name="clusterrun",
            name="distance",
            field=models.CharField(default="normalized", max_length=20, verbose_name="distance"),
        ),
        migrations.AddField(
            model_name="clusterrun",
            name="outlier_threshold",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="clusterrun",
            name="synonyms",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="curationsettings",
            name="synonyms",
            field=models.JSONField(
                blank=True, default=curation.models.default_synonyms, verbose_name="synonyms"
            ),
        ),
        migrations.AddField(
            model_name="proposedcluster",
            name="outlier_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="proposedcluster",
            name="outlier_unique",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="proposedcluster",
            name="purity",
            field=models.FloatField(default=1.0),
        ),
        migrations.AlterField(
            model_name="clusterrun",
            name="loss",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="curationsettings",
            name="auto_label_distance",
            field=models.FloatField(
                default=0.25,
                help_text="New clauses within this normalised distance of a curated medoid (a share of the clause's length, 0 to 1) take its decision.",
                validators=[
                    django.core.validators.MinValueValidator(0.0),
                    django.core.validators.MaxValueValidator(1.0),
                ],
                verbose_name="auto-label distance",
            ),
        ),
        migrations.RunPython(edits_to_share, share_to_edits),
    ]
