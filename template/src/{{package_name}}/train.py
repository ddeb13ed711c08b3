"""Stage `train`: fit the model on the training split, log it to MLflow and register a version.

The run records what a client needs to trust and reproduce the model: the parameters, the
training data as an MLflow dataset carrying its DVC md5, the raw data version, the git commit
and the DVC experiment name. The registered version is only a candidate; the evaluate stage
decides whether it becomes `champion`.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from . import lineage, metrics, model, predictor, tracking
from .prepare import features_and_target
from .settings import Settings, SettingsError


def fit(frame: pd.DataFrame, settings: Settings) -> Any:
    """The estimator of `model.build`, with params.yaml `train`, fitted on a prepared frame."""
    features, target = features_and_target(frame, settings.data)
    return model.build(**settings.train).fit(features, target)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted names (`train.C`), the same keys `dvc exp run -S` and `dvc params diff` use."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value) if isinstance(value, Path) else value
    return flat


def pip_requirements() -> list[str]:
    """Pinned requirements of the logged model; inferring them would cost ~10 s per run."""
    import mlflow
    import mlflow.sklearn

    flavor = mlflow.sklearn.get_default_pip_requirements(include_skops=True)
    return [f"mlflow=={mlflow.__version__}", *flavor]


def log_and_register(
    estimator: Any, frame: pd.DataFrame, settings: Settings, train_path: Path, raw_path: Path
) -> dict[str, Any]:
    """Log the run and the model, register a version; return what evaluate needs.

    MLflow must already point at the project's store and experiment (`tracking.setup`).
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    name = settings.mlflow.registered_model
    tags = lineage.tags(train_path, raw_path)
    features, target = features_and_target(frame, settings.data)
    predictions = predictor.predict(estimator, features)
    scores = metrics.compute(target, predictions, settings.data)
    parameters = {k: asdict(getattr(settings, k)) for k in ("data", "prepare")}
    with mlflow.start_run(tags=tags) as run:
        mlflow.log_params(flatten({**parameters, "train": settings.train}))
        mlflow.log_metrics({f"train_{k}": v for k, v in scores.items()})
        md5 = tags["dvc.train_data.md5"]
        dataset = tracking.dataset(frame, train_path, md5, settings.data.target)
        mlflow.log_input(dataset, context="training", tags={"dvc.md5": md5})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            signature = infer_signature(features, predictions.labels)
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=signature,
            input_example=features.head(3),
            pip_requirements=pip_requirements(),
        )
    # The version carries the lineage too, so the registry alone answers "where from?".
    lineage_tags = {k.removeprefix("mlflow.source."): v for k, v in tags.items()}
    version = str(mlflow.register_model(info.model_uri, name, tags=lineage_tags).version)
    return {
        "run_id": run.info.run_id,
        "model_id": info.model_id,
        "model_uri": info.model_uri,
        "registered_model": name,
        "version": version,
        "train_data_md5": md5,
    }


def run(
    settings: Settings,
    train_path: Path | None = None,
    info_path: Path | None = None,
    raw_path: Path | None = None,
) -> dict[str, Any]:
    """Train on the training split only, log, register and write the model info for evaluate."""
    # First: a dead tracking server should cost seconds, not a training run before it is noticed.
    tracking.setup(settings)
    train_path = train_path or settings.data.train
    info_path = info_path or settings.outputs.model_info
    frame = pd.read_csv(train_path)
    estimator = fit(frame, settings)
    info = log_and_register(estimator, frame, settings, train_path, raw_path or settings.data.raw)
    info_path.parent.mkdir(parents=True, exist_ok=True)
    info_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def main() -> int:
    try:
        settings = Settings.load()
    except SettingsError as error:
        print(f"train: {error}", file=sys.stderr)
        return 2
    try:
        info = run(settings)
    except Exception as error:
        if (line := tracking.server_failure(error, settings)) is None:
            raise
        print(f"train: {line}", file=sys.stderr)
        return 1
    print(
        f"train: run {info['run_id']} registered {info['registered_model']} "
        f"version {info['version']} ({settings.outputs.model_info})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
