"""Rules the repository keeps: the step table, the README, and what step files may import."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tools import readme, table

STEPS = table.load()
REQUIREMENTS = {
    re.split(r"[=<>~ ]", line, maxsplit=1)[0].lower()
    for line in (table.ROOT / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}


def step_files() -> list[Path]:
    return sorted(path for step in STEPS for path in step.folder(table.ROOT / "steps").glob("*.py"))


def test_readme_table_matches_the_steps_table() -> None:
    assert readme.updated(readme.README.read_text()) == readme.README.read_text(), (
        "README.md's step table is stale: run python3 -m tools.readme"
    )


def test_every_step_folder_is_in_the_table() -> None:
    folders = {path.name for path in (table.ROOT / "steps").iterdir() if path.is_dir()}
    folders.discard("__pycache__")
    assert folders == {step.dir for step in STEPS}


@pytest.mark.parametrize("path", step_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_step_file_imports_only_stdlib_requirements_and_its_own_folder(path: Path) -> None:
    own = {sibling.stem for sibling in path.parent.glob("*.py")}
    distributions = importlib.metadata.packages_distributions()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in own:
                continue
            owners = {dist.lower() for dist in distributions.get(top, [])}
            assert owners & REQUIREMENTS, f"{path}: imports {name}, not in requirements.txt"


@pytest.mark.parametrize("path", step_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_step_file_opens_with_a_docstring(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring, f"{path} has no docstring"
    if path.stem in ("receiver", "client") and (path.stem == "receiver" or "Step" in docstring):
        assert re.match(r"Step \d\d: ", docstring), f"{path}: docstring should start 'Step NN: '"
        assert "Run:" in docstring, f"{path}: docstring should say how to run it"


@pytest.mark.parametrize("runtime", ["set", "unset", "missing"])
def test_socket_path_rule_is_the_same_in_tools_and_steps(
    runtime: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tools.table.socket_path() and every step's dgram.path_for() agree.

    "missing": $XDG_RUNTIME_DIR names a folder that does not exist (no logind session),
    and both fall back to the per-user folder in the temporary directory.
    """
    chosen = {"set": str(tmp_path), "unset": "", "missing": str(tmp_path / "run" / "user" / "1")}
    monkeypatch.setenv("XDG_RUNTIME_DIR", chosen[runtime])
    expected = table.socket_path("load")
    if runtime == "missing":
        assert expected == os.path.join(tempfile.gettempdir(), f"incoming-{os.getuid()}", "load")
    for step in STEPS:
        result = subprocess.run(
            [sys.executable, "-c", "import dgram; print(dgram.path_for('load'))"],
            cwd=step.folder(table.ROOT / "steps"),
            capture_output=True,
            text=True,
        )
        assert result.stdout.strip() == expected, f"{step.dir}: {result.stderr}"


def test_dockerfile_keeps_binders_rules() -> None:
    """repo2docker's rules for a plain Dockerfile (mybinder.org user guide, "Preparing your
    Dockerfile"), and the dev container pointing at the same file."""
    text = (table.ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M)
    assert base and re.search(r":[\w.-]+$", base.group(1)), "FROM needs a pinned tag"
    assert not base.group(1).endswith(":latest")
    assert re.search(r"^ARG NB_UID=1000$", text, re.M) and re.search(r"^ARG NB_USER=", text, re.M)
    assert re.search(r"^COPY --chown=\$\{NB_UID\}\S* \. \$\{HOME\}$", text, re.M)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] == "${NB_USER}", "the image must end as the non-root user"
    assert re.search(r'^ENTRYPOINT \["/usr/bin/tini", "-g", "--"\]$', text, re.M)
    assert re.search(r'^CMD \["jupyter", "lab", "--ip=0.0.0.0", "--port=8888"', text, re.M)
    assert {"jupyterlab", "notebook"} <= REQUIREMENTS, "Binder starts `jupyter notebook`"
    config = (table.ROOT / ".devcontainer" / "devcontainer.json").read_text()
    settings = json.loads(re.sub(r"^[ \t]*//.*$|[ \t]//[^\"]*$", "", config, flags=re.M))
    dockerfile = table.ROOT / ".devcontainer" / settings["build"]["dockerfile"]
    assert dockerfile.resolve() == table.ROOT / "Dockerfile"
    assert (table.ROOT / ".devcontainer" / settings["build"]["context"]).resolve() == table.ROOT
