"""The MLflow connection the stages and the registry commands share.

The store is MLFLOW_TRACKING_URI when set, else params.yaml `mlflow.tracking_uri`, else the
sqlite mlflow.db at the repository root (anchored to the real root, so a run logged from the
temporary copy of `dvc exp run --temp` is not deleted with it).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .lineage import project_root
from .settings import Settings

CHAMPION_ALIAS = "champion"
#: The version that held `champion` before it last moved: where a rollback goes.
PREVIOUS_ALIAS = "previous"
#: MLflow retries a failing server 7 times with backoff factor 2 and waits up to 120 s for each
#: answer: minutes before an error. Unless the user set them, these bound it to seconds; a
#: server that answers but breaks still fails, in one line (`server_failure`).
SERVER_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def tracking_uri(settings: Settings) -> str:
    """MLFLOW_TRACKING_URI, else params.yaml, else the repository's sqlite database (absolute:
    a cwd-relative URI would scatter databases into temporary directories)."""
    return (
        os.environ.get("MLFLOW_TRACKING_URI")
        or settings.mlflow.tracking_uri
        or f"sqlite:///{project_root() / 'mlflow.db'}"
    )


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def bound_retries(uri: str) -> None:
    """Before MLflow talks to a tracking server, bound its retries (`SERVER_HTTP_LIMITS`)."""
    if is_server(uri):
        for variable, value in SERVER_HTTP_LIMITS.items():
            os.environ.setdefault(variable, value)


def connect(settings: Settings) -> str:
    """Point MLflow at the project's store, its retries bounded for a server; return the URI."""
    import mlflow

    uri = tracking_uri(settings)
    bound_retries(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def setup(settings: Settings) -> str:
    """Connect and select the project's experiment (creating it); return its id."""
    import mlflow

    uri = connect(settings)
    name = settings.mlflow.experiment
    if (experiment := mlflow.get_experiment_by_name(name)) is None:
        # Artifacts beside a sqlite database go to mlruns/ next to it; a server stores its own.
        database = Path(uri.removeprefix("sqlite:///")).resolve()
        artifacts = (database.parent / "mlruns").as_uri() if uri.startswith("sqlite:") else None
        try:
            experiment_id = mlflow.create_experiment(name, artifact_location=artifacts)
        except mlflow.exceptions.MlflowException:  # another process created it meanwhile
            experiment_id = mlflow.get_experiment_by_name(name).experiment_id
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def server_failure(error: Exception, settings: Settings | None) -> str | None:
    """One line for an error of MLflow's client on a tracking server, pointing at
    `handover doctor`; None for any other error (a local store keeps its traceback)."""
    uri = "" if settings is None else tracking_uri(settings)
    if not is_server(uri):
        return None
    import requests
    import urllib3
    from mlflow.exceptions import MlflowException

    failures = MlflowException | requests.RequestException | urllib3.exceptions.HTTPError
    if not isinstance(error, failures):
        return None
    parts = urlsplit(uri)
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no password
    message = " ".join(str(error).split()).rstrip(".") or type(error).__name__
    return (
        f"the MLflow tracking server {shown} failed: {message[:500]}. `handover doctor` names "
        "the cause (server down, login refused, bucket missing)."
    )


def dataset(frame: Any, path: Path, md5: str, target: str) -> Any:
    """An MLflow dataset for a DVC-tracked CSV; its digest is the DVC md5 of the file."""
    import mlflow.data

    with warnings.catch_warnings():
        # A local path matches two equivalent sources ("" and file:) and integer columns get a
        # hint about missing values; neither applies to a validated, complete CSV.
        warnings.filterwarnings("ignore", message="The specified dataset source")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        found = mlflow.data.from_pandas(
            frame, source=str(path), name=path.stem, targets=target, digest=md5
        )
        _ = found.schema  # inferred lazily: compute it while the hint is silenced
    return found
