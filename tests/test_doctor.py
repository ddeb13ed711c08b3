"""`handover doctor` on real clones: what a client engineer's clone lacks, and the fix for each.

A project from `handover new` (pipeline run, data pushed to its local remote) is cloned into
another folder, as a client receives it; the doctor must find the data not pulled and the
MLflow store empty there, and `dvc pull` must work with no edit (the remote is absolute).
A copy of the vendor's repository with its store shows the `working tree` item: does
models/train.json describe the champion (and after a rollback, what makes them agree).
Environment and Python checks run on small projects written here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import handover_new, isolated, project_env, run, tool
from mlops_handover.doctor import (
    Diagnosis,
    Finding,
    check_environment,
    check_mlflow,
    check_python,
    locked_requirements,
    model_info,
    pipeline_files,
)

MODEL = "demo-model"  # the registered model and experiment of `handover new --defaults`
PACKAGE = "demo_model"


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
    tree = found["working tree"]  # nothing to compare models/train.json with: not a failure
    assert tree["status"] == "skip" and "no MLflow store" in tree["detail"], tree

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


# --- the working tree and the champion --------------------------------------------------------


@pytest.fixture
def trained(vendor_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The vendor's repository with its MLflow store, copied: the test's to change. MLflow in
    this process uses the copy's store (the doctor is given `project_env`, without it)."""
    project = tmp_path / vendor_repo.name
    shutil.copytree(vendor_repo, project, symlinks=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    return project


def working_tree(project: Path) -> Finding:
    found = {f.item: f for f in check_mlflow(project, project_env(project))}
    return found["working tree"]


def model_info_of(project: Path) -> dict[str, Any]:
    return json.loads((project / "models" / "train.json").read_text(encoding="utf-8"))


def client(project: Path) -> Any:
    from mlflow import MlflowClient

    # Some calls (a `models:/` source) read the default store, not the client's: the fixture
    # points MLFLOW_TRACKING_URI at the same one.
    return MlflowClient(f"sqlite:///{project / 'mlflow.db'}")


def git_out(project: Path, *args: str) -> str:
    return run("git", *args, cwd=project).stdout.strip()


def second_version(project: Path) -> tuple[str, str]:
    """What a retrain on the main line leaves, without training: a run and a version that
    passed the gate (registered from the first version's model), models/train.json naming it,
    committed, and the aliases moved as the evaluate stage moves them. (version, run id)"""
    mlflow = client(project)
    head = git_out(project, "rev-parse", "HEAD")
    experiment = mlflow.get_experiment_by_name(MODEL).experiment_id
    run_id = mlflow.create_run(experiment, tags={"mlflow.source.git.commit": head}).info.run_id
    mlflow.set_terminated(run_id)
    source = mlflow.get_model_version(MODEL, "1").source
    tags = {"acceptance": "passed", "git.commit": head}
    version = str(mlflow.create_model_version(MODEL, source, run_id, tags=tags).version)
    info = model_info_of(project) | {"run_id": run_id, "version": version}
    (project / "models" / "train.json").write_text(json.dumps(info, indent=2) + "\n")
    run("git", "commit", "-qam", "Retrain", cwd=project)
    mlflow.set_registered_model_alias(MODEL, "previous", "1")
    mlflow.set_registered_model_alias(MODEL, "champion", version)
    return version, run_id


def test_the_working_tree_describes_the_champion(trained: Path) -> None:
    tree = working_tree(trained)
    first = model_info_of(trained)
    assert first["version"] == "1"
    assert tree == Finding(
        "working tree", "ok", f"models/train.json describes version 1 (run {first['run_id']}), "
        "the 'champion'",
    )  # fmt: skip


def test_after_a_rollback_the_fix_restores_the_champions_files(trained: Path) -> None:
    first = model_info_of(trained)["run_id"]
    trained_at = git_out(trained, "rev-list", "--max-parents=0", "HEAD")  # version 1's git.commit
    names_first = git_out(trained, "rev-parse", "HEAD")  # its models/train.json names version 1
    version, run_id = second_version(trained)
    assert working_tree(trained).status == "ok"

    env = project_env(trained)
    rolled = run(tool("python"), "-m", f"{PACKAGE}.registry", "rollback", cwd=trained, env=env)
    assert "'champion' -> version 1" in rolled.stdout
    tree = working_tree(trained)
    assert tree.status == "warn", tree  # a warning: the doctor does not fail on a rollback
    assert tree.detail == (
        f"models/train.json describes version {version} (run {run_id}), 'champion' is "
        f"version 1, trained at commit {trained_at[:12]}"
    )
    restore, promote = tree.fix.split("; or ")
    assert restore.startswith(f"git checkout {names_first} -- ")
    assert restore.endswith(" && dvc checkout (then commit)")
    files = restore.removeprefix(f"git checkout {names_first} -- ").split(" && ")[0].split()
    for path in ("dvc.yaml", "dvc.lock", "params.yaml", "models/train.json", "metrics.json"):
        assert path in files, files
    assert "data/raw/breast_cancer.csv.dvc" in files  # data by its .dvc file
    assert "data/raw/breast_cancer.csv" not in files  # DVC's, not git's
    assert promote == f"python -m {PACKAGE}.registry promote {version}"

    text = Diagnosis(str(trained), [tree]).to_text().splitlines()
    assert text[1:3] == [f"WARN  working tree  {tree.detail}", f"{'':<20}fix: {tree.fix}"]
    assert text[-1] == "ready: nothing to fix."  # a warning: `handover doctor` exits 0 for it

    # The fix works: the champion's pipeline files and data, and the doctor agrees.
    run("bash", "-c", restore.removesuffix(" (then commit)"), cwd=trained, env=env)
    assert model_info_of(trained)["run_id"] == first
    assert working_tree(trained).status == "ok", working_tree(trained)


def test_nothing_to_compare_is_a_skip(trained: Path) -> None:
    run_id = model_info_of(trained)["run_id"]
    client(trained).delete_registered_model_alias(MODEL, "champion")
    assert working_tree(trained) == Finding(
        "working tree", "skip",
        f"models/train.json describes version 1 (run {run_id}); no version is 'champion'",
    )  # fmt: skip
    (trained / "models" / "train.json").unlink()
    tree = working_tree(trained)
    assert tree.status == "skip" and tree.detail.startswith("no models/train.json"), tree
    (trained / "mlflow.db").unlink()
    tree = working_tree(trained)
    assert tree.status == "skip" and tree.detail.startswith("no MLflow store"), tree


def test_imported_history_is_recognised_by_its_source_tags(trained: Path) -> None:
    """After `handover history import` the version and run have new numbers here; the copied
    models/train.json still names those of the vendor's store, kept as tags."""
    mlflow = client(trained)
    version = mlflow.get_model_version(MODEL, "1")
    mlflow.set_model_version_tag(MODEL, "1", "handover.source_version", "7")
    mlflow.set_tag(version.run_id, "handover.source_run_id", "0123456789abcdef")
    info = model_info_of(trained) | {"version": "7", "run_id": "0123456789abcdef"}
    (trained / "models" / "train.json").write_text(json.dumps(info))
    assert working_tree(trained).status == "ok", working_tree(trained)
    info["version"] = "8"  # another number: not the champion
    (trained / "models" / "train.json").write_text(json.dumps(info))
    assert working_tree(trained).status == "warn"


def test_pipeline_files_come_from_the_lock_when_dvc_yaml_interpolates(tmp_path: Path) -> None:
    """dvc.yaml may read its paths from params.yaml (`${data.train}`); dvc.lock records them
    resolved, and `git ls-tree` keeps those git tracks at the commit."""
    project = tmp_path / "p"
    files = {
        "params.yaml": "data:\n  raw: data/raw.csv\n  train: data/train.csv\n"
        "outputs:\n  model_info: out/info.json\n",
        "dvc.yaml": "stages:\n  train:\n    cmd: python -m pkg.train\n"
        "    deps: [src/pkg/train.py, '${data.train}']\n    params: [train]\n"
        "    outs: [{'${outputs.model_info}': {cache: false}}]\n"
        "    metrics: [{metrics.json: {cache: false}}]\n",
        "dvc.lock": "schema: '2.0'\nstages:\n  train:\n    cmd: python -m pkg.train\n"
        "    deps:\n    - path: data/train.csv\n      md5: 1\n    - path: src/pkg/train.py\n"
        "      md5: 2\n    params:\n      params.yaml:\n        train: {C: 1}\n"
        "    outs:\n    - path: out/info.json\n      md5: 3\n    - path: metrics.json\n"
        "      md5: 4\n",
        "src/pkg/train.py": "",
        "data/train.csv.dvc": "outs:\n- path: train.csv\n",
        "out/info.json": "{}",
        "metrics.json": "{}",
        "README.md": "not the pipeline's\n",
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    run("git", "init", "-q", cwd=project)
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-qm", "pipeline", cwd=project)
    assert pipeline_files(project, git_out(project, "rev-parse", "HEAD")) == [
        "data/train.csv.dvc", "dvc.lock", "dvc.yaml", "metrics.json", "out/info.json",
        "params.yaml", "src/pkg/train.py",
    ]  # fmt: skip

    params = yaml.safe_load(files["params.yaml"])
    assert model_info(params) == "out/info.json"
    assert model_info({}) == "models/train.json"


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
