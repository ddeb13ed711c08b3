"""Paths, parameters and the MLflow connection shared by the pipeline stages.

Data paths are relative: DVC runs every stage from the repository root (or from a temporary
copy of it for `dvc exp run --temp`). MLflow state is anchored to the real repository root
instead, so a run logged from a temporary copy is not deleted with it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

PARAMS_FILE = Path("params.yaml")
ACCEPTANCE_FILE = Path("evaluation/acceptance.yaml")
TRAIN_CSV = Path("data/prepared/train.csv")
EVALUATION_CSV = Path("data/prepared/evaluation.csv")
TRAIN_INFO = Path("models/train.json")
DVC_FILE = Path("dvc.yaml")
LOCK_FILE = Path("dvc.lock")
#: The branch `handover new` creates, then git's former default: see `default_branch`.
MAIN_BRANCHES = ("main", "master")
METRICS_FILE = Path("metrics.json")
PREDICTIONS_CSV = Path("plots/predictions.csv")
TARGET = "target"
CHAMPION_ALIAS = "champion"
#: The version that held `champion` before it last moved: where a rollback goes.
PREVIOUS_ALIAS = "previous"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; fail with the file name rather than a bare parser error."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping at the top level")
    return data


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The pipeline parameters; DVC tracks the same file, so runs and dvc.lock agree."""
    return load_yaml(path)


def project_root() -> Path:
    """The real repository root: DVC_ROOT (set by DVC, also in temp runs), git, else cwd."""
    if root := os.environ.get("DVC_ROOT"):
        return Path(root).resolve()
    top = git("rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else Path.cwd().resolve()


def git(*args: str, cwd: str | Path | None = None) -> str | None:
    """A git command's output, stripped; None when it fails or git is not installed."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def default_branch(root: str | Path = ".") -> str | None:
    """The repository's main line: origin/HEAD's target in a clone, else `main`, else `master`.

    A clone knows which branch its origin calls the default (origin/HEAD). A repository made by
    `handover new` has no remote yet, and its first commit is on `main` whatever git's
    init.defaultBranch says (the template's post-copy task creates it), so `main` is its main
    line; `master` counts in a repository that has no `main`. None when neither exists and
    there is no origin/HEAD: then no branch is the main line until one is set
    (`git remote set-head origin --auto`).
    """
    if ref := git("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD", cwd=root):
        return ref.removeprefix("origin/")
    for branch in MAIN_BRANCHES:
        if git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=root) is not None:
            return branch
    return None


def stage_paths(root: str | Path, *keys: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, options) of every entry under `keys` (deps, params, outs, metrics, plots) of
    dvc.yaml's stages, relative to `root`; a `params` entry gives its file (params.yaml)."""
    dvc_yaml, found = Path(root) / DVC_FILE, []
    stages = (load_yaml(dvc_yaml).get("stages") or {}) if dvc_yaml.exists() else {}
    for stage in stages.values():
        wdir = Path(stage.get("wdir", "."))
        for key in keys:
            for item in stage.get(key) or []:
                name, options = next(iter(item.items())) if isinstance(item, dict) else (item, {})
                if key == "params" and not isinstance(item, dict):
                    name = PARAMS_FILE  # a key of the default parameters file
                path = Path(os.path.normpath(wdir / name)).as_posix()
                found.append((path, options if isinstance(options, dict) else {}))
    return found


def pipeline_writes(root: str | Path = ".") -> set[str]:
    """What `dvc repro` itself writes: dvc.lock, the outs, metrics and plots of dvc.yaml's
    stages, and the .gitignore DVC keeps next to each cached one (paths relative to `root`)."""
    written = {LOCK_FILE.as_posix()}
    for path, options in stage_paths(root, "outs", "metrics", "plots"):
        written.add(path)
        if options.get("cache", True):
            written.add((Path(path).parent / ".gitignore").as_posix())
    return written


def uncommitted_changes(root: str | Path = ".") -> list[str] | None:
    """Tracked files that differ from HEAD, staged or not, except what `dvc repro` writes
    (`pipeline_writes`); None when there is no commit to compare with."""
    prefix = git("rev-parse", "--show-prefix", cwd=root)
    changed = git("diff", "--name-only", "--no-renames", "-z", "HEAD", "--", cwd=root)
    if prefix is None or changed is None:
        return None
    written = pipeline_writes(root)
    paths = [p.removeprefix(prefix) for p in changed.split("\0") if p]
    return [p for p in paths if not any(p == w or p.startswith(f"{w}/") for w in written)]


def off_main_line(root: str | Path | None = None) -> str | None:
    """Why a pipeline run here must not move `champion`, or None when it may.

    `champion` is what serves, and the evaluate stage moves it without anyone deciding, so it
    may do so only for a model that the default branch's history reproduces: every version
    records the commit it was trained at, and that commit must hold the code, parameters and
    data. A run is off the main line when
    - it is a DVC experiment (`dvc exp run`, in the workspace, `--temp` or `--queue`: DVC sets
      DVC_EXP_NAME in all three): a try, whose parameters no commit holds;
    - HEAD is detached or on a branch other than `default_branch`: work not merged yet;
    - tracked files differ from HEAD, other than what `dvc repro` writes itself
      (`uncommitted_changes`): the commit does not describe the model. Untracked files do
      not count.
    Such a run still trains, registers and gates its version; a person promotes it with
    `registry promote` after committing or merging. The answer is a reason worded to follow
    "not promoted: ". It reads git and dvc.yaml only (no MLflow).
    """
    if experiment := os.environ.get("DVC_EXP_NAME"):
        return f"DVC experiment {experiment!r} is a try, not the main line"
    root = project_root() if root is None else Path(root)
    branch = git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root)
    if branch is None:
        if git("rev-parse", "--git-dir", cwd=root) is None:
            return "not a git repository, so no commit describes this model"
        return "HEAD is detached, not on the default branch"
    main = default_branch(root)
    if main is None:
        return "no default branch (no origin/HEAD, no main or master branch)"
    if branch != main:
        return f"branch {branch!r} is not the default branch {main!r}"
    changed = uncommitted_changes(root)
    if changed is None:
        return "no commit yet"
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"uncommitted changes to {', '.join(changed[:3])}{more}"
    return None


def tracking_uri(params: dict[str, Any] | None = None) -> str:
    """MLFLOW_TRACKING_URI, else params.yaml `mlflow.tracking_uri`, else the repo's sqlite DB.

    The file store is refused by MLflow 3.13+, and a cwd-relative sqlite URI would scatter
    databases into temporary directories, so the default is absolute.
    """
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    if uri := ((params or {}).get("mlflow") or {}).get("tracking_uri"):
        return str(uri)
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def local_artifact_root(uri: str) -> str | None:
    """`mlruns/` next to a sqlite DB as a file URI; None for a server, which stores its own."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///")).resolve()
    return (database.parent / "mlruns").as_uri()


#: MLflow's client retries a tracking server that fails (down, or answering 5xx as it does
#: when its bucket is missing) 7 times with backoff factor 2 and waits up to 120 s for each
#: answer: minutes before a bare retry error. Unless the user set them, these bound it to
#: seconds for the common failures. A server that answers but breaks still fails the stage:
#: `main` then prints MLflow's message in one line (`server_failure`).
SERVER_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def fail_fast(uri: str) -> None:
    """Before MLflow talks to a tracking server, bound its retries (`SERVER_HTTP_LIMITS`)."""
    if is_server(uri):
        for variable, value in SERVER_HTTP_LIMITS.items():
            os.environ.setdefault(variable, value)


def server_failure(error: Exception, params: dict[str, Any] | None) -> str | None:
    """One line for an error of MLflow's client on a tracking server, pointing at
    `handover doctor`; None for any other error (a local store keeps its traceback)."""
    uri = tracking_uri(params)
    if not is_server(uri):
        return None
    import requests
    import urllib3
    from mlflow.exceptions import MlflowException

    failures = (MlflowException, requests.RequestException, urllib3.exceptions.HTTPError)
    if not isinstance(error, failures):
        return None
    parts = urlsplit(uri)
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no password
    message = " ".join(str(error).split()).rstrip(".") or type(error).__name__
    return (
        f"the MLflow tracking server {shown} failed: {message[:500]}. `handover doctor` names "
        "the cause (server down, login refused, bucket missing)."
    )


def setup_mlflow(params: dict[str, Any]) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id."""
    import mlflow

    uri = tracking_uri(params)
    fail_fast(uri)
    mlflow.set_tracking_uri(uri)
    name = params["mlflow"]["experiment"]
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        try:
            experiment_id = mlflow.create_experiment(
                name, artifact_location=local_artifact_root(uri)
            )
        except mlflow.exceptions.MlflowException:
            # Another process created it meanwhile.
            experiment_id = mlflow.get_experiment_by_name(name).experiment_id
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def file_md5(path: str | Path) -> str:
    """MD5 of the file's bytes: the hash DVC 3 records in .dvc files and dvc.lock."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_md5(data_path: str | Path) -> str | None:
    """The md5 that `<data_path>.dvc` records, i.e. the data version committed to git."""
    dvc_file = Path(f"{data_path}.dvc")
    if not dvc_file.exists():
        return None
    outs = load_yaml(dvc_file).get("outs") or [{}]
    return outs[0].get("md5")


def git_commit() -> str | None:
    """HEAD of the repository the stage runs in (the baseline commit in `dvc exp run`)."""
    return git("rev-parse", "HEAD")


def mlflow_dataset(frame: Any, path: str | Path, md5: str) -> Any:
    """An MLflow dataset for a DVC-tracked CSV; its digest is the DVC md5 of the file."""
    import mlflow.data

    with warnings.catch_warnings():
        # A local path matches two equivalent sources ("" and file:) and integer columns get a
        # hint about missing values; neither applies to a validated, complete CSV.
        warnings.filterwarnings("ignore", message="The specified dataset source")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        dataset = mlflow.data.from_pandas(
            frame, source=str(path), name=Path(path).stem, targets=TARGET, digest=md5
        )
        _ = dataset.schema  # inferred lazily: compute it while the hint is silenced
    return dataset


def split_features(frame: Any) -> tuple[Any, Any]:
    """Features and target of a prepared data frame."""
    return frame.drop(columns=[TARGET]), frame[TARGET]
