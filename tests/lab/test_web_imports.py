"""The web process stays light: serving pages and validating job configs never imports torch
(a GPU worker's business), which would cost every web worker about 900 MB, nor scikit-learn
(clustering's, in the worker), which costs every command and web worker its start-up time."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, django
django.setup()
from django.urls import reverse
import lab.urls, training.forms, training.serializers, labeling.views
from training.configs import engine_errors
assert engine_errors({"arch": "vgg16", "epochs": 2}) == {}
assert "arch" in engine_errors({"arch": "alexnet"})
loaded = sorted(name for name in ("torch", "torchvision", "sklearn") if name in sys.modules)
print(",".join(loaded) or "none")
"""


def test_urls_views_and_config_validation_do_not_import_torch_or_sklearn(tmp_path):
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "lab.settings"}
    env["CXR_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"
