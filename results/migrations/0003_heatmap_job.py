"""Every Grad-CAM map gets a ``gradcam`` job: its column, empty until 0004 fills it."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_moved_from_training'),
        ('results', '0002_teams_and_jobs_layers'),
    ]

    operations = [
        migrations.AddField(
            model_name='heatmap',
            name='job',
            field=models.OneToOneField(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='heatmap', to='jobs.job'),
        ),
    ]
