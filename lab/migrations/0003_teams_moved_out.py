"""Team and Membership move from the lab app to teams: the tables (lab_team, lab_membership)
and their rows stay where they are; only Django's state and the content types change app."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('curation', '0004_teams_and_jobs_layers'),
        ('lab', '0002_remap_uids'),
        ('labeling', '0006_teams_layer'),
        ('results', '0002_teams_and_jobs_layers'),
        ('training', '0005_jobs_moved_out'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
        migrations.RemoveField(
            model_name='membership',
            name='team',
        ),
        migrations.RemoveField(
            model_name='membership',
            name='user',
        ),
        migrations.DeleteModel(
            name='Team',
        ),
        migrations.DeleteModel(
            name='Membership',
        ),
        ],
        ),
    ]
