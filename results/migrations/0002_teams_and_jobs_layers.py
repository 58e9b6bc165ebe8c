"""Foreign keys now name teams.Team and jobs.Job: the same tables as before, so only Django's
state changes, never the database."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_moved_from_training'),
        ('results', '0001_initial'),
        ('teams', '0001_moved_from_lab'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
        migrations.AlterField(
            model_name='heatmap',
            name='run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='heatmaps', to='jobs.job'),
        ),
        migrations.AlterField(
            model_name='heatmap',
            name='team',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='teams.team'),
        ),
        ],
        ),
    ]
