"""The generated project's example pipeline, end to end: its own lint and tests pass, `dvc repro`
trains, tracks and registers a model, and the client's acceptance gate decides the `champion`.

Each test generates a project (post-copy task included: git, DVC, data, first commit) and runs
the project's tools with this interpreter's packages, as a client would after `pip install`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import project_env, run, tool

pytestmark = pytest.mark.slow


def repro(project: Path, check: bool = True) -> tuple[Any, float]:
    """`dvc repro` in the project; returns the completed process and its wall time."""
    start = time.monotonic()
    result = run(tool("dvc"), "repro", cwd=project, env=project_env(project), check=check)
    return result, time.monotonic() - start


def mlflow_client(project: Path) -> Any:
    """A client on the project's default store: the sqlite file at the repository root."""
    from mlflow import MlflowClient

    database = project / "mlflow.db"
    assert database.exists(), "the pipeline must track to mlflow.db at the repository root"
    uri = f"sqlite:///{database}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def aliases(client: Any, name: str = "demo-model") -> dict[str, int]:
    return {k: int(v) for k, v in client.get_registered_model(name).aliases.items()}


def train_info(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / "models" / "train.json").read_text())


def assert_project_checks_pass(project: Path) -> None:
    """The generated project's own lint, format check and test suite."""
    env = project_env(project)
    run(tool("ruff"), "check", ".", cwd=project, env=env)
    run(tool("ruff"), "format", "--check", ".", cwd=project, env=env)
    run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, env=env)


def assert_run_is_traceable(project: Path, slug: str) -> None:
    """The run names the commit and the data version, and its version is the champion."""
    client = mlflow_client(project)
    info = train_info(project)
    run_ = client.get_run(info["run_id"])
    head = run("git", "rev-parse", "HEAD", cwd=project, env=project_env(project)).stdout.strip()
    assert run_.data.tags["mlflow.source.git.commit"] == head

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    train_md5 = next(
        out["md5"] for out in lock["stages"]["prepare"]["outs"] if out["path"].endswith("train.csv")
    )
    inputs = {
        {t.key: t.value for t in d.tags}["mlflow.data.context"]: d
        for d in run_.inputs.dataset_inputs
    }
    assert inputs["training"].dataset.digest == train_md5
    assert {t.key: t.value for t in inputs["training"].tags}["dvc.md5"] == train_md5
    assert "evaluation" in inputs
    raw_dvc = yaml.safe_load(next((project / "data" / "raw").glob("*.csv.dvc")).read_text())
    assert run_.data.tags["dvc.raw_data.md5"] == raw_dvc["outs"][0]["md5"]
    assert any(key.startswith("eval_") for key in run_.data.metrics)

    name, version = info["registered_model"], info["version"]
    assert name == slug
    model_version = client.get_model_version(name, version)
    assert model_version.run_id == info["run_id"]
    assert model_version.tags["acceptance"] == "passed"
    assert str(client.get_model_version_by_alias(name, "champion").version) == version
    experiment = client.get_experiment(run_.info.experiment_id)
    assert experiment.artifact_location == (project / "mlruns").as_uri()


def test_default_project_pipeline(generate) -> None:
    project = generate(name="demo")
    assert_project_checks_pass(project)

    result, seconds = repro(project)
    print(f"\nfirst `dvc repro` of the default project: {seconds:.1f} s")
    assert "ACCEPTED" in result.stdout
    run(tool("dvc"), "status", "-q", cwd=project, env=project_env(project))
    assert_run_is_traceable(project, "demo-model")
    metrics = yaml.safe_load((project / "metrics.json").read_text())
    assert metrics["f1"] >= 0.9
    assert (project / "plots" / "predictions.csv").read_text().startswith("actual,predicted")
    # MLflow's files stay out of git and out of DVC.
    untracked = run(
        "git", "status", "--porcelain", "--ignored", cwd=project, env=project_env(project)
    ).stdout
    assert "!! mlflow.db" in untracked
    assert "!! mlruns/" in untracked
    run(tool("dvc"), "check-ignore", "mlruns/x", "mlflow.db", cwd=project, env=project_env(project))


def test_regression_project_pipeline(generate) -> None:
    """A lower-is-better metric through the whole pipeline."""
    project = generate(
        {"project_name": "Progression", "ml_task": "regression", "primary_metric": "mae"},
        name="progression",
    )
    assert_project_checks_pass(project)
    result, seconds = repro(project)
    print(f"\nfirst `dvc repro` of the regression project: {seconds:.1f} s")
    assert "ACCEPTED" in result.stdout
    run(tool("dvc"), "status", "-q", cwd=project, env=project_env(project))
    assert_run_is_traceable(project, "progression")
    dvc_yaml = yaml.safe_load((project / "dvc.yaml").read_text())
    (plot,) = dvc_yaml["stages"]["evaluate"]["plots"]
    assert plot["${outputs.predictions}"]["template"] == "scatter"


def test_pipeline_fails_below_the_bar_and_promotes_nothing(generate) -> None:
    project = generate(
        {
            "project_name": "Too Hard",
            "ml_task": "regression",
            "primary_metric": "r2",
            "acceptance_threshold": 0.99,
        },
        name="too-hard",
    )
    result, _ = repro(project, check=False)
    assert result.returncode != 0
    assert "REJECTED" in result.stderr
    assert "r2" in result.stderr and "0.99" in result.stderr
    assert "evaluation/acceptance.yaml" in result.stderr
    status = run(tool("dvc"), "status", "-q", cwd=project, env=project_env(project), check=False)
    assert status.returncode != 0, "a rejected evaluate stage must not be recorded as done"

    client = mlflow_client(project)
    info = train_info(project)
    name, version = info["registered_model"], info["version"]
    assert client.get_registered_model(name).aliases == {}
    assert client.get_model_version(name, version).tags["acceptance"] == "failed"
    # The numbers are still there to look at.
    assert "r2" in yaml.safe_load((project / "metrics.json").read_text())


def test_off_the_main_line_a_passing_version_is_not_promoted(generate) -> None:
    """Uncommitted changes, then another branch: evaluate gates and registers each version but
    leaves `champion`, and says why and how to promote; commit + `promote latest` promotes."""
    project = generate(name="dirty")
    env = project_env(project)
    result, _ = repro(project)
    assert "alias 'champion' -> version 1" in result.stdout  # a clean main: promoted
    run("git", "add", "--all", cwd=project, env=env)
    run("git", "commit", "-qm", "Run the pipeline", cwd=project, env=env)

    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  C: 1.0\n", "  C: 0.5\n"))
    result, _ = repro(project)
    held = (
        "evaluate: ACCEPTED demo-model version 2: ",
        "; not promoted: uncommitted changes to params.yaml (version 1 stays 'champion'); "
        "to promote: python -m demo_model.registry promote 2",
    )
    assert all(part in result.stdout for part in held), result.stdout
    client = mlflow_client(project)
    assert client.get_model_version("demo-model", "2").tags["acceptance"] == "passed"
    assert aliases(client) == {"champion": 1}

    registry = [sys.executable, "-m", "demo_model.registry"]
    doctor = run(tool("handover"), "doctor", "--json", cwd=project, env=env, check=False).stdout
    (tree,) = [f for f in json.loads(doctor)["findings"] if f["item"] == "working tree"]
    assert tree["detail"].startswith("models/train.json describes version 2"), tree
    assert "python -m demo_model.registry promote 2" in tree["fix"], tree
    run("git", "commit", "-qam", "C = 0.5", cwd=project, env=env)
    promoted = run(*registry, "promote", "latest", cwd=project, env=env).stdout
    assert "'champion' -> version 2" in promoted

    run("git", "checkout", "-qb", "feature", cwd=project, env=env)
    result = run(tool("dvc"), "repro", "--force", cwd=project, env=env)
    assert "not promoted: branch 'feature' is not the default branch 'main'" in result.stdout
    assert aliases(client) == {"champion": 2, "previous": 1}
