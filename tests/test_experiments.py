"""Experiments are safe: a run off the main line registers and gates a version but never moves
`champion`, and the README's "try a variant" leaves the workspace as it was.

Off the main line: a DVC experiment (`dvc exp run`, with or without --temp), uncommitted changes
to tracked files, a branch other than the default. Real git, DVC and MLflow throughout.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import handover_new, project_env, run, tool

#: The README's "Try a variant" command, a line of its bash block.
VARIANT = re.compile(r"^(dvc exp run --temp -S train\.\w+=[\d.]+)$", re.M)


def client(project: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def aliases(project: Path) -> dict[str, int]:
    model = client(project).get_registered_model("demo-model")
    return {alias: int(version) for alias, version in model.aliases.items()}


def git_status(project: Path) -> str:
    return run("git", "status", "--porcelain", cwd=project, env=project_env(project)).stdout


@pytest.mark.parametrize(
    ("task", "variant"), [("classification", "train.C=0.5"), ("regression", "train.alpha=0.5")]
)
def test_docs_try_variants_in_a_temporary_copy(render, task: str, variant: str) -> None:
    project = render(
        {"ml_task": task, "primary_metric": "f1" if task == "classification" else "mae"}
    )
    command = f"dvc exp run --temp -S {variant}"
    readme = (project / "README.md").read_text()
    assert VARIANT.findall(readme) == [command]
    assert command in (project / "params.yaml").read_text()
    # As DVC writes it back when `dvc exp run -S` edits the file: no diff on that line.
    assert "  tracking_uri: ''\n" in (project / "params.yaml").read_text()
    assert yaml.safe_load((project / "params.yaml").read_text())["mlflow"]["tracking_uri"] == ""


@pytest.mark.slow
def test_variant_experiment_registers_a_gated_version_and_leaves_everything_else(
    template_repo: Path, tmp_path: Path
) -> None:
    project = tmp_path / "demo-model"
    handover_new(template_repo, project)
    env = project_env(project)
    assert aliases(project) == {"champion": 1}
    params_before = (project / "params.yaml").read_bytes()
    (command,) = VARIANT.findall((project / "README.md").read_text())
    assert git_status(project) == ""

    result = run("bash", "-c", command, cwd=project, env=env)
    output = result.stdout + result.stderr
    assert "evaluate: ACCEPTED demo-model version 2" in output
    assert "not promoted: DVC experiment" in output
    assert "to promote: python -m demo_model.registry promote 2" in output
    # The workspace is as it was, and the run landed in the repository's store.
    assert git_status(project) == ""
    assert (project / "params.yaml").read_bytes() == params_before
    assert not list((project / ".dvc").rglob("mlflow.db"))
    version = client(project).get_model_version("demo-model", "2")
    assert version.tags["acceptance"] == "passed"
    experiment = version.tags["dvc.exp_name"]
    assert client(project).get_run(version.run_id).data.tags["dvc.exp_name"] == experiment
    assert aliases(project) == {"champion": 1}
    assert experiment in run(tool("dvc"), "exp", "show", "--no-pager", cwd=project, env=env).stdout

    # In the workspace (no --temp) an experiment does not promote either, and DVC's rewrite of
    # params.yaml changes only the parameter it sets.
    run(tool("dvc"), "exp", "run", "-S", "train.C=0.25", cwd=project, env=env)
    assert aliases(project) == {"champion": 1}
    diff = run("git", "diff", "-U0", "params.yaml", cwd=project, env=env).stdout
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed == ["-  C: 1.0", "+  C: 0.25"], diff
    # The README's comparison of the variant with the champion.
    compare = [sys.executable, "-m", "demo_model.registry", "compare", "champion", "2"]
    lines = run(*compare, cwd=project, env=env).stdout.splitlines()
    assert "champion (version 1)" in lines[1] and "version 2" in lines[1]
    marked = {row.split()[0] for row in lines[2:] if row.split()[1:2] == ["*"]}
    assert {"run_id", "train.C"} <= marked, lines
