"""`handover card`: write the champion version's results and lineage into the model card.

The MLflow registry knows which version holds `champion`, the run that trained it, its commit,
its data versions and its evaluation metrics; the card must say the same, or it is a document
nobody can trust. Only the card's two generated regions and two front-matter keys
(`model-index` metric values, `handover.lineage`) are rewritten, so the client's prose and
comments survive; nothing is written when the card already agrees, so a second run, or CI with
`--check`, sees no change.
"""

from __future__ import annotations

import difflib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap

from mlops_handover.audit.mlflow_store import CHAMPION, TrackingTarget, open_store, sqlite_path
from mlops_handover.audit.model import Missing, Unavailable, Unreadable
from mlops_handover.audit.readers import read_text
from mlops_handover.documents import (
    MODEL_CARD,
    MODEL_CARD_REGIONS,
    RegionError,
    dump_yaml,
    read_front_matter,
    replace_region,
    round_trip_yaml,
    split_front_matter,
)
from mlops_handover.errors import HandoverError

EVAL_PREFIX = "eval_"
LOWER_IS_BETTER = {"rmse", "mae"}
DATA_CONTEXTS = ("training", "evaluation")


@dataclass(frozen=True)
class DataVersion:
    """An MLflow dataset input of the run: its role, file and DVC md5."""

    context: str
    name: str
    source: str
    digest: str


@dataclass(frozen=True)
class Champion:
    """What the registry says about the version holding the alias."""

    registered_model: str
    alias: str
    version: str
    registered_at: str
    run_id: str
    experiment: str
    git_commit: str
    raw_data: DataVersion | None  # the DVC-tracked file the splits are made from
    data: list[DataVersion]
    metrics: dict[str, float]  # evaluation metrics, `eval_` dropped, primary first
    primary_metric: str
    threshold: float | None
    acceptance: str  # the gate's verdict on the version (tag `acceptance`), "" if none

    @property
    def bar(self) -> str:
        if self.threshold is None:
            return ""
        return f"{'<=' if self.primary_metric in LOWER_IS_BETTER else '>='} {self.threshold:g}"


@dataclass
class CardResult:
    """What `handover card` did: `updated`, `unchanged`, or `out_of_date` (with --check)."""

    card: str
    status: str
    tracking_uri: str
    champion: Champion
    seconds: float
    diff: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def load_params(project: Path) -> dict[str, Any]:
    path = project / "params.yaml"
    if not path.is_file():
        return {}
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise HandoverError(f"{path} is not valid YAML: {error}", 2) from error
    return params if isinstance(params, dict) else {}


def tracking_target(
    project: Path, params: dict[str, Any], name: str, environ: Mapping[str, str] | None = None
) -> TrackingTarget:
    """The generated project's rule (config.py): environment, params.yaml, then mlflow.db."""
    environ = os.environ if environ is None else environ
    if uri := environ.get("MLFLOW_TRACKING_URI"):
        source = "environment variable MLFLOW_TRACKING_URI"
    elif uri := (params.get("mlflow") or {}).get("tracking_uri"):
        source = "params.yaml mlflow.tracking_uri"
    else:
        uri, source = f"sqlite:///{project.resolve() / 'mlflow.db'}", "the default ./mlflow.db"
    return TrackingTarget(str(uri), source, registered_model=name)


def read_champion(
    target: TrackingTarget, project: Path, alias: str, acceptance: dict[str, Any]
) -> Champion:
    """The version holding `alias` and its run, read by the audit's store reader.

    It reads the SQLite file, or a server over REST with one 5 s timeout, without importing
    MLflow (seconds), so the card works in a light install and a dead server fails at once.
    """
    uri, name = str(target.uri), str(target.registered_model)
    try:
        store = open_store(target, project, dict(os.environ), offline=False)
        model = store.registered_model(name)
        if model is None:
            raise HandoverError(
                f"no registered model {name!r} in {store.display_uri}: run `dvc repro` to train "
                "and register one, or pass --model NAME.",
                1,
            )
        version = store.alias(name, alias)  # None too when the alias names a deleted version
        if version is None:
            raise HandoverError(
                f"no version of {name!r} holds the alias {alias!r} in {store.display_uri}: run "
                "`dvc repro` until a version passes the acceptance gate "
                "(evaluation/acceptance.yaml), or promote one that did.",
                1,
            )
        experiment = next(
            (e.name for e in store.experiments() if e.experiment_id == version.experiment_id), ""
        )
    except Missing as error:
        raise HandoverError(
            f"no MLflow database at {sqlite_path(uri, project)}: run `dvc repro` to train, "
            "register and evaluate a version (or set MLFLOW_TRACKING_URI to where it is).",
            1,
        ) from error
    except Unavailable as error:
        where = "" if target.source in str(error) else f" (tracking URI from {target.source})"
        raise HandoverError(f"cannot read the MLflow registry: {error}{where}", 1) from error

    tags = version.run_tags
    primary = tags.get("acceptance.metric") or str(acceptance.get("metric", ""))
    threshold = tags.get("acceptance.threshold", acceptance.get("threshold"))
    evaluation = {
        key.removeprefix(EVAL_PREFIX): value
        for key, value in sorted(version.metrics.items())
        if key.startswith(EVAL_PREFIX)
    }
    metrics = {k: evaluation[k] for k in [primary] if k in evaluation} | evaluation
    order = {context: i for i, context in enumerate(DATA_CONTEXTS)}
    data = sorted(
        (DataVersion(d.context or "", d.name, d.source, d.digest) for d in version.datasets),
        key=lambda d: (order.get(d.context, len(order)), d.context, d.name),
    )
    raw_path, raw_md5 = tags.get("dvc.raw_data.path", ""), tags.get("dvc.raw_data.md5")
    raw = DataVersion("raw", Path(raw_path).stem, raw_path, raw_md5) if raw_md5 else None
    return Champion(
        registered_model=name,
        alias=alias,
        version=str(version.version),
        registered_at=version.created or "",
        run_id=version.run_id or "",
        experiment=experiment,
        git_commit=version.git_commit or "",
        raw_data=raw,
        data=data,
        metrics=metrics,
        primary_metric=primary,
        threshold=None if threshold in (None, "") else float(threshold),
        acceptance=version.tags.get("acceptance", ""),
    )


def results_region(champion: Champion) -> str:
    """A Markdown table of the evaluation metrics, the bar and the gate's verdict."""
    c = champion
    rows = [
        f"Version {c.version} of `{c.registered_model}` (alias `{c.alias}`), MLflow run "
        f"`{c.run_id}`,",
        "on the client-held evaluation split:",
        "",
        "| metric | value | acceptance bar | verdict |",
        "|---|---|---|---|",
    ]
    for name, value in c.metrics.items():
        if name == c.primary_metric:
            rows.append(
                f"| **{name}** | {value:.6g} | {c.bar} | {c.acceptance or 'not recorded'} |"
            )
        else:
            rows.append(f"| {name} | {value:.6g} | | |")
    if not c.metrics:
        rows.append("| (no `eval_` metrics on the run) | | | |")
    return "\n".join(rows)


def lineage_region(champion: Champion) -> str:
    """Where the version came from, and the commands that rebuild it."""
    c = champion
    lines = [
        f"- **Registered model:** `{c.registered_model}` version {c.version}, alias "
        f"`{c.alias}`, registered {c.registered_at}",
        f"- **MLflow run:** `{c.run_id}` in experiment `{c.experiment}`",
        f"- **Git commit:** `{c.git_commit or 'not recorded'}`",
    ]
    lines += [
        f"- **{d.context.capitalize() or 'Other'} data:** `{d.source or d.name}`, md5 `{d.digest}`"
        for d in ([c.raw_data] if c.raw_data else []) + c.data
    ]
    lines.append(f"- **Acceptance gate:** {c.acceptance or 'not recorded'}")
    if c.git_commit:
        lines += [
            "",
            "Rebuild this version:",
            "",
            "```bash",
            f"git checkout {c.git_commit} && dvc pull && dvc repro",
            "```",
        ]
    return "\n".join(lines)


def lineage_metadata(champion: Champion) -> dict[str, Any]:
    c = champion
    data = {d.context or d.name: d.digest for d in ([c.raw_data] if c.raw_data else []) + c.data}
    lineage = {
        "registered_model": c.registered_model,
        "version": c.version,
        "alias": c.alias,
        "registered_at": c.registered_at,
        "run_id": c.run_id,
        "experiment": c.experiment,
        "git_commit": c.git_commit,
        "data_md5": {k: v for k, v in data.items() if v},
        "acceptance": c.acceptance,
    }
    return {k: v for k, v in lineage.items() if v}


def model_index_metrics(metadata: dict[str, Any]) -> list[Any] | None:
    """The metrics list of the card's first model-index result, where the values go."""
    try:
        metrics = metadata["model-index"][0]["results"][0]["metrics"]
    except (KeyError, IndexError, TypeError):
        return None
    return metrics if isinstance(metrics, list) else None


def update_front_matter(text: str, champion: Champion) -> str:
    """The front matter with the metric values and the lineage set; unchanged text if equal."""
    yaml_rt = round_trip_yaml()
    data = yaml_rt.load(text)
    before = json.dumps(data, default=str)
    metrics = model_index_metrics(data)
    assert metrics is not None, "check_card first"
    existing = {m.get("type"): m for m in metrics if isinstance(m, dict)}
    ordered = []
    for name, value in champion.metrics.items():
        entry = existing.get(name, CommentedMap(type=name))
        entry["value"] = value
        ordered.append(entry)
    # Metrics the run does not have are the client's: they stay, after the run's.
    metrics[:] = ordered + [
        m for m in metrics if not (isinstance(m, dict) and m.get("type") in champion.metrics)
    ]
    handover = data.setdefault("handover", CommentedMap())
    if not isinstance(handover, dict):
        raise HandoverError("the front matter's `handover` key must be a mapping", 2)
    handover["lineage"] = lineage_metadata(champion)
    return text if json.dumps(data, default=str) == before else dump_yaml(yaml_rt, data)


def check_card(text: str, path: Path) -> dict[str, Any]:
    """The card's `handover` metadata, once its front matter and regions are known to be there."""
    try:
        metadata = read_front_matter(text) if split_front_matter(text) else None
    except yaml.YAMLError as error:
        raise HandoverError(f"{path}: the front matter is not valid YAML: {error}", 2) from error
    if not isinstance(metadata, dict):
        raise HandoverError(
            f"{path} has no YAML front matter (a mapping between `---` lines at the top): "
            "restore it from the generated card in git history.",
            2,
        )
    for name, section in MODEL_CARD_REGIONS.items():
        try:
            replace_region(text, name, "")
        except RegionError as error:
            raise HandoverError(
                f"{path}: {error}. Restore both markers of the region, each on its own line, "
                f"in the section '{section}'; `handover card` writes only between them.",
                2,
            ) from error
    if model_index_metrics(metadata) is None:
        raise HandoverError(
            f"{path}: the front matter has no model-index[0].results[0].metrics list, where "
            "the metric values go: restore the model-index block of the generated card.",
            2,
        )
    handover = metadata.get("handover")
    return handover if isinstance(handover, dict) else {}


def updated_card(text: str, champion: Champion) -> str:
    """The text of a checked card with the registry's facts written in; nothing else changes."""
    front = split_front_matter(text)
    assert front is not None, "check_card first"
    body = front.body
    for name, render in (("results", results_region), ("lineage", lineage_region)):
        body = replace_region(body, name, render(champion))
    return front.head + update_front_matter(front.yaml, champion) + body


def fill_card(
    project: str | os.PathLike[str] = ".",
    *,
    model: str | None = None,
    alias: str = CHAMPION,
    check: bool = False,
) -> CardResult:
    """Write the champion's facts into the project's model card (with `check`: only compare).

    The card is checked before MLflow is asked, so a broken card fails in milliseconds.
    """
    started = time.monotonic()
    project = Path(project)
    path = project / MODEL_CARD
    try:  # bounded, regular files only: a FIFO or a huge file must not hang the command
        text = read_text(path, keep_line_endings=True)  # written back as it was
    except Unreadable as error:
        raise HandoverError(str(error), 2) from None
    if text is None:
        raise HandoverError(
            f"no model card at {path}: run in the project's root or pass --project PATH "
            f"(a generated project has {MODEL_CARD}; restore it from git history if deleted).",
            2,
        )
    handover = check_card(text, path)
    params = load_params(project)
    name = (
        model
        or (params.get("mlflow") or {}).get("registered_model")
        or handover.get("registered_model")
    )
    if not name:
        raise HandoverError(
            "no registered model name: pass --model NAME (params.yaml has no "
            "mlflow.registered_model, the card no handover.registered_model).",
            2,
        )
    target = tracking_target(project, params, str(name))
    champion = read_champion(target, project, alias, handover.get("acceptance") or {})
    new_text, diff = updated_card(text, champion), []
    if new_text == text:
        status = "unchanged"
    elif check:
        status = "out_of_date"
        lines = text.splitlines(), new_text.splitlines()
        diff = list(difflib.unified_diff(*lines, str(path), "expected", lineterm=""))
    else:
        with path.open("w", encoding="utf-8", newline="") as f:
            f.write(new_text)
        status = "updated"
    return CardResult(
        card=str(path),
        status=status,
        tracking_uri=str(target.uri),
        champion=champion,
        seconds=round(time.monotonic() - started, 2),
        diff=diff,
    )
