"""The engine runs on a bare GPU box: importing it must not pull in Django."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["training.engine", "training.engine.config", "training.engine.data",
           "training.engine.transforms", "training.engine.modeling", "training.engine.loop",
           "training.engine.checkpoints", "training.engine.distributed", "training.engine.metrics",
           "training.engine.tasks", "training.engine.runner", "training.engine.__main__"]  # fmt: skip


def test_importing_every_engine_module_leaves_django_out_of_sys_modules():
    # a fresh interpreter: pytest-django has already imported Django into this one
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in MODULES)
    code += (
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'lab', 'labeling'))\n"
    )
    code += "assert not bad, bad\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
