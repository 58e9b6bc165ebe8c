"""The layers hold (README, "Architecture"): dependencies point down, and the checks that keep it
so would notice a change that broke it."""

import ast
import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
APPS = ["lab", "teams", "jobs", "labeling", "curation", "training", "results"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env={"PYTHONPATH": str(tree)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def copy_of_the_apps(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "static", "*.conf.py")
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.slow
def test_an_upward_import_inside_a_function_breaks_the_layers_contract(tmp_path):
    tree = copy_of_the_apps(tmp_path)
    clean = lint_imports(tree)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    views = tree / "labeling" / "views.py"
    views.write_text(
        views.read_text() + "\n\ndef _peek():\n    from results import queries\n\n"
        "    return queries\n"
    )
    broken = lint_imports(tree)
    assert broken.returncode != 0
    assert "labeling.views -> results.queries" in broken.stdout


@pytest.mark.slow
def test_the_engine_may_not_import_django(tmp_path):
    tree = copy_of_the_apps(tmp_path)
    metrics = tree / "training" / "engine" / "metrics.py"
    metrics.write_text(metrics.read_text() + "\nfrom django.conf import settings  # noqa\n")
    broken = lint_imports(tree)
    assert broken.returncode != 0
    assert "training.engine.metrics -> django (l." in broken.stdout


def test_the_configuration_ignores_no_import():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config["root_packages"] == ["lab", "results", "training", "curation", "labeling",
                                       "jobs", "teams"]  # fmt: skip
    for contract in config["contracts"]:
        assert "ignore_imports" not in contract, contract["name"]
        assert not contract.get("allow_indirect_imports"), contract["name"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")
    assert layers["layers"] == config["root_packages"]


def test_the_engine_contract_names_every_other_training_module():
    """A new module in training/ must be forbidden to the engine too (the contract lists them,
    since import-linter cannot say "training except training.engine")."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    engine = next(c for c in config["contracts"] if c["id"] == "engine")
    modules = {
        f"training.{path.stem}"
        for path in (ROOT / "training").iterdir()
        if path.name != "engine" and not path.name.startswith("__")
        and (path.suffix == ".py" or (path / "__init__.py").exists())
    }  # fmt: skip
    assert modules <= set(engine["forbidden_modules"])


# What import-linter cannot see: a model named in a string, a module imported by name.
HIDDEN = re.compile(
    r"get_model\(|import_module\(|__import__\(|"
    r"[\"'](?:lab|teams|jobs|labeling|curation|training|results)\.[A-Z]\w*[\"']"
)


def test_no_upward_reference_hides_from_the_linter():
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # historical models name their relations in strings
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if HIDDEN.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_the_hidden_reference_check_sees_what_it_looks_for():
    assert HIDDEN.search('job = models.ForeignKey("training.Job", on_delete=models.CASCADE)')
    assert HIDDEN.search('apps.get_model("curation", "LabelSet")')
    assert HIDDEN.search('importlib.import_module("results.queries")')
    assert not HIDDEN.search('"JobStatusEnum": "jobs.models.JobStatus",')


def test_every_app_is_installed_and_packaged():
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = include["packages"]["find"]["include"]
    assert sorted(patterns) == sorted(f"{app}*" for app in APPS)
    assert set(APPS) <= set(settings.INSTALLED_APPS)


def _project_imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, names) of every import of a project package, inside functions too."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in APPS:
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] in APPS]
    return found


@pytest.mark.parametrize("script", sorted((ROOT / "bench").glob("*.py")), ids=lambda p: p.name)
def test_bench_scripts_import_and_name_modules_that_exist(script, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    # As ``python bench/x.py`` would have it: a dataclass looks its module up in sys.modules.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert callable(getattr(module, "main", None)), "a bench script has a main()"
    for name, names in _project_imports(ast.parse(script.read_text())):
        imported = importlib.import_module(name)
        for attribute in names:
            assert hasattr(imported, attribute) or importlib.util.find_spec(
                f"{name}.{attribute}"
            ), f"{script.name}: from {name} import {attribute}"


def _app_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_module_is_over_800_lines():
    long = {str(p.relative_to(ROOT)): n for p in _app_modules()
            if (n := len(p.read_text().splitlines())) > 800}  # fmt: skip
    assert long == {}


def test_every_services_module_says_what_its_one_concern_is():
    services = [p for p in _app_modules() if p.name == "services.py" or p.parent.name == "services"]
    assert len(services) > 10  # the apps' services.py and curation's services package
    for path in services:
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        assert docstring and len(docstring.split()) >= 5, path.relative_to(ROOT)
