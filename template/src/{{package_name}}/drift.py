"""Drift check: does new data still look like the data the model was trained on?

For every feature it compares the new data (CURRENT_CSV) with the training reference:

- PSI, the population stability index, over quantile bins of the reference. Rule of thumb:
  below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one. A feature above
  params.yaml `drift.psi_threshold` counts as drifted and fails the check.
- The two-sample Kolmogorov-Smirnov statistic and p-value, reported to help read a PSI value.
  They do not decide: on large batches KS finds shifts too small to matter.

PSI carries sampling noise of about (bins - 1) * (1/n_reference + 1/n_current), so small batches
need few bins: 5 suit batches of about a hundred rows, 10 several hundred or more.

It is an operations command run on new data, not a pipeline stage: see `--help` for usage.
Exit codes: 0 no drift, 1 drift (the features are named), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .settings import PARAMS_FILE, Settings, SettingsError

#: Stands in for an empty bin's share, so that PSI stays finite (ln 0 is -inf).
EPSILON = 1e-4


class BadInput(Exception):
    """The data or the settings cannot be compared (exit 2)."""


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


def psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    """Population stability index of `current` against `reference`.

    Bin edges are reference quantiles, so each bin holds about 1/bins of the reference; values
    outside the reference's range fall into the outer bins. Duplicate edges (a feature with few
    distinct values) merge, which makes each distinct value its own bin.
    """
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.clip(counts / len(values), EPSILON, None)

    expected, actual = shares(reference), shares(current)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def compare(
    reference: pd.DataFrame, current: pd.DataFrame, bins: int, threshold: float
) -> list[FeatureDrift]:
    """PSI and KS per feature, most drifted first."""
    from scipy.stats import ks_2samp

    results = []
    for feature in reference.columns:
        ref, cur = reference[feature].to_numpy(float), current[feature].to_numpy(float)
        ks = ks_2samp(ref, cur)
        value = psi(ref, cur, bins)
        results.append(
            FeatureDrift(
                feature=feature,
                psi=round(value, 6),
                ks_statistic=round(float(ks.statistic), 6),
                ks_pvalue=float(f"{ks.pvalue:.6g}"),
                drifted=value > threshold,
            )
        )
    return sorted(results, key=lambda r: r.psi, reverse=True)


def read_features(path: Path, role: str, target: str) -> pd.DataFrame:
    """The feature columns of a CSV (the target, if present, is ignored); BadInput if unusable."""
    if not path.is_file():
        hint = " (run `dvc pull` or `dvc repro` to produce it)" if role == "reference" else ""
        raise BadInput(f"{role} data {path} does not exist{hint}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise BadInput(f"{role} data {path} is not a readable CSV file: {error}") from None
    frame = frame.drop(columns=[target], errors="ignore")
    if frame.empty:
        raise BadInput(f"{role} data {path} has no rows or no feature columns")
    if text := [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]:
        raise BadInput(f"{role} data {path}: non-numeric column(s) {', '.join(text)}")
    if missing := frame.columns[frame.isna().any()].tolist():
        raise BadInput(f"{role} data {path}: missing values in {', '.join(missing)}")
    return frame


def check(
    current_path: Path, reference_path: Path, bins: int, threshold: float, target: str
) -> dict[str, Any]:
    """The drift report for `current_path` against `reference_path`."""
    reference = read_features(reference_path, "reference", target)
    current = read_features(current_path, "current", target)
    missing = [c for c in reference.columns if c not in current.columns]
    extra = [c for c in current.columns if c not in reference.columns]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if extra:
            problems.append(f"not in the reference: {', '.join(extra)}")
        raise BadInput(
            f"the columns of {current_path} differ from the reference {reference_path}: "
            + "; ".join(problems)
        )
    features = compare(reference, current[reference.columns], bins, threshold)
    drifted = [f.feature for f in features if f.drifted]
    return {
        "verdict": "drift" if drifted else "no drift",
        "drifted": drifted,
        "psi_threshold": threshold,
        "bins": bins,
        "reference": {"path": str(reference_path), "rows": len(reference)},
        "current": {"path": str(current_path), "rows": len(current)},
        "features": [asdict(f) for f in features],
    }


def table(report: dict[str, Any]) -> str:
    """The features as aligned text, most drifted first."""
    frame = pd.DataFrame(report["features"])
    frame["drifted"] = frame["drifted"].map({True: "DRIFT", False: ""})
    return frame.to_string(index=False, float_format="{:.4f}".format)


def build_parser() -> argparse.ArgumentParser:
    command = f"python -m {__package__}.drift"
    parser = argparse.ArgumentParser(
        prog=command,
        description=(
            "Compare new data with the training data, feature by feature (PSI and\n"
            f"Kolmogorov-Smirnov). Settings: {PARAMS_FILE} `drift`; the reference: `data.train`."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            f"  {command} data/prepared/evaluation.csv\n"
            f"  {command} new_batch.csv --report reports/new_batch.json\n"
            "\nexit codes: 0 no drift, 1 drift above drift.psi_threshold, 2 bad input"
        ),
    )
    parser.add_argument("current", type=Path, metavar="CURRENT_CSV", help="the new data")
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="CSV",
        help="the data to compare with (default: data.train)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="PATH",
        help="where to write the JSON report (default: drift.report)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load()
        drift, data = settings.drift, settings.data
        threshold, bins = drift.psi_threshold, drift.bins
        if threshold <= 0 or bins < 2:
            raise BadInput(f"{PARAMS_FILE}: drift.psi_threshold must be above 0 and bins >= 2")
        report = check(args.current, args.reference or data.train, bins, threshold, data.target)
    except (BadInput, SettingsError) as error:
        print(f"drift: {error}", file=sys.stderr)
        return 2
    report_path = args.report or drift.report
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"{report['current']['path']} ({report['current']['rows']} rows) against "
        f"{report['reference']['path']} ({report['reference']['rows']} rows), "
        f"PSI threshold {threshold:g}, {bins} bins:\n{table(report)}"
    )
    if report["drifted"]:
        print(
            f"drift: DRIFT in {len(report['drifted'])} of {len(report['features'])} features "
            f"(PSI above {threshold:g}): {', '.join(report['drifted'])}. Report: {report_path}",
            file=sys.stderr,
        )
        return 1
    print(f"drift: no drift (every PSI at or below {threshold:g}). Report: {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
