"""Stage `train`: fit the model on the training split, log it to MLflow and register a version.

The run records what a client needs to trust and reproduce the model: the parameters, the
training data as an MLflow dataset carrying its DVC md5, the raw data version, the git commit
and the DVC experiment name. The registered version is only a candidate; the evaluate stage
decides whether it becomes `champion`.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from . import metrics
from .config import (
    TRAIN_CSV,
    TRAIN_INFO,
    dvc_md5,
    file_md5,
    git_commit,
    load_params,
    mlflow_dataset,
    server_failure,
    setup_mlflow,
    split_features,
)


def build_model(task: str, hyperparameters: dict[str, Any]) -> Any:
    """A scaled linear model: fast, explainable, and a fair baseline for the client's data."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "classification":
        estimator: Any = LogisticRegression(**hyperparameters)
    elif task == "regression":
        estimator = Ridge(**hyperparameters)
    else:
        raise ValueError(f"unknown task {task!r}: expected classification or regression")
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])


def fit(frame: pd.DataFrame, params: dict[str, Any]) -> Any:
    """Fit the model on a prepared training frame."""
    features, target = split_features(frame)
    return build_model(params["data"]["task"], params["train"]).fit(features, target)


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted names (`train.C`), the same keys `dvc exp run -S` and `dvc params diff` use."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def pip_requirements() -> list[str]:
    """Pinned requirements of the logged model; inferring them would cost ~10 s per run."""
    import mlflow
    import mlflow.sklearn

    flavor = mlflow.sklearn.get_default_pip_requirements(include_skops=True)
    return [f"mlflow=={mlflow.__version__}", *flavor]


def log_and_register(
    model: Any,
    frame: pd.DataFrame,
    params: dict[str, Any],
    train_path: str | Path = TRAIN_CSV,
    raw_path: str | Path | None = None,
) -> dict[str, Any]:
    """Log the run and the model, register a version; return what evaluate needs.

    MLflow must already point at the project's store and experiment (`setup_mlflow`).
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    raw_path = raw_path or params["data"]["raw"]
    name = params["mlflow"]["registered_model"]
    train_md5 = file_md5(train_path)
    tags = {"dvc.train_data.path": str(train_path), "dvc.train_data.md5": train_md5}
    if raw_md5 := dvc_md5(raw_path):
        tags |= {"dvc.raw_data.path": str(raw_path), "dvc.raw_data.md5": raw_md5}
    # DVC sets these in `dvc exp run`; the git commit of such a run is the experiment's baseline.
    for variable in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV"):
        if value := os.environ.get(variable):
            tags[f"dvc.{variable.lower().removeprefix('dvc_')}"] = value
    if commit := git_commit():
        # MLflow derives the commit from the entry script's repository, which is not this one
        # when the package is installed elsewhere or run from another tool's venv: use ours.
        tags["mlflow.source.git.commit"] = commit

    features, target = split_features(frame)
    scores, predicted = metrics.compute(
        params["data"]["task"], model, features, target, params["data"].get("positive_label", 1)
    )
    with mlflow.start_run(tags=tags) as run:
        mlflow.log_params(flatten({k: params[k] for k in ("data", "prepare", "train")}))
        mlflow.log_metrics({f"train_{k}": v for k, v in scores.items()})
        dataset = mlflow_dataset(frame, train_path, train_md5)
        mlflow.log_input(dataset, context="training", tags={"dvc.md5": train_md5})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            signature = infer_signature(features, predicted)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=features.head(3),
            pip_requirements=pip_requirements(),
        )
    # The version carries the lineage too, so the registry alone answers "where from?".
    lineage = {k.removeprefix("mlflow.source."): v for k, v in tags.items()}
    version = str(mlflow.register_model(info.model_uri, name, tags=lineage).version)
    return {
        "run_id": run.info.run_id,
        "model_id": info.model_id,
        "model_uri": info.model_uri,
        "registered_model": name,
        "version": version,
        "train_data_md5": train_md5,
    }


def run(
    params: dict[str, Any],
    train_path: str | Path = TRAIN_CSV,
    info_path: str | Path = TRAIN_INFO,
    raw_path: str | Path | None = None,
) -> dict[str, Any]:
    """Train on the training split only, log, register and write `info_path` for evaluate."""
    # First: a dead tracking server should cost seconds, not a training run before it is noticed.
    setup_mlflow(params)
    frame = pd.read_csv(train_path)
    model = fit(frame, params)
    info = log_and_register(model, frame, params, train_path=train_path, raw_path=raw_path)
    Path(info_path).parent.mkdir(parents=True, exist_ok=True)
    Path(info_path).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def main() -> int:
    params = load_params()
    try:
        info = run(params)
    except Exception as error:
        if (line := server_failure(error, params)) is None:
            raise
        print(f"train: {line}", file=sys.stderr)
        return 1
    print(
        f"train: run {info['run_id']} registered {info['registered_model']} "
        f"version {info['version']} ({TRAIN_INFO})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
