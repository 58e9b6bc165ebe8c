"""The README's configuration table names every environment variable the settings read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_read_from_the_environment_is_in_the_readme_table():
    settings_code = (ROOT / "lab/settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', settings_code))
    table = set(re.findall(r"^\| `([A-Z0-9_]+)`", (ROOT / "README.md").read_text(), re.M))
    table |= set(
        re.findall(r"^\| `[A-Z0-9_]+` / `([A-Z0-9_]+)`", (ROOT / "README.md").read_text(), re.M)
    )
    assert len(read) > 15
    assert read <= table, f"document in README.md: {sorted(read - table)}"


def test_the_readme_gives_the_two_commands_first():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
