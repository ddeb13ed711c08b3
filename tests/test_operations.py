"""Operations commands of a generated project, run as the runbook runs them: after `dvc repro`,
`python -m <pkg>.registry` promotes and rolls back the `champion` alias in MLflow, and
`python -m <pkg>.drift` passes on the held-out split and fails on shifted data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from test_pipeline import mlflow_client, repro

from conftest import project_env, run, tool

pytestmark = pytest.mark.slow


def command(project: Path, module: str, *args: str, check: bool = True) -> Any:
    """`python -m <package>.<module> ARGS` in the project, as a client runs it."""
    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    return run(
        sys.executable,
        "-m",
        f"{package}.{module}",
        *args,
        cwd=project,
        env=project_env(project),
        check=check,
    )


def aliases(project: Path, name: str) -> dict[str, int]:
    model = mlflow_client(project).get_registered_model(name)
    return {alias: int(version) for alias, version in model.aliases.items()}


def set_yaml_line(path: Path, key: str, value: str) -> None:
    """Change one `key: value` line, keeping the file's comments (as a client edits it)."""
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index] = f"{indent}{key}: {value}"
    path.write_text("\n".join(lines) + "\n")


def write_shifted(project: Path, feature_index: int = 0) -> tuple[Path, str]:
    """The evaluation split with one feature moved by two standard deviations."""
    frame = pd.read_csv(project / "data" / "prepared" / "evaluation.csv")
    feature = frame.columns[feature_index]
    frame[feature] += 2 * frame[feature].std()
    path = project / "new_batch.csv"
    frame.to_csv(path, index=False)
    return path, feature


def assert_drift_check(project: Path) -> None:
    """Passes on the held-out split with the default settings, fails on a shifted copy."""
    passed = command(project, "drift", "data/prepared/evaluation.csv")
    assert "no drift" in passed.stdout
    report = json.loads((project / "reports" / "drift.json").read_text())
    assert report["verdict"] == "no drift"
    assert report["reference"]["path"] == "data/prepared/train.csv"
    assert max(f["psi"] for f in report["features"]) <= report["psi_threshold"]
    run("git", "check-ignore", "-q", "reports/drift.json", cwd=project, env=project_env(project))

    shifted, feature = write_shifted(project)
    failed = command(project, "drift", str(shifted), "--report", "reports/batch.json", check=False)
    assert failed.returncode == 1, failed.stderr
    assert feature in failed.stderr
    report = json.loads((project / "reports" / "batch.json").read_text())
    assert report["drifted"] == [feature]


def test_promote_rollback_and_drift_in_a_classification_project(generate) -> None:
    project = generate(name="ops")
    params_file = project / "params.yaml"
    acceptance_file = project / "evaluation" / "acceptance.yaml"
    name = yaml.safe_load(params_file.read_text())["mlflow"]["registered_model"]

    repro(project)
    set_yaml_line(params_file, "C", "0.5")  # a second training, also above the bar
    # Committed first: only a run on the main line (clean tree, default branch) promotes.
    run("git", "commit", "-qam", "C = 0.5", cwd=project, env=project_env(project))
    result, _ = repro(project)
    assert "'previous': version 1" in result.stdout
    assert aliases(project, name) == {"champion": 2, "previous": 1}

    status = json.loads(command(project, "registry", "status", "--json").stdout)
    assert (status["champion"], status["previous"]) == (2, 1)
    assert [v["acceptance"] for v in status["versions"]] == ["passed", "passed"]

    assert "'champion' -> version 1" in command(project, "registry", "rollback").stdout
    assert aliases(project, name) == {"champion": 1, "previous": 2}
    command(project, "registry", "promote", "2")
    assert aliases(project, name) == {"champion": 2, "previous": 1}

    # A third version below a raised bar: the stage fails, and the version cannot be promoted.
    set_yaml_line(params_file, "C", "0.25")
    set_yaml_line(acceptance_file, "threshold", "0.999")
    result, _ = repro(project, check=False)
    assert result.returncode != 0
    client = mlflow_client(project)
    assert client.get_model_version(name, "3").tags["acceptance"] == "failed"
    refused = command(project, "registry", "promote", "3", check=False)
    assert refused.returncode == 1
    assert "evaluation/acceptance.yaml" in refused.stderr
    assert aliases(project, name) == {"champion": 2, "previous": 1}

    assert_drift_check(project)


def test_regression_project_before_training(generate) -> None:
    """Drift needs only the prepared data; the registry commands say what to run first."""
    project = generate(
        {"project_name": "Progression", "ml_task": "regression", "primary_metric": "mae"},
        name="progression",
    )
    run(tool("dvc"), "repro", "prepare", cwd=project, env=project_env(project))
    no_model = command(project, "registry", "status", check=False)
    assert no_model.returncode == 2
    assert "run `dvc repro` first" in no_model.stderr
    assert not (project / "mlflow.db").exists(), "a status query must not create a store"
    assert_drift_check(project)
