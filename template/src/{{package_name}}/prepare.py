"""Stage `prepare`: split the raw data into a training set and the client-held evaluation set.

The evaluation split is written to its own file and the train stage never reads it, so the
acceptance metric is measured on rows the model has not seen. The split is seeded (and
stratified for classification) so that a rerun reproduces the same files byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from .config import EVALUATION_CSV, TARGET, TRAIN_CSV, load_params


def load_raw(path: str | Path) -> pd.DataFrame:
    """Read the raw CSV and refuse data the pipeline cannot trust (missing target or values)."""
    frame = pd.read_csv(path)
    if TARGET not in frame.columns:
        raise ValueError(f"{path}: no '{TARGET}' column")
    missing = frame.columns[frame.isna().any()].tolist()
    if missing:
        raise ValueError(f"{path}: missing values in {', '.join(missing)}")
    return frame


def split(
    frame: pd.DataFrame, *, task: str, evaluation_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and evaluation rows; the original index is kept so callers can check overlap.

    Classification samples the same share of every class (stratified), so a rare class is not
    missing from the evaluation split by chance. Plain pandas: no scikit-learn import cost.
    """
    if not 0 < evaluation_size < 1:
        raise ValueError(f"prepare.evaluation_size must be between 0 and 1, not {evaluation_size}")
    if task == "classification":
        groups = frame.groupby(TARGET, group_keys=False, sort=True)
        evaluation = groups.sample(frac=evaluation_size, random_state=seed)
    else:
        evaluation = frame.sample(frac=evaluation_size, random_state=seed)
    evaluation = evaluation.sort_index()
    return frame.drop(index=evaluation.index), evaluation


def run(
    params: dict[str, Any],
    raw_path: str | Path | None = None,
    train_path: str | Path = TRAIN_CSV,
    evaluation_path: str | Path = EVALUATION_CSV,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read, split and write both sets."""
    frame = load_raw(raw_path or params["data"]["raw"])
    train, evaluation = split(
        frame,
        task=params["data"]["task"],
        evaluation_size=params["prepare"]["evaluation_size"],
        seed=params["prepare"]["seed"],
    )
    for data, path in ((train, train_path), (evaluation, evaluation_path)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        data.to_csv(path, index=False)
    return train, evaluation


def main() -> int:
    train, evaluation = run(load_params())
    print(
        f"prepare: {len(train)} training rows -> {TRAIN_CSV}, "
        f"{len(evaluation)} evaluation rows -> {EVALUATION_CSV}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
