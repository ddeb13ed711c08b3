"""Stage `evaluate`: measure the registered version on the client-held split and apply the gate.

The bar lives in evaluation/acceptance.yaml, owned by the client. A version that meets it for
the first time gets the registry alias `champion` (the version it replaces becomes `previous`,
as with `registry promote`), but only on the main line: a DVC experiment, uncommitted changes
or another branch leave `champion` where it is (`config.off_main_line` says why), and the
version waits for `registry promote`. One that misses the bar gets no alias and the stage exits
non-zero, so `dvc repro` and CI fail visibly instead of shipping a model nobody accepted.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import metrics
from .config import (
    ACCEPTANCE_FILE,
    CHAMPION_ALIAS,
    EVALUATION_CSV,
    METRICS_FILE,
    PREDICTIONS_CSV,
    PREVIOUS_ALIAS,
    TRAIN_INFO,
    file_md5,
    load_params,
    load_yaml,
    mlflow_dataset,
    off_main_line,
    server_failure,
    setup_mlflow,
    split_features,
)
from .registry import ACCEPTANCE_TAG, PASSED, move_champion


def check_acceptance(acceptance: dict[str, Any], task: str) -> list[str]:
    """Problems with an acceptance spec (empty when valid), worded for whoever edits the file."""
    metric = acceptance.get("metric")
    if metric not in metrics.METRICS:
        return [f"metric {metric!r} is not one of {', '.join(metrics.METRICS)}"]
    metric_task, direction = metrics.METRICS[metric]
    problems = []
    if metric_task != task:
        problems.append(f"metric {metric} is a {metric_task} metric; the task is {task}")
    if acceptance.get("direction") != direction:
        problems.append(f"direction must be {direction} for {metric}")
    threshold = acceptance.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        problems.append(f"threshold must be a number, not {threshold!r}")
    elif direction == metrics.HIGHER_IS_BETTER and metric != "r2" and not 0 <= threshold <= 1:
        problems.append(f"threshold {threshold} is outside the range of {metric} (0 to 1)")
    elif metric == "r2" and not threshold <= 1:
        problems.append(f"threshold {threshold} is above the best possible r2 (1)")
    elif direction == metrics.LOWER_IS_BETTER and not threshold > 0:
        problems.append(f"threshold {threshold} must be greater than 0 for {metric}")
    for key in ("business_kpi", "owner"):
        if not acceptance.get(key):
            problems.append(f"{key} is missing: the bar must name the KPI and its client owner")
    return problems


@dataclass(frozen=True)
class Outcome:
    """The gate's verdict on one registered version."""

    model: str
    version: str
    metric: str
    value: float
    threshold: float
    direction: str
    passed: bool
    promoted: bool  # the gate moved `champion` to this version
    held: str | None  # why a passing version was not promoted: the run is off the main line
    champion: str | None  # the version holding the alias after the gate
    previous: str | None  # the version holding `previous` after the gate


def run(
    params: dict[str, Any],
    acceptance: dict[str, Any],
    evaluation_path: str | Path = EVALUATION_CSV,
    info_path: str | Path = TRAIN_INFO,
    metrics_path: str | Path = METRICS_FILE,
    predictions_path: str | Path = PREDICTIONS_CSV,
    hold: str | None = None,
) -> Outcome:
    """Evaluate the version named in `info_path`, log to its run, promote it if it passes.

    A failing version never takes the alias, and never takes it away either: the current
    champion may be serving, and it was accepted when it was evaluated. A version that had
    passed before is not promoted again, so rerunning the stage (a changed bar, a forced
    `dvc repro`) does not undo a `registry rollback` or `promote`. `hold`, the reason this run
    is off the main line (`main` passes `off_main_line()`), keeps a passing version a candidate.
    """
    import mlflow
    import mlflow.sklearn

    task = params["data"]["task"]
    if problems := check_acceptance(acceptance, task):
        raise ValueError(f"{ACCEPTANCE_FILE}: " + "; ".join(problems))
    info = json.loads(Path(info_path).read_text(encoding="utf-8"))
    name, version = info["registered_model"], str(info["version"])

    setup_mlflow(params)
    model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    frame = pd.read_csv(evaluation_path)
    features, target = split_features(frame)
    scores, predicted = metrics.compute(
        task, model, features, target, params["data"].get("positive_label", 1)
    )
    Path(metrics_path).write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    Path(predictions_path).parent.mkdir(parents=True, exist_ok=True)
    if task == "regression":
        predicted = predicted.round(4)  # readable plot data, stable diffs
    pd.DataFrame({"actual": target, "predicted": predicted}).to_csv(predictions_path, index=False)

    metric, direction = acceptance["metric"], acceptance["direction"]
    threshold, value = float(acceptance["threshold"]), scores[metric]
    passed = metrics.passes(value, threshold, direction)
    md5 = file_md5(evaluation_path)
    with mlflow.start_run(run_id=info["run_id"]):
        dataset = mlflow_dataset(frame, evaluation_path, md5)
        mlflow.log_input(dataset, context="evaluation", tags={"dvc.md5": md5})
        mlflow.log_metrics({f"eval_{k}": v for k, v in scores.items()})
        mlflow.set_tags(
            {
                "acceptance.metric": metric,
                "acceptance.threshold": threshold,
                "acceptance.passed": str(passed).lower(),
            }
        )
    client = mlflow.MlflowClient()
    verdict_before = client.get_model_version(name, version).tags.get(ACCEPTANCE_TAG)
    client.set_model_version_tag(name, version, ACCEPTANCE_TAG, PASSED if passed else "failed")
    client.set_model_version_tag(name, version, f"eval_{metric}", str(value))
    promoted = passed and verdict_before != PASSED and hold is None
    if promoted:
        move_champion(client, name, version)
    aliases = client.get_registered_model(name).aliases
    champion, previous = aliases.get(CHAMPION_ALIAS), aliases.get(PREVIOUS_ALIAS)
    return Outcome(
        model=name,
        version=version,
        metric=metric,
        value=value,
        threshold=threshold,
        direction=direction,
        passed=passed,
        promoted=promoted,
        held=hold if passed and verdict_before != PASSED else None,
        champion=None if champion is None else str(champion),
        previous=None if previous is None else str(previous),
    )


def main() -> int:
    params = load_params()
    try:
        o = run(params, load_yaml(ACCEPTANCE_FILE), hold=off_main_line())
    except Exception as error:
        if (line := server_failure(error, params)) is None:
            raise
        print(f"evaluate: {line}", file=sys.stderr)
        return 1
    model = f"{o.model} version {o.version}"
    bar = f"{o.metric} = {o.value:.4f}, threshold {o.threshold:g} ({o.direction})"
    if o.promoted:
        moved = f"alias '{CHAMPION_ALIAS}' -> version {o.version}"
        if o.previous:
            moved += f" ('{PREVIOUS_ALIAS}': version {o.previous})"
        print(f"evaluate: ACCEPTED {model}: {bar}; {moved}")
        return 0
    current = (
        f"version {o.champion} stays '{CHAMPION_ALIAS}'"
        if o.champion
        else f"no version is '{CHAMPION_ALIAS}'"
    )
    promote = f"python -m {__package__}.registry promote {o.version}"
    if o.held:
        print(
            f"evaluate: ACCEPTED {model}: {bar}; not promoted: {o.held} ({current}); "
            f"to promote: {promote}"
        )
        return 0
    if o.passed:
        again = "" if o.champion == o.version else f"; to promote it: {promote}"
        print(f"evaluate: ACCEPTED {model}: {bar}; it had passed before ({current}){again}")
        return 0
    print(
        f"evaluate: REJECTED {model}: {bar} on {EVALUATION_CSV}.\n"
        f"  No alias set ({current}). All metrics: {METRICS_FILE}; the bar and its KPI:\n"
        f"  {ACCEPTANCE_FILE}, owned by the client: change it only with their review.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
