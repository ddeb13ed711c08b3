"""`handover doctor` on real clones: what a client engineer's clone lacks, and the fix for each.

A project from `handover new` (pipeline run, data pushed to its local remote) is cloned into
another folder, as a client receives it; the doctor must find the data not pulled and the
MLflow store empty there, and `dvc pull` must work with no edit (the remote is absolute).
Environment and Python checks run on small projects written here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import handover_new, isolated, project_env, run, tool
from mlops_handover.doctor import check_environment, check_python, locked_requirements


@pytest.fixture(scope="module")
def vendor_repo(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vendor's repository: `handover new --defaults`, data pushed to the local remote."""
    with isolated(tmp_path_factory):
        project = tmp_path_factory.mktemp("vendor") / "demo-model"
        handover_new(template_repo, project)
        return project


def doctor(project: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run(
        tool("handover"), "doctor", "--project", project, "--json", *extra,
        cwd=project, env=project_env(project), check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return result.returncode, {f["item"]: f for f in report["findings"]}


def clone(repo: Path, parent: Path) -> Path:
    parent.mkdir(parents=True)
    run("git", "clone", "-q", repo, parent / repo.name, cwd=parent)
    return parent / repo.name


def test_a_clone_elsewhere_pulls_its_data_with_no_edit(vendor_repo: Path, tmp_path: Path) -> None:
    project = clone(vendor_repo, tmp_path / "client" / "work")
    code, found = doctor(project)
    assert code == 1
    assert found["git"]["status"] == "ok" and str(vendor_repo) in found["git"]["detail"]
    assert found["dvc remote"]["status"] == "ok", found["dvc remote"]
    assert str(vendor_repo.parent / "demo-model-dvc-storage") in found["dvc remote"]["detail"]
    assert found["data"]["status"] == "fail" and found["data"]["fix"] == "dvc pull"
    assert "data/raw/breast_cancer.csv" in found["data"]["detail"]
    store = found["mlflow store"]  # the repository has a history bundle: import it
    assert store["status"] == "fail" and "no store" in store["detail"]
    assert "handover history import" in store["fix"]
    assert found["tracking server"]["status"] == "skip"

    run(tool("dvc"), "pull", cwd=project, env=project_env(project))
    assert not run("git", "status", "--porcelain", cwd=project).stdout  # no edit needed
    _, found = doctor(project)
    assert found["data"]["status"] == "ok", found["data"]


def test_a_missing_remote_names_the_local_override(vendor_repo: Path, tmp_path: Path) -> None:
    project = clone(vendor_repo, tmp_path / "laptop")
    gone = tmp_path / "nowhere"
    (project / ".dvc" / "config.local").write_text(f"['remote \"storage\"']\n    url = {gone}\n")
    code, found = doctor(project)
    remote = found["dvc remote"]
    assert code == 1 and remote["status"] == "fail"
    assert f"storage = {gone} (from .dvc/config.local): no such folder" in remote["detail"]
    assert remote["fix"].startswith("dvc remote modify --local storage url")

    # A relative remote works only from clones beside the original: a warning with the fix.
    (project / ".dvc" / "config.local").unlink()
    relative = Path("..") / ".." / ".." / vendor_repo.parent.relative_to(tmp_path.parent)
    run(tool("dvc"), "remote", "modify", "--local", "storage", "url",
        str(relative / "demo-model-dvc-storage"), cwd=project)  # fmt: skip
    _, found = doctor(project)
    assert found["dvc remote"]["status"] == "warn", found["dvc remote"]
    assert "relative to .dvc/" in found["dvc remote"]["detail"]


def test_the_text_report_has_one_line_per_item_and_a_fix(vendor_repo: Path, tmp_path: Path) -> None:
    project = clone(vendor_repo, tmp_path / "text")
    result = run(tool("handover"), "doctor", cwd=project, env=project_env(project), check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"handover doctor: {project.resolve()}"
    items = [
        line.split()[1] for line in lines[1:] if line.split()[0] in ("OK", "WARN", "FAIL", "SKIP")
    ]
    assert items[:4] == ["python", "environment", "git", "dvc"]
    assert "fix: dvc pull" in result.stdout
    assert lines[-1].endswith("then run `handover doctor` again.")


def test_a_tracking_server_that_does_not_answer_fails_in_seconds(
    vendor_repo: Path, tmp_path: Path
) -> None:
    project = clone(vendor_repo, tmp_path / "server")
    env = project_env(project) | {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    result = subprocess.run(
        [tool("handover"), "doctor", "--json"], cwd=project, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    found = {f["item"]: f for f in json.loads(result.stdout)["findings"]}
    assert result.returncode == 1
    server = found["tracking server"]
    assert server["status"] == "fail"
    assert "http://127.0.0.1:9 does not answer" in server["detail"]


def write_project(root: Path, requires: str, lock: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "pyyaml"\nversion = "0"\nrequires-python = "{requires}"\n'
    )
    (root / "requirements.lock").write_text(lock)
    return root


def test_the_environment_is_compared_with_the_lock(tmp_path: Path) -> None:
    from importlib.metadata import version

    pyyaml, packaging = version("pyyaml"), version("packaging")
    lock = (
        "# via uv\n--index-url https://pypi.org/simple\n"
        f"pyyaml=={pyyaml}\n    # via demo\npackaging=={packaging}\n"
        "pywin32==306 ; sys_platform == 'win32'\n"
    )
    ok = check_environment(write_project(tmp_path / "ok", ">=3.11", lock))
    assert ok.status == "ok" and "2 packages match requirements.lock" in ok.detail

    drifted = lock.replace(f"packaging=={packaging}", "packaging==0.1") + "no-such-pkg-x==1.0\n"
    bad = check_environment(write_project(tmp_path / "bad", ">=3.11", drifted))
    assert bad.status == "fail"
    assert f"packaging {packaging} (lock: ==0.1)" in bad.detail
    assert "no-such-pkg-x missing" in bad.detail
    assert bad.fix == "uv pip sync requirements.lock && uv pip install --no-deps -e ."
    assert [r.name for r in locked_requirements(lock)] == ["pyyaml", "packaging"]


def test_python_is_checked_against_requires_python(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", ">=3.99", "")
    finding = check_python(project)
    assert finding.status == "fail" and "requires >=3.99" in finding.detail
    venv = write_project(tmp_path / "v", ">=3.11", "")
    (venv / ".venv").mkdir()
    finding = check_python(venv, prefix="/opt/other-env", base="/usr")
    assert finding.status == "warn" and "not this project's .venv" in finding.detail
    assert check_python(venv, prefix="/usr", base="/usr").status == "warn"
    assert check_python(venv, prefix=str(venv / ".venv"), base="/usr").status == "ok"
