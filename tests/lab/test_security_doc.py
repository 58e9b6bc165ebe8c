"""SECURITY.md names the test that checks each promise: every name it gives must exist."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECURITY = (REPO / "SECURITY.md").read_text(encoding="utf-8")
CITED = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", SECURITY)


def test_security_md_cites_tests():
    assert len(CITED) >= 15


def test_every_test_security_md_cites_exists():
    missing = []
    for path, name in CITED:
        source = REPO / path
        if not source.is_file():
            missing.append(path)
        elif name and not re.search(rf"^def {name}\(", source.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_limit_security_md_names_is_a_setting_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    settings = set(re.findall(r"\| `(CXR_\w+)` \|", SECURITY))
    assert settings and {name for name in settings if f"`{name}`" not in readme} == set()
