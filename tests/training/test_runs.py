"""One RunFolder names a job's files for the pages and the workers alike."""

import ast
from pathlib import Path

from django.conf import settings

from jobs.models import Job
from training.runs import RunFolder, job_folder

ROOT = Path(__file__).resolve().parents[2]


def test_a_job_s_files_sit_in_its_team_s_runs_folder(personas):
    job = Job.objects.create(team=personas.team, kind="train")
    folder = RunFolder.of(job)
    assert folder.root == settings.RUNS_DIR / str(personas.team.pk) / f"job-{job.pk}"
    assert folder.root == job_folder(job)
    relative = {
        name: str(getattr(folder, name).relative_to(folder.root))
        for name in ("dataset", "dataset_meta", "engine_config", "run", "config", "best", "last",
                     "metrics", "predictions", "gradcam")
    }  # fmt: skip
    assert relative == {
        "dataset": "dataset", "dataset_meta": "dataset/meta.json",
        "engine_config": "engine-config.json", "run": "run", "config": "run/config.json",
        "best": "run/best.pt", "last": "run/last.pt", "metrics": "run/metrics.json",
        "predictions": "run/predictions.jsonl", "gradcam": "gradcam",
    }  # fmt: skip
    assert folder.gradcam_png(12, 1) == folder.root / "gradcam" / "12-1.png"


PAGES = ["training/views.py", "training/api.py", "training/forms.py", "training/serializers.py",
         "training/launch.py", "results/views.py", "results/pages.py", "results/queries.py",
         "results/studies.py", "results/exports.py", "results/artifacts.py"]  # fmt: skip


def test_pages_find_run_files_without_importing_the_worker_module():
    for page in PAGES:
        tree = ast.parse((ROOT / page).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module if node.level == 0 else f"{page.split('/')[0]}.{node.module}"
                assert module != "training.jobs", page
            elif isinstance(node, ast.Import):
                assert "training.jobs" not in [alias.name for alias in node.names], page
