"""Job and WorkerPresence move from the training app to jobs: the tables (training_job,
training_workerpresence) and their rows stay where they are; only Django's state and the content
types change app."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _move_content_types(apps, schema_editor, source="training", target="jobs"):
    """Admin log entries and permissions keep pointing at the moved models."""
    content_types = apps.get_model("contenttypes", "ContentType")
    content_types.objects.filter(app_label=source, model__in=['job', 'workerpresence']).update(app_label=target)


def _move_content_types_back(apps, schema_editor):
    _move_content_types(apps, schema_editor, source="jobs", target="training")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('teams', '0001_moved_from_lab'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
        ('training', '0004_model_registry'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
        migrations.CreateModel(
            name='WorkerPresence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200, unique=True)),
                ('queues', models.JSONField(default=list)),
                ('device', models.CharField(blank=True, max_length=100)),
                ('last_seen', models.DateTimeField()),
            ],
            options={
                'db_table': 'training_workerpresence',
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='Job',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=20, verbose_name='kind')),
                ('name', models.CharField(blank=True, max_length=120, verbose_name='name')),
                ('tags', models.JSONField(blank=True, default=list, verbose_name='tags')),
                ('config', models.JSONField(default=dict, verbose_name='configuration')),
                ('queue', models.CharField(default='default', max_length=20)),
                ('status', models.CharField(choices=[('queued', 'queued'), ('running', 'running'), ('succeeded', 'succeeded'), ('failed', 'failed'), ('cancelled', 'cancelled')], default='queued', max_length=12, verbose_name='status')),
                ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='attempts')),
                ('max_attempts', models.PositiveSmallIntegerField(default=3)),
                ('cancel_requested', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('worker', models.CharField(blank=True, max_length=200, verbose_name='worker')),
                ('device', models.CharField(blank=True, max_length=100, verbose_name='device')),
                ('progress', models.JSONField(default=dict)),
                ('history', models.JSONField(default=list)),
                ('metrics', models.JSONField(default=dict)),
                ('log', models.TextField(blank=True)),
                ('error', models.TextField(blank=True, verbose_name='error')),
                ('traceback', models.TextField(blank=True)),
                ('output_dir', models.CharField(blank=True, max_length=255)),
                ('owner', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='jobs', to=settings.AUTH_USER_MODEL)),
                ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='teams.team')),
            ],
            options={
                'verbose_name': 'job',
                'verbose_name_plural': 'jobs',
                'db_table': 'training_job',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['team', 'status'], name='training_jo_team_id_a8f917_idx'), models.Index(fields=['status', 'heartbeat_at'], name='training_jo_status_0e0373_idx')],
            },
        ),
        ],
        ),
        migrations.RunPython(_move_content_types, _move_content_types_back),
    ]
