"""Paths, parameters and the MLflow connection shared by the pipeline stages.

Data paths are relative: DVC runs every stage from the repository root (or from a temporary
copy of it for `dvc exp run --temp`). MLflow state is anchored to the real repository root
instead, so a run logged from a temporary copy is not deleted with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")
ACCEPTANCE_FILE = Path("evaluation/acceptance.yaml")
TRAIN_CSV = Path("data/prepared/train.csv")
EVALUATION_CSV = Path("data/prepared/evaluation.csv")
TRAIN_INFO = Path("models/train.json")
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
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return Path.cwd().resolve()
    return Path(top).resolve() if top else Path.cwd().resolve()


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


class TrackingServerError(RuntimeError):
    """The tracking server cannot take this run; the message names the cause and the fix."""


def check_tracking_server(uri: str, timeout: float = 10.0) -> None:
    """Fail within seconds, naming the cause, when a tracking server cannot take runs.

    MLflow's client retries a server that is down, or whose bucket is gone, for minutes and
    then reports a bare retry error. Three requests without retries tell the causes apart: the
    server does not answer, it refuses the login, its artifact store cannot be used.
    Credentials come from the environment only (MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN), as MLflow reads them.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import base64
    import json
    import ssl
    import urllib.error
    import urllib.request

    base, headers = uri.rstrip("/"), {"Accept": "application/json"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if user:
        login = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
    elif token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    context = None
    if uri.startswith("https://"):
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            context = ssl._create_unverified_context()
        else:
            context = ssl.create_default_context(
                cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
            )

    def get(path: str) -> tuple[int, str]:
        request = urllib.request.Request(base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
                return answer.status, answer.read(65536).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            body = error.read(65536).decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):  # not MLflow's JSON error
                body = str(json.loads(body).get("message") or body)
            return error.code, body.strip()[:300] or str(error.reason)
        except (OSError, ValueError) as error:
            raise TrackingServerError(
                f"cannot reach the MLflow tracking server {uri} "
                f"({getattr(error, 'reason', error)}). Is it running, and is the address right? "
                f"It comes from MLFLOW_TRACKING_URI, else `mlflow.tracking_uri` in {PARAMS_FILE}."
            ) from None

    status, text = get("/health")
    if status != 200:
        raise TrackingServerError(
            f"the MLflow tracking server {uri} is not healthy: /health answered HTTP {status} "
            f"({text})"
        )
    status, text = get("/api/2.0/mlflow/experiments/search?max_results=1")
    if status == 401 and "Authorization" not in headers:
        raise TrackingServerError(
            f"the MLflow tracking server {uri} requires a login: set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD in the environment (never in a file git tracks); "
            "the server's admin creates the account."
        )
    if status == 401:
        raise TrackingServerError(
            f"the MLflow tracking server {uri} refused the login of "
            f"{repr(user) if user else 'MLFLOW_TRACKING_TOKEN'} (HTTP 401): check "
            "MLFLOW_TRACKING_PASSWORD (or the token), or ask the server's admin whether the "
            "account still exists."
        )
    if status == 403:
        raise TrackingServerError(
            f"the MLflow tracking server {uri} does not let {user or 'this token'!r} read "
            "experiments (HTTP 403): ask the server's admin for permission."
        )
    if status != 200:
        raise TrackingServerError(
            f"the MLflow tracking server {uri} answered HTTP {status} to a search: {text}"
        )
    # A server that proxies artifacts (the default) lists its artifact store here; one started
    # with --no-serve-artifacts answers 503 and the client writes to the store itself.
    status, text = get("/api/2.0/mlflow-artifacts/artifacts")
    if status not in (200, 503):
        raise TrackingServerError(
            f"the MLflow tracking server {uri} cannot use its artifact store, so no model can "
            f"be logged: {text} (HTTP {status}). Its operators must create the bucket or fix "
            "the server's --artifacts-destination and storage keys."
        )


def setup_mlflow(params: dict[str, Any]) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id."""
    import mlflow

    uri = tracking_uri(params)
    check_tracking_server(uri)
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
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


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
