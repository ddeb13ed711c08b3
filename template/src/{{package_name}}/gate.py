"""The client's bar, applied through MLflow's own model validation.

evaluation/acceptance.yaml names a metric, its direction and a threshold; `meets_bar` turns
them into an MLflow `MetricThreshold` and runs `mlflow.validate_evaluation_results`, which the
evaluate stage and tests/test_gate.py share. `Metric` describes one row of metrics.py's table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .settings import ACCEPTANCE_FILE, HIGHER_IS_BETTER, LOWER_IS_BETTER, Acceptance


@dataclass(frozen=True)
class Metric:
    #: (target, Predictions, settings.Data) -> the value.
    score: Callable[..., float]
    greater_is_better: bool
    #: The thresholds that make sense for it, inclusive.
    lowest: float
    highest: float


def problems(bar: Acceptance, table: Mapping[str, Metric]) -> list[str]:
    """What is wrong with the bar for this project's metrics, worded for whoever edits it."""
    metric = table.get(bar.metric)
    if metric is None:
        return [f"metric {bar.metric!r} is not one of {', '.join(table)}"]
    found, direction = [], HIGHER_IS_BETTER if metric.greater_is_better else LOWER_IS_BETTER
    if bar.direction != direction:
        found.append(f"direction must be {direction} for {bar.metric}")
    if not metric.lowest <= bar.threshold <= metric.highest:
        found.append(
            f"threshold {bar.threshold:g} is outside the range of {bar.metric} "
            f"({metric.lowest:g} to {metric.highest:g})"
        )
    return found


def _validate(thresholds: dict[str, Any], scores: dict[str, float], baseline: Any) -> str | None:
    import mlflow
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    missing = sorted(set(thresholds) - set(scores))
    if missing:
        return f"{', '.join(missing)} could not be computed for this model"
    logging.getLogger("mlflow.models.evaluation.validation").setLevel(logging.WARNING)
    try:
        mlflow.validate_evaluation_results(
            thresholds,
            EvaluationResult(metrics=scores, artifacts={}),
            None if baseline is None else EvaluationResult(metrics=baseline, artifacts={}),
        )
    except ModelValidationFailedException as failure:
        return " ".join(str(failure).split())
    return None


def meets_bar(scores: dict[str, float], bar: Acceptance) -> str | None:
    """None when `scores` meet the bar (reaching the threshold counts); else MLflow's reason."""
    from mlflow.models import MetricThreshold

    threshold = MetricThreshold(
        threshold=float(bar.threshold), greater_is_better=bar.greater_is_better
    )
    failure = _validate({bar.metric: threshold}, scores, None)
    return None if failure is None else f"{failure} (the bar: {ACCEPTANCE_FILE})"


def beats(
    scores: dict[str, float], baseline: dict[str, float], bar: Acceptance, margin: float
) -> str | None:
    """None when the bar's metric beats `baseline` by `margin`: absolute for a metric where
    greater is better (scores 0 to 1), relative for an error (0.1: a tenth less error)."""
    from mlflow.models import MetricThreshold

    if bar.greater_is_better:
        threshold = MetricThreshold(min_absolute_change=margin, greater_is_better=True)
    else:
        threshold = MetricThreshold(min_relative_change=margin, greater_is_better=False)
    return _validate({bar.metric: threshold}, scores, baseline)
