"""The client's acceptance bar bites wherever the generated repository runs (issue 18, item 1).

A model that misses `evaluation/acceptance.yaml`, or learns nothing from its labels, fails the
generated project's own `pytest`, so it fails the pre-commit hook (no CI), the CI test job, and
the CI pipeline job that runs the gate on the fixture when the DVC remote is local. The render
tests check the files; the slow ones generate projects, break the model and run what the client
and CI run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from audit_repos import check_result
from github_steps import action, run_job

from conftest import BIN, project_env, run, tool
from mlops_handover.audit.model import Outcome

GATE_TEST = Path("tests/test_gate.py")
BROKEN = "the model misses the client's bar"
#: (answers, the parameter line of params.yaml, the same line for a model that learns little)
TASKS = {
    "classification": ({}, "  C: 1.0\n", "  C: 0.0001\n"),
    "regression": (
        {"ml_task": "regression", "primary_metric": "r2"},
        "  alpha: 1.0\n",
        "  alpha: 10000.0\n",
    ),
}


def pytest_in(project: Path, *only: str) -> subprocess.CompletedProcess[str]:
    """The generated project's own test suite, as its README runs it (`only`: those files,
    once the whole suite is known to pass)."""
    command = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *only)
    return run(*command, cwd=project, env=project_env(project), check=False)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- rendered files ---------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_each_task_gets_the_gate_test_reading_the_bar(render, task: str) -> None:
    answers = {**TASKS[task][0], "acceptance_threshold": 0.3125}
    project = render(answers)
    text = (project / GATE_TEST).read_text(encoding="utf-8")
    # Both tests take the `bar` fixture and apply the evaluate stage's gate (MLflow's own).
    assert text.count("bar: Acceptance") == 2
    assert "gate.meets_bar(" in text and "gate.beats(" in text
    assert "0.3125" not in text, "the bar is read from acceptance.yaml, never restated"
    conftest = (project / "tests/conftest.py").read_text(encoding="utf-8")
    assert 'Acceptance.load(ROOT / "evaluation/acceptance.yaml")' in conftest
    gate = (project / "src/demo_model/gate.py").read_text(encoding="utf-8")
    assert "mlflow.validate_evaluation_results(" in gate and "MetricThreshold(" in gate
    assert yaml.safe_load((project / "evaluation/acceptance.yaml").read_text())["threshold"] == (
        0.3125
    )
    assert "tests/test_gate.py" in (project / "README.md").read_text(encoding="utf-8")


def test_without_ci_pre_commit_runs_the_gate(render) -> None:
    hooks = {
        hook["id"]: hook
        for repo in yaml.safe_load(
            (render({"ci_provider": "none"}) / ".pre-commit-config.yaml").read_text()
        )["repos"]
        for hook in repo["hooks"]
    }
    gate = hooks["acceptance-gate"]
    assert gate["entry"] == "pytest -q tests/test_gate.py" and gate["pass_filenames"] is False
    for changed in ("src/demo_model/model.py", "params.yaml", "evaluation/acceptance.yaml"):
        assert re.search(gate["files"], changed), changed
    with_ci = yaml.safe_load((render(name="github") / ".pre-commit-config.yaml").read_text())
    assert "acceptance-gate" not in {h["id"] for r in with_ci["repos"] for h in r["hooks"]}


def test_ci_runs_the_gate_on_the_fixture_when_the_remote_is_local(render) -> None:
    steps = yaml.safe_load((render() / ".github/workflows/ci.yml").read_text())["jobs"]["pipeline"][
        "steps"
    ]
    (fixture,) = [s for s in steps if "tests/test_gate.py" in s.get("run", "")]
    assert fixture["if"] == "steps.remote.outputs.shared == 'false'"
    assert "ran on the fixture, not the data" in fixture["run"]
    gitlab = yaml.safe_load(
        (render({"ci_provider": "gitlab"}, name="gitlab") / ".gitlab-ci.yml").read_text()
    )
    remote_check = gitlab["pipeline"]["script"][0]
    local = remote_check[remote_check.index("*)") :]
    assert local.index("python -m pytest tests/test_gate.py || exit 1") < local.index("exit 77")
    assert "ran on the fixture, not the data" in local


@pytest.mark.parametrize("ci_provider", ["github", "gitlab", "none"])
def test_the_audit_finds_the_gate_on_every_change(render, ci_provider: str) -> None:
    """RT204 passes the generated project, and fails it once the gate test is gone."""
    project = render({"ci_provider": ci_provider})
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "generated"]):
        run("git", *args, cwd=project)
    got = check_result(project, "RT204").result
    assert got.outcome is Outcome.PASS, got.message
    assert "tests/test_gate.py" in got.message
    run("git", "rm", "-q", str(GATE_TEST), cwd=project)
    run("git", "commit", "-qm", "no gate test", cwd=project)
    got = check_result(project, "RT204").result
    assert got.outcome is Outcome.FAIL, got.message


# --- generated projects, their own pytest and CI -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_a_broken_model_fails_the_projects_pytest(generate, task: str) -> None:
    answers, good, weak = TASKS[task]
    project = generate(answers)
    passing = pytest_in(project)
    assert passing.returncode == 0, passing.stdout[-4000:]

    edit(project / "params.yaml", good, weak)
    failing = pytest_in(project, "tests/test_gate.py")
    assert failing.returncode == 1, failing.stdout[-4000:]
    assert BROKEN in failing.stdout
    assert "FAILED tests/test_gate.py::test_the_model_meets_the_clients_bar" in failing.stdout
    edit(project / "params.yaml", weak, good)

    # The labels shuffled before fitting: the model learns nothing.
    train = project / "src/demo_model/train.py"
    fitted = "    features, target = features_and_target(frame, settings.data)\n"
    edit(train, fitted, fitted + "    target = target.sample(frac=1, random_state=0).to_numpy()\n")
    failing = pytest_in(project, "tests/test_gate.py")
    assert failing.returncode == 1, failing.stdout[-4000:]
    assert BROKEN in failing.stdout


@pytest.mark.slow
def test_the_ci_jobs_fail_on_a_broken_model_with_the_local_remote(generate, tmp_path: Path) -> None:
    """The generated workflow's test and pipeline jobs, run locally in order in a fresh clone
    (no data: the remote is local), with the project's packages standing in for its install."""
    project = generate()
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    for job in ("test", "pipeline"):
        (install,) = [
            s
            for s in workflow["jobs"][job]["steps"]
            if s.get("name", "").startswith("Install the locked environment")
        ]
        install["run"] = f'echo "{BIN}" >> "$GITHUB_PATH"'

    def uses(step: Mapping[str, Any]) -> None:
        assert action(step) in ("actions/checkout", "actions/setup-python"), step

    def ci(ref: str) -> dict[str, Any]:
        checkout = tmp_path / ref / "repo"
        run("git", "clone", "-q", "--branch", ref, project, checkout, cwd=tmp_path)
        assert not (checkout / "data/raw/breast_cancer.csv").exists()
        env = {**project_env(checkout), "PYTHONPATH": ""}
        return {
            job: run_job(workflow, job, cwd=checkout, work=tmp_path / ref / job, env=env, uses=uses)
            for job in ("test", "pipeline")
        }

    good = ci("main")
    assert good["test"].ok, good["test"].report()
    assert good["pipeline"].ok, good["pipeline"].report()
    assert good["pipeline"].outputs["remote"] == {"shared": "false"}
    assert "The acceptance gate ran on the fixture, not the data" in good["pipeline"].summary

    run("git", "checkout", "-q", "-b", "weak", cwd=project)
    edit(project / "params.yaml", "  C: 1.0\n", "  C: 0.0001\n")
    run("git", "commit", "-qam", "A weaker model", cwd=project)
    weak = ci("weak")
    for job, step in (("test", "Run pytest"), ("pipeline", "Enforce the acceptance gate")):
        assert not weak[job].ok, weak[job].report()
        last = weak[job].steps[-1]
        assert last.name.startswith(step) and BROKEN in last.output, weak[job].report()
    assert "ran on the fixture" not in weak["pipeline"].summary


# --- one place to change the model, one home per setting (issue 18, items 2 and 3) -------------

#: Words of classification code; a regression project holds none of them.
CLASSIFICATION_WORDS = re.compile(
    r"classif|positive_label|predict_proba|decision_function|roc_auc|\bf1\b|precision|recall"
    r"|accuracy|LogisticRegression|confusion"
)


def test_a_regression_project_has_no_classification_code(render) -> None:
    project = render({"ml_task": "regression", "primary_metric": "rmse"})
    code = [*project.glob("src/**/*.py"), *project.glob("tests/*.py")]
    assert {p.name for p in project.glob("src/demo_model/*.py")} >= {"model.py", "metrics.py"}
    found = {
        f"{path.relative_to(project)}: {match.group(0)}"
        for path in code
        for match in CLASSIFICATION_WORDS.finditer(path.read_text(encoding="utf-8"))
    }
    assert not found, sorted(found)
    assert "Ridge(" in (project / "src/demo_model/model.py").read_text(encoding="utf-8")


def test_the_classification_project_offers_precision_and_recall(render) -> None:
    metrics = (render() / "src/demo_model/metrics.py").read_text(encoding="utf-8")
    for name in ("f1", "precision", "recall", "accuracy", "roc_auc"):
        assert f'"{name}": Metric(' in metrics, name


@pytest.mark.slow
def test_recall_and_precision_bars_one_home_for_the_bar_and_a_swapped_estimator(generate) -> None:
    """`--data primary_metric=recall` works, then precision; the bar's number is in no tracked
    file but acceptance.yaml, the answers file and dvc.lock (its parameters); and another
    scikit-learn classifier, one without predict_proba, is a change to model.py only: evaluate,
    the gate, the registry and the project's tests take it."""
    project = generate({"primary_metric": "recall", "acceptance_threshold": 0.8765})
    env = project_env(project)

    def repro(expected: str) -> None:
        done = run(tool("dvc"), "repro", cwd=project, env=env, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert expected in done.stdout, done.stdout[-3000:]

    repro("evaluate: ACCEPTED demo-model version 1: recall = ")
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-qm", "the first model", cwd=project)
    tracked = run("git", "grep", "-l", "-F", "0.8765", cwd=project, check=False).stdout
    assert set(tracked.split()) == {".copier-answers.yml", "dvc.lock", "evaluation/acceptance.yaml"}

    model = project / "src/demo_model/model.py"
    edit(model, "from sklearn.linear_model import LogisticRegression\n", "")
    edit(model, "from sklearn.pipeline", "from sklearn.svm import LinearSVC\nfrom sklearn.pipeline")
    edit(model, "LogisticRegression(**hyperparameters)", "LinearSVC(**hyperparameters)")
    changed = run("git", "status", "--porcelain", cwd=project).stdout.splitlines()
    assert changed == [" M src/demo_model/model.py"]
    repro("evaluate: ACCEPTED demo-model version 2: recall = ")
    metrics = json.loads((project / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["roc_auc"] > 0.9, metrics  # from the decision function: no probabilities
    run("git", "commit", "-qam", "a linear SVM", cwd=project)

    edit(project / "evaluation/acceptance.yaml", "metric: recall", "metric: precision")
    repro("precision = ")
    tests = pytest_in(
        project, "tests/test_gate.py", "tests/test_model.py", "tests/test_acceptance.py"
    )
    assert tests.returncode == 0, tests.stdout[-4000:]
