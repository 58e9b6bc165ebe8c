"""Team and Membership move from the lab app to teams: the tables (lab_team, lab_membership)
and their rows stay where they are; only Django's state and the content types change app."""

import django.db.models.deletion
import teams.models
from django.conf import settings
from django.db import migrations, models


def _move_content_types(apps, schema_editor, source="lab", target="teams"):
    """Admin log entries and permissions keep pointing at the moved models."""
    content_types = apps.get_model("contenttypes", "ContentType")
    content_types.objects.filter(app_label=source, model__in=['team', 'membership']).update(app_label=target)


def _move_content_types_back(apps, schema_editor):
    _move_content_types(apps, schema_editor, source="teams", target="lab")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
        ('lab', '0002_remap_uids'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
        migrations.CreateModel(
            name='Team',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True, verbose_name='name')),
                ('slug', models.SlugField(allow_unicode=True, max_length=100, unique=True, verbose_name='slug')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('deidentify', models.BooleanField(default=True, help_text='Apply the DICOM basic confidentiality profile to every imported file.', verbose_name='de-identify on import')),
                ('remap_uids', models.BooleanField(default=False, help_text='Replace study, series and instance UIDs by keyed hashes (consistent across imports); reports keyed by the original StudyInstanceUID still match.', verbose_name='remap UIDs on import')),
                ('pseudonym_secret', models.CharField(default=teams.models._new_team_secret, editable=False, max_length=64)),
            ],
            options={
                'verbose_name': 'team',
                'verbose_name_plural': 'teams',
                'db_table': 'lab_team',
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='Membership',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('role', models.CharField(choices=[('admin', 'admin'), ('curator', 'curator'), ('ml-engineer', 'ML engineer'), ('viewer', 'viewer')], default='viewer', max_length=20, verbose_name='role')),
                ('joined_at', models.DateTimeField(auto_now_add=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL)),
                ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='teams.team')),
            ],
            options={
                'verbose_name': 'membership',
                'verbose_name_plural': 'memberships',
                'db_table': 'lab_membership',
                'ordering': ['team__name'],
                'constraints': [models.UniqueConstraint(fields=('user', 'team'), name='one_membership_per_team')],
            },
        ),
        ],
        ),
        migrations.RunPython(_move_content_types, _move_content_types_back),
    ]
