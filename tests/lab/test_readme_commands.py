"""Every ``manage.py`` command the README shows exists, and each line of its Commands section
parses as written: without its optional parts, and with all of them."""

import re
import shlex
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# Placeholders inside the optional parts, as a reader would fill them in.
EXAMPLES = {"N": "2", "key=value": "epochs=1", "...": ""}


def commands_section() -> list[str]:
    section = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines()]
    return [line.removeprefix("manage.py ") for line in lines if line.startswith("manage.py ")]


def variants(line: str) -> dict[str, list[str]]:
    bare = re.sub(r"\s*\[[^\]]*\]", "", line)
    full = re.sub(r"\[([^\]]*)\]", r"\1", line)
    words = [EXAMPLES.get(word, word) for word in shlex.split(full)]
    return {"bare": shlex.split(bare), "full": [word for word in words if word]}


def parse(argv: list[str]) -> None:
    name = argv[0]
    command = load_command_class(get_commands()[name], name)
    command.create_parser("manage.py", name).parse_args(argv[1:])


def test_the_commands_section_lists_the_commands_it_should():
    names = {shlex.split(line)[0] for line in commands_section()}
    assert {"teams", "demo", "ingest", "cluster", "train", "evaluate", "drf_create_token",
            "backup", "restore"} <= names  # fmt: skip


@pytest.mark.parametrize("line", commands_section())
def test_each_line_of_the_commands_section_parses(line):
    for form, argv in variants(line).items():
        try:
            parse(argv)
        except (CommandError, SystemExit) as exc:
            pytest.fail(f"README `manage.py {line}` ({form}: {argv}) does not parse: {exc}")


def test_every_manage_py_command_the_readme_names_exists():
    named = set(re.findall(r"manage\.py ([a-z_]+)", README))
    assert {"changepassword", "createsuperuser", "axes_reset_username"} <= named
    assert named <= set(get_commands()), sorted(named - set(get_commands()))


def test_the_readme_says_how_to_run_them_in_a_new_shell():
    section = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    assert ".venv/bin/python manage.py" in section
    assert "make-run.env" in section
