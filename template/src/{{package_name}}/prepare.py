"""Stage `prepare`: split the raw data into a training set and the client-held evaluation set.

The evaluation split is written to its own file and the train stage never reads it, so the
acceptance metric is measured on rows the model has not seen. The split is seeded (and
stratified when params.yaml says so) so that a rerun reproduces the same files byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from .settings import Data, Prepare, Settings, SettingsError


def load_raw(path: Path, target: str) -> pd.DataFrame:
    """Read the raw CSV and refuse data the pipeline cannot trust (missing target or values)."""
    frame = pd.read_csv(path)
    if target not in frame.columns:
        raise ValueError(f"{path}: no '{target}' column")
    if missing := frame.columns[frame.isna().any()].tolist():
        raise ValueError(f"{path}: missing values in {', '.join(missing)}")
    return frame


def features_and_target(frame: pd.DataFrame, data: Data) -> tuple[pd.DataFrame, pd.Series]:
    """The feature columns and the target column of a prepared frame."""
    return frame.drop(columns=[data.target]), frame[data.target]


def split(frame: pd.DataFrame, prepare: Prepare, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and evaluation rows; the original index is kept so callers can check overlap.

    Stratified, the same share of every target value is sampled, so a rare class is not missing
    from the evaluation split by chance. Plain pandas: no scikit-learn import cost.
    """
    if not 0 < prepare.evaluation_size < 1:
        raise ValueError(
            f"prepare.evaluation_size must be between 0 and 1, not {prepare.evaluation_size}"
        )
    rows = frame.groupby(target, group_keys=False, sort=True) if prepare.stratify else frame
    evaluation = rows.sample(frac=prepare.evaluation_size, random_state=prepare.seed)
    evaluation = evaluation.sort_index()
    return frame.drop(index=evaluation.index), evaluation


def run(
    settings: Settings,
    raw_path: Path | None = None,
    train_path: Path | None = None,
    evaluation_path: Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read, split and write both sets (to params.yaml's paths unless others are given)."""
    data = settings.data
    frame = load_raw(raw_path or data.raw, data.target)
    train, evaluation = split(frame, settings.prepare, data.target)
    paths = (train_path or data.train, evaluation_path or data.evaluation)
    for rows, path in zip((train, evaluation), paths, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(path, index=False)
    return train, evaluation


def main() -> int:
    try:
        settings = Settings.load()
    except SettingsError as error:
        print(f"prepare: {error}", file=sys.stderr)
        return 2
    train, evaluation = run(settings)
    print(
        f"prepare: {len(train)} training rows -> {settings.data.train}, "
        f"{len(evaluation)} evaluation rows -> {settings.data.evaluation}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
