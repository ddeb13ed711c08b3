"""Stage `evaluate`: measure the registered version on the client-held split and apply the gate.

The bar lives in evaluation/acceptance.yaml, owned by the client. A version that meets it for
the first time gets the registry alias `champion` (the version it replaces becomes `previous`,
as with `registry promote`), but only on the main line: a DVC experiment, uncommitted changes
or another branch leave `champion` where it is (`lineage.off_main_line` says why), and the
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

from . import gate, lineage, metrics, predictor, tracking
from .prepare import features_and_target
from .registry import ACCEPTANCE_TAG, PASSED, move_champion
from .settings import ACCEPTANCE_FILE, Acceptance, Settings, SettingsError
from .tracking import CHAMPION_ALIAS, PREVIOUS_ALIAS


@dataclass(frozen=True)
class Outcome:
    """The gate's verdict on one registered version."""

    model: str
    version: str
    value: float | None
    failure: str | None  # why the version misses the bar; None when it passed
    promoted: bool  # the gate moved `champion` to this version
    held: str | None  # why a passing version was not promoted: the run is off the main line
    champion: str | None  # the version holding the alias after the gate
    previous: str | None  # the version holding `previous` after the gate


def run(
    settings: Settings,
    bar: Acceptance,
    evaluation_path: Path | None = None,
    info_path: Path | None = None,
    hold: str | None = None,
) -> Outcome:
    """Evaluate the version named in the model info, log to its run, promote it if it passes.

    A failing version never takes the alias, and never takes it away either: the current
    champion may be serving, and it was accepted when it was evaluated. A version that had
    passed before is not promoted again, so rerunning the stage (a changed bar, a forced
    `dvc repro`) does not undo a `registry rollback` or `promote`. `hold`, the reason this run
    is off the main line (`main` passes `off_main_line()`), keeps a passing version a candidate.
    """
    import mlflow

    if problems := gate.problems(bar, metrics.METRICS):
        raise SettingsError(f"{ACCEPTANCE_FILE}: " + "; ".join(problems))
    evaluation_path = evaluation_path or settings.data.evaluation
    info = json.loads((info_path or settings.outputs.model_info).read_text(encoding="utf-8"))
    name, version = info["registered_model"], str(info["version"])

    tracking.setup(settings)
    frame = pd.read_csv(evaluation_path)
    features, target = features_and_target(frame, settings.data)
    predictions = predictor.predict(predictor.load(f"models:/{name}/{version}"), features)
    scores = metrics.compute(target, predictions, settings.data)
    write_outputs(settings, scores, target, predictions.labels)

    failure = gate.meets_bar(scores, bar)
    md5 = lineage.file_md5(evaluation_path)
    with mlflow.start_run(run_id=info["run_id"]):
        dataset = tracking.dataset(frame, evaluation_path, md5, settings.data.target)
        mlflow.log_input(dataset, context="evaluation", tags={"dvc.md5": md5})
        mlflow.log_metrics({f"eval_{k}": v for k, v in scores.items()})
        mlflow.set_tags(
            {
                "acceptance.metric": bar.metric,
                "acceptance.threshold": bar.threshold,
                "acceptance.passed": str(failure is None).lower(),
            }
        )
    client = mlflow.MlflowClient()
    before = client.get_model_version(name, version).tags.get(ACCEPTANCE_TAG) == PASSED
    client.set_model_version_tag(name, version, ACCEPTANCE_TAG, "failed" if failure else PASSED)
    if bar.metric in scores:
        client.set_model_version_tag(name, version, f"eval_{bar.metric}", str(scores[bar.metric]))
    promoted = failure is None and not before and hold is None
    if promoted:
        move_champion(client, name, version)
    aliases = {alias: str(n) for alias, n in client.get_registered_model(name).aliases.items()}
    return Outcome(
        model=name,
        version=version,
        value=scores.get(bar.metric),
        failure=failure,
        promoted=promoted,
        held=hold if failure is None and not before else None,
        champion=aliases.get(CHAMPION_ALIAS),
        previous=aliases.get(PREVIOUS_ALIAS),
    )


def write_outputs(
    settings: Settings, scores: dict[str, float], target: pd.Series, labels: Any
) -> None:
    """metrics.json and the predictions DVC plots (rounded: readable, stable diffs)."""
    outputs = settings.outputs
    outputs.metrics.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    outputs.predictions.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"actual": target, "predicted": labels})
    table.round(4).to_csv(outputs.predictions, index=False)


def main() -> int:
    settings = None
    try:
        settings, bar = Settings.load(), Acceptance.load()
        o = run(settings, bar, hold=lineage.off_main_line())
    except SettingsError as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        if (line := tracking.server_failure(error, settings)) is None:
            raise
        print(f"evaluate: {line}", file=sys.stderr)
        return 1
    value = "not computed" if o.value is None else f"{o.value:.4f}"
    model = (
        f"{o.model} version {o.version}: {bar.metric} = {value}, "
        f"threshold {bar.threshold:g} ({bar.direction})"
    )
    current = (
        f"version {o.champion} stays '{CHAMPION_ALIAS}'"
        if o.champion
        else f"no version is '{CHAMPION_ALIAS}'"
    )
    promote = f"python -m {__package__}.registry promote {o.version}"
    if o.failure:
        print(
            f"evaluate: REJECTED {model} on {settings.data.evaluation}: {o.failure}.\n"
            f"  No alias set ({current}). All metrics: {settings.outputs.metrics}. The bar is "
            "the client's: change it only with their review.",
            file=sys.stderr,
        )
        return 1
    if o.promoted:
        moved = f"alias '{CHAMPION_ALIAS}' -> version {o.version}"
        if o.previous:
            moved += f" ('{PREVIOUS_ALIAS}': version {o.previous})"
        print(f"evaluate: ACCEPTED {model}; {moved}")
    elif o.held:
        held = f"not promoted: {o.held} ({current}); to promote: {promote}"
        print(f"evaluate: ACCEPTED {model}; {held}")
    else:
        again = "" if o.champion == o.version else f"; to promote it: {promote}"
        print(f"evaluate: ACCEPTED {model}; it had passed before ({current}){again}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
