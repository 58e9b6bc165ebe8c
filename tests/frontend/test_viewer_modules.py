"""The viewer's pure modules (presets, tag panel rows, key map) under Node's built-in test runner."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_viewer_modules_pass_their_node_tests():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the frontend needs Node.js 20 or newer")
    if not (REPO / "node_modules" / "dcmjs").exists():
        pytest.fail("node_modules is missing: run `npm ci` (make install does)")
    result = subprocess.run(
        [node, "--test", "frontend/tests/"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
