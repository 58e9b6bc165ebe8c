"""Job and WorkerPresence move from the training app to jobs: the tables (training_job,
training_workerpresence) and their rows stay where they are; only Django's state and the content
types change app."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('curation', '0004_teams_and_jobs_layers'),
        ('jobs', '0001_moved_from_training'),
        ('results', '0002_teams_and_jobs_layers'),
        ('teams', '0001_moved_from_lab'),
        ('training', '0004_model_registry'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
        migrations.RemoveField(
            model_name='job',
            name='owner',
        ),
        migrations.RemoveField(
            model_name='job',
            name='team',
        ),
        migrations.AlterField(
            model_name='prediction',
            name='job',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='predictions', to='jobs.job'),
        ),
        migrations.AlterField(
            model_name='currentmodel',
            name='job',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='current_for', to='jobs.job'),
        ),
        migrations.DeleteModel(
            name='WorkerPresence',
        ),
        migrations.AlterField(
            model_name='currentmodel',
            name='team',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='teams.team'),
        ),
        migrations.AlterField(
            model_name='prediction',
            name='team',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='teams.team'),
        ),
        migrations.DeleteModel(
            name='Job',
        ),
        ],
        ),
    ]
