"""`handover new` with its first pipeline run, through the installed command, then a fresh clone.

The repository it leaves must be complete: dvc.lock committed, a clean tree, a champion in the
registry, and a clone elsewhere on the machine that pulls the data and finds the pipeline up to
date.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import handover_new, project_env, run, tool

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("no_git_identity")
def test_new_runs_the_pipeline_and_a_fresh_clone_is_up_to_date(
    template_repo: Path, tmp_path: Path
) -> None:
    # No git identity: both commits (generation, first run) use the client owner's.
    dest = tmp_path / "churn-model"
    result = handover_new(template_repo, dest, "--json")
    payload = json.loads(result.stdout)
    assert payload["pipeline_ran"] is True
    assert payload["model"]["registered_model"] == "churn-model"
    assert payload["metrics"]["f1"] >= 0.9
    for step in ("Running the example pipeline", "Committing dvc.lock"):
        assert step in result.stderr

    log = run("git", "log", "--format=%s", cwd=dest).stdout.splitlines()
    assert log == [
        "Run the example pipeline (dvc repro)",
        "Generate the project from the mlops-handover template",
    ]
    authors = run("git", "log", "--format=%an <%ae>|%cn <%ce>", cwd=dest).stdout.split("\n")
    owner = "Client ML Owner <ml-owner@acme.example>"
    assert [a for a in authors if a] == [f"{owner}|{owner}"] * 2
    tracked = run("git", "ls-files", cwd=dest).stdout.split()
    assert {"dvc.lock", "metrics.json", "models/train.json"} <= set(tracked)
    assert run("git", "status", "--porcelain", cwd=dest).stdout == ""
    env = project_env(dest)
    run(tool("dvc"), "status", "--quiet", cwd=dest, env=env)

    from mlflow import MlflowClient

    uri = f"sqlite:///{dest / 'mlflow.db'}"
    champion = MlflowClient(uri, uri).get_model_version_by_alias("churn-model", "champion")
    assert str(champion.version) == str(payload["model"]["version"])

    clone = tmp_path / "clone"
    run("git", "clone", "--quiet", dest, clone, cwd=tmp_path)
    env = project_env(clone)
    run(tool("dvc"), "pull", "--quiet", cwd=clone, env=env)
    assert (clone / "data" / "prepared" / "evaluation.csv").is_file()
    run(tool("dvc"), "status", "--quiet", cwd=clone, env=env)
    repro = run(tool("dvc"), "repro", cwd=clone, env=env)
    assert "didn't change, skipping" in repro.stdout or "up to date" in repro.stdout


def test_new_reports_a_failed_acceptance_gate(template_repo: Path, tmp_path: Path) -> None:
    """Below the bar: exit 1, a message naming the bar's file, the project kept, no alias."""
    dest = tmp_path / "strict"
    result = handover_new(
        template_repo,
        dest,
        "--data",
        "ml_task=regression",
        "--data",
        "primary_metric=r2",
        "--data",
        "acceptance_threshold=0.99",
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "evaluation/acceptance.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    assert (dest / ".copier-answers.yml").is_file()
    from mlflow import MlflowClient

    uri = f"sqlite:///{dest / 'mlflow.db'}"
    versions = MlflowClient(uri, uri).search_model_versions("name='strict'")
    assert versions and all(not v.aliases for v in versions)
