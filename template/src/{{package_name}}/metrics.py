"""Metric definitions and the acceptance rule, shared by training and evaluation.

One table says which task a metric belongs to and which direction is better, so the gate, the
acceptance-file check and the tests cannot disagree about it.
"""

from __future__ import annotations

from typing import Any

HIGHER_IS_BETTER = "higher_is_better"
LOWER_IS_BETTER = "lower_is_better"

#: metric -> (task, direction)
METRICS: dict[str, tuple[str, str]] = {
    "f1": ("classification", HIGHER_IS_BETTER),
    "accuracy": ("classification", HIGHER_IS_BETTER),
    "roc_auc": ("classification", HIGHER_IS_BETTER),
    "r2": ("regression", HIGHER_IS_BETTER),
    "rmse": ("regression", LOWER_IS_BETTER),
    "mae": ("regression", LOWER_IS_BETTER),
}


def compute(
    task: str, model: Any, features: Any, target: Any, positive_label: Any = 1
) -> tuple[dict[str, float], Any]:
    """All metrics of the task for `model` on (features, target), and its predictions.

    Classification metrics treat `positive_label` as the class to flag, which need not be the
    label sklearn sorts last (in the breast cancer data 0 means malignant).
    """
    from sklearn import metrics as m

    predicted = model.predict(features)
    if task == "classification":
        column = list(model.classes_).index(positive_label)
        score = model.predict_proba(features)[:, column]
        values = {
            "f1": m.f1_score(target, predicted, pos_label=positive_label),
            "precision": m.precision_score(target, predicted, pos_label=positive_label),
            "recall": m.recall_score(target, predicted, pos_label=positive_label),
            "accuracy": m.accuracy_score(target, predicted),
            "roc_auc": m.roc_auc_score(target == positive_label, score),
        }
    elif task == "regression":
        values = {
            "r2": m.r2_score(target, predicted),
            "rmse": m.root_mean_squared_error(target, predicted),
            "mae": m.mean_absolute_error(target, predicted),
        }
    else:
        raise ValueError(f"unknown task {task!r}: expected classification or regression")
    return {name: round(float(value), 6) for name, value in values.items()}, predicted


def passes(value: float, threshold: float, direction: str) -> bool:
    """Whether `value` meets the bar; reaching the threshold exactly counts as meeting it."""
    if direction == HIGHER_IS_BETTER:
        return value >= threshold
    if direction == LOWER_IS_BETTER:
        return value <= threshold
    raise ValueError(f"unknown direction {direction!r}: {HIGHER_IS_BETTER} or {LOWER_IS_BETTER}")
