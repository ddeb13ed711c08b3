"""A generated project's own setup gives it `handover`, its pre-commit hooks and its CI.

The path a client takes, with the package index replaced by a folder: the wheel is built from
this checkout (no index may hold this version yet) and found through `UV_FIND_LINKS`, exactly
as uv finds a package on PyPI. Then only what the generated README says: its uv setup, then
`handover audit`, `handover card`, `handover decision new`, `pre-commit run --all-files`; and
every job of the generated GitHub workflow, its shell steps run locally in order in a fresh
clone, from the runner's bare Python.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from github_steps import action, run_job
from test_ci_files import readme_setup
from test_locks import pins

from conftest import BIN, handover_new, run
from mlops_handover import __version__

pytestmark = pytest.mark.slow


def setup_env(wheelhouse: Path) -> dict[str, str]:
    """The client's shell: uv on PATH, and the index (here a folder) that serves the package."""
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), os.environ["PATH"]]),
        "UV_FIND_LINKS": str(wheelhouse),
        "PIP_FIND_LINKS": str(wheelhouse),
    }


def activated(project: Path, env: dict[str, str]) -> dict[str, str]:
    """`source .venv/bin/activate`: the project's environment first on PATH, and nothing else."""
    venv = project / ".venv"
    path = [p for p in env["PATH"].split(os.pathsep) if Path(p) != BIN]
    return {**env, "VIRTUAL_ENV": str(venv), "PATH": os.pathsep.join([str(venv / "bin"), *path])}


@pytest.fixture(scope="module")
def generated(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`handover new demo-model --defaults`: generated, pipeline run, champion registered."""
    from conftest import isolated

    with isolated(tmp_path_factory):
        dest = tmp_path_factory.mktemp("client") / "demo-model"
        handover_new(template_repo, dest)
        return dest


def test_readme_setup_gives_handover_and_the_hooks(
    generated: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    project = tmp_path / "demo-model"
    shutil.copytree(generated, project, symlinks=True)
    env = setup_env(wheelhouse)
    for command in readme_setup(project):
        run("bash", "-c", command, cwd=project, env=env)
    env = activated(project, env)
    assert (project / ".venv/bin/handover").is_file(), "the setup installs handover"

    version = run("handover", "--version", cwd=project, env=env).stdout
    assert __version__ in version
    audit = run("handover", "audit", cwd=project, env=env, check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "Handover readiness of .: L" in audit.stdout
    before = (project / "docs/model-card.md").read_text(encoding="utf-8")
    run("handover", "card", cwd=project, env=env)
    assert (project / "docs/model-card.md").read_text(encoding="utf-8") != before
    run("handover", "decision", "new", "Lock the environment", cwd=project, env=env)
    assert list((project / "docs/decisions").glob("0005-lock-the-environment.md"))
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-qm", "Fill the card; record a decision", cwd=project)

    hooks = run(
        "pre-commit",
        "run",
        "--all-files",
        cwd=project,
        env={**env, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")},
        check=False,
    )
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    assert re.search(r"handover audit.*Passed", hooks.stdout), hooks.stdout


def test_runbook_pip_fallback_gives_the_same_environment(
    generated: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    """The runbook's setup without uv: pip installs the same lock, `handover` included."""
    project = tmp_path / "demo-model"
    shutil.copytree(generated, project, symlinks=True)
    runbook = (project / "docs/runbook.md").read_text(encoding="utf-8")
    # A `sh` block: the runbook's tests and the drill run only its `bash` blocks.
    block = runbook.split("Without uv, pip", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    env = setup_env(wheelhouse)
    for command in block.strip().splitlines():
        run("bash", "-c", command, cwd=project, env=env, timeout=1200)
    env = activated(project, env)
    assert __version__ in run("handover", "--version", cwd=project, env=env).stdout
    frozen = run(
        project / ".venv/bin/pip", "freeze", "--all", "--exclude-editable", cwd=project, env=env
    )
    installed = pins(frozen.stdout, "3.11")
    locked = pins((project / "requirements.lock").read_text(encoding="utf-8"), "3.11")
    assert {name: installed.get(name) for name in locked} == locked, "pip installs the lock"


def test_every_ci_job_passes_run_locally(generated: Path, wheelhouse: Path, tmp_path: Path) -> None:
    """lint, audit, test, pipeline: each in a fresh clone, from the runner's Python."""
    runner = tmp_path / "runner-python"  # what actions/setup-python gives: a Python with pip
    run(BIN / "uv", "venv", "--seed", "-q", "--python", "3.11", runner, cwd=tmp_path)
    env = setup_env(wheelhouse)
    path = [p for p in env["PATH"].split(os.pathsep) if Path(p) != BIN]
    env["PATH"] = os.pathsep.join([str(runner / "bin"), *path])
    workflow = yaml.safe_load((generated / ".github/workflows/ci.yml").read_text())
    assert set(workflow["jobs"]) == {"lint", "audit", "test", "pipeline"}

    def uses(step: Mapping[str, Any]) -> None:
        # The fresh clone is the checkout; the runner's Python on PATH is setup-python's.
        assert action(step) in ("actions/checkout", "actions/setup-python"), step

    for job in workflow["jobs"]:
        checkout = tmp_path / job / "repo"
        run("git", "clone", "-q", generated, checkout, cwd=tmp_path)
        result = run_job(workflow, job, cwd=checkout, work=tmp_path / job, env=env, uses=uses)
        assert result.ok, result.report()
        assert "Install the locked environment" in result.ran(), result.report()
