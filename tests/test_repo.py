"""The repository's own contracts: CI workflow, one version, the README's commands exist."""

import pathlib
import re

import pytest
import yaml

import lucid

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; 3.10 skips these checks

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def make_targets():
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def test_workflow_parses_and_covers_the_platforms_users_run():
    flow = yaml.safe_load(WORKFLOW.read_text())
    test = flow["jobs"]["test"]
    matrix = test["strategy"]["matrix"]
    assert {"macos-14", "macos-15"} <= set(matrix["os"]) and any(
        "ubuntu" in o for o in matrix["os"]
    )
    assert matrix["python"] == ["3.10", "3.11", "3.12", "3.13"]
    runs = [step.get("run", "") for job in flow["jobs"].values() for step in job["steps"]]
    assert any(r.startswith("make test") for r in runs) and "make lint" in runs


def test_workflow_commands_exist_and_it_uses_no_secrets():
    text = WORKFLOW.read_text()
    assert "secrets." not in text and "${{ secrets" not in text
    flow = yaml.safe_load(text)
    targets = make_targets()
    for job in flow["jobs"].values():
        for step in job["steps"]:
            if "run" in step and step["run"].startswith("make "):
                assert step["run"].split()[1] in targets
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme and "make lint" in readme


def test_version_lives_once():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "lucid.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", lucid.__version__)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {lucid.__version__}" in changelog


def test_license_is_an_spdx_string():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"
