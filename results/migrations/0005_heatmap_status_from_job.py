"""A map's status, error and times are its job's (0004 gave every map one): the row's own
columns go, and every map has a job."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_moved_from_training'),
        ('results', '0004_heatmap_jobs_from_status'),
    ]

    operations = [
        migrations.AlterField(
            model_name='heatmap',
            name='job',
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='heatmap', to='jobs.job'),
        ),
        migrations.RemoveField(
            model_name='heatmap',
            name='error',
        ),
        migrations.RemoveField(
            model_name='heatmap',
            name='finished_at',
        ),
        migrations.RemoveField(
            model_name='heatmap',
            name='requested_at',
        ),
        migrations.RemoveField(
            model_name='heatmap',
            name='status',
        ),
    ]
