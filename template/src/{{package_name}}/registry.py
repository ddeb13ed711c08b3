"""Operate the model registry: list the versions, promote one to `champion`, roll back, compare.

Whatever serves the model loads `models:/<registered model>@champion`, so moving that alias is
the release decision. Every move goes through `move_champion`, which also points `previous` at
the version it replaces, so a rollback is one command; the evaluate stage moves the aliases the
same way. Only a version the evaluate stage accepted (model-version tag `acceptance` = `passed`)
may hold `champion`: the bar is the client's, in evaluation/acceptance.yaml. `status` also says
whether the working tree's models/train.json describes the champion (after a rollback it does
not) and what to run to make them agree.

Run from the repository root; the registered model is params.yaml `mlflow.registered_model` and
the store is the one the pipeline uses (MLFLOW_TRACKING_URI, params.yaml, else ./mlflow.db).
Exit codes: 0 done, 1 refused (nothing changed), 2 usage or bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import (
    ACCEPTANCE_FILE,
    CHAMPION_ALIAS,
    LOCK_FILE,
    PARAMS_FILE,
    PREVIOUS_ALIAS,
    TRAIN_INFO,
    fail_fast,
    git,
    load_params,
    load_yaml,
    server_failure,
    stage_paths,
    tracking_uri,
)

if TYPE_CHECKING:  # MLflow's import takes seconds: only where a command needs it
    from mlflow import MlflowClient

ACCEPTANCE_TAG = "acceptance"  # set on each model version by the evaluate stage
PASSED = "passed"
LATEST = "latest"
#: Set by `handover history import` on what it copies from another store: the run id and the
#: version number there, which the copied models/train.json still names.
SOURCE_RUN_TAG = "handover.source_run_id"
SOURCE_VERSION_TAG = "handover.source_version"


class Refused(Exception):
    """The request is understood but not allowed (exit 1); nothing was changed."""


class BadInput(Exception):
    """The command cannot run as asked: no store, no registered model, bad settings (exit 2)."""


@dataclass(frozen=True)
class Version:
    """What an operator needs to know about one registered version."""

    version: int
    run_id: str | None
    acceptance: str | None  # passed, failed, or None when the evaluate stage never ran on it
    metric_value: float | None  # the acceptance metric, as the evaluate stage measured it
    aliases: list[str]
    created: str  # ISO 8601, UTC
    git_commit: str | None  # the commit it was trained at (a DVC experiment's baseline)
    experiment: str | None  # the DVC experiment that trained it, if one did
    source_version: str | None  # its number in the store it was imported from, if imported


def move_champion(client: MlflowClient, name: str, version: int | str) -> int | None:
    """Give `version` the `champion` alias and `previous` to the version it takes over from.

    Returns that former champion, or None when there was none or it already was `version` (then
    nothing moves). `previous` is set first: an interruption between the two calls leaves both
    aliases on the old champion instead of losing the way back.
    """
    current = client.get_registered_model(name).aliases.get(CHAMPION_ALIAS)
    if current is not None and int(current) == int(version):
        return None
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS_ALIAS, str(current))
    client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    return None if current is None else int(current)


def connect(params: dict[str, Any]) -> tuple[MlflowClient, str]:
    """A client on the pipeline's store and the registered model's name; BadInput if absent."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(params)
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        if not database.exists():  # opening it would create an empty store
            raise BadInput(f"no MLflow database at {database}: run `dvc repro` first")
    fail_fast(uri)
    client = MlflowClient(tracking_uri=uri)
    name = params["mlflow"]["registered_model"]
    try:
        client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise BadInput(
            f"no registered model {name!r} in {uri}: run `dvc repro` first to train and "
            "register a version"
        ) from None
    return client, name


def list_versions(client: MlflowClient, name: str, metric: str) -> list[Version]:
    """Every version of the model, newest first, with its verdict and aliases."""
    aliases: dict[int, list[str]] = {}
    for alias, number in client.get_registered_model(name).aliases.items():
        aliases.setdefault(int(number), []).append(alias)
    found, token = [], None
    while True:
        page = client.search_model_versions(f"name = '{name}'", page_token=token)
        found.extend(page)
        if not (token := page.token):
            break
    versions = []
    for v in found:
        value = v.tags.get(f"eval_{metric}")
        created = datetime.fromtimestamp(v.creation_timestamp / 1000, tz=UTC)
        versions.append(
            Version(
                version=int(v.version),
                run_id=v.run_id,
                acceptance=v.tags.get(ACCEPTANCE_TAG),
                metric_value=None if value is None else float(value),
                aliases=sorted(aliases.get(int(v.version), [])),
                created=created.isoformat(timespec="seconds").replace("+00:00", "Z"),
                git_commit=v.tags.get("git.commit"),
                experiment=v.tags.get("dvc.exp_name"),
                source_version=v.tags.get(SOURCE_VERSION_TAG),
            )
        )
    return sorted(versions, key=lambda v: v.version, reverse=True)


def holder(versions: list[Version], alias: str) -> Version | None:
    return next((v for v in versions if alias in v.aliases), None)


def find(versions: list[Version], name: str, wanted: str) -> Version:
    """A version by number, or `latest`: the newest that passed the gate; Refused if none."""
    if wanted == LATEST:
        passed = [v for v in versions if v.acceptance == PASSED]
        if not passed:
            raise Refused(
                f"no version of {name} has passed the acceptance gate (the bar is in "
                f"{ACCEPTANCE_FILE}); there is nothing to promote"
            )
        return passed[0]
    match = next((v for v in versions if v.version == int(wanted)), None)
    if match is None:
        known = ", ".join(str(v.version) for v in reversed(versions))
        raise Refused(f"{name} has no version {wanted} (it has {known})")
    return match


def require_passed(version: Version, name: str) -> None:
    """Refuse a version the evaluate stage did not accept."""
    if version.acceptance == PASSED:
        return
    verdict = (
        "was never evaluated (run `dvc repro`)"
        if version.acceptance is None
        else f"did not pass the acceptance gate (acceptance: {version.acceptance})"
    )
    raise Refused(
        f"version {version.version} of {name} {verdict}; only a version that meets the bar in "
        f"{ACCEPTANCE_FILE} may become '{CHAMPION_ALIAS}'"
    )


def promote(client: MlflowClient, name: str, versions: list[Version], wanted: str) -> str:
    """Make `wanted` the champion; the current champion becomes `previous`."""
    target = find(versions, name, wanted)
    require_passed(target, name)
    if CHAMPION_ALIAS in target.aliases:
        return f"version {target.version} of {name} is already '{CHAMPION_ALIAS}': nothing changed"
    replaced = move_champion(client, name, target.version)
    moved = f"'{CHAMPION_ALIAS}' -> version {target.version}"
    if replaced is not None:
        moved += f", '{PREVIOUS_ALIAS}' -> version {replaced}"
    return f"promoted {name}: {moved}"


def rollback(client: MlflowClient, name: str, versions: list[Version], to: str | None) -> str:
    """Move `champion` back to `previous` (or to `to`); `previous` becomes the version left."""
    champion = holder(versions, CHAMPION_ALIAS)
    if champion is None:
        raise Refused(
            f"no version of {name} is '{CHAMPION_ALIAS}': nothing to roll back from; "
            "use `promote VERSION`"
        )
    if to is None:
        target = holder(versions, PREVIOUS_ALIAS)
        if target is None or target.version == champion.version:
            raise Refused(
                f"no version of {name} holds '{PREVIOUS_ALIAS}': nothing to roll back to. "
                "Name one with `rollback --to VERSION` (see `status` for the versions)"
            )
    else:
        target = find(versions, name, to)
        if target.version == champion.version:
            raise Refused(f"version {to} is '{CHAMPION_ALIAS}' already: nothing to roll back")
    require_passed(target, name)
    move_champion(client, name, target.version)
    return (
        f"rolled back {name}: '{CHAMPION_ALIAS}' -> version {target.version}, "
        f"'{PREVIOUS_ALIAS}' -> version {champion.version}"
    )


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns, two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


@dataclass(frozen=True)
class WorkingTree:
    """Whether models/train.json describes the champion, and what makes them agree."""

    agrees: bool | None  # None: nothing to compare (no champion, or no models/train.json)
    version: str | None  # the version models/train.json names
    run_id: str | None
    message: str
    commands: list[str]  # each makes them agree; the first restores the champion's files


def run_ids(client: MlflowClient, version: Version) -> set[str]:
    """The version's run id and, for imported history, the run id it had in its first store."""
    from mlflow.exceptions import MlflowException

    if version.run_id is None:
        return set()
    try:
        source = client.get_run(version.run_id).data.tags.get(SOURCE_RUN_TAG)
    except MlflowException:
        source = None
    return {version.run_id, *([source] if source else [])}


def describes(client: MlflowClient, version: Version, info: dict[str, Any]) -> bool:
    """Whether train.json names this version: the same version number and run, here or in the
    store it was imported from (tags SOURCE_VERSION_TAG and SOURCE_RUN_TAG)."""
    number = str(info.get("version"))
    same_number = number in (str(version.version), version.source_version)
    return same_number and info.get("run_id") in run_ids(client, version)


def commit_naming(runs: set[str], info_path: Path = TRAIN_INFO) -> str | None:
    """The newest commit of HEAD's history whose models/train.json names one of `runs`."""
    for run_id in sorted(runs):
        found = git("log", "--format=%H", f"-S{run_id}", "--", str(info_path)) or ""
        for commit in found.split():
            text = git("show", f"{commit}:./{info_path.as_posix()}")
            with contextlib.suppress(ValueError, TypeError):
                if json.loads(text or "").get("run_id") == run_id:
                    return commit
    return None


def pipeline_files(commit: str) -> list[str]:
    """The files git tracks at `commit` that make the pipeline's state: dvc.yaml and dvc.lock,
    the stages' deps (data by its .dvc file), parameter files, outs, metrics and plots."""
    named = [p for p, _ in stage_paths(".", "deps", "params", "outs", "metrics", "plots")]
    candidates = ["dvc.yaml", LOCK_FILE.as_posix(), *named, *(f"{p}.dvc" for p in named)]
    listed = git("ls-tree", "-r", "--name-only", commit, "--", *dict.fromkeys(candidates)) or ""
    return listed.splitlines()


def working_tree(
    client: MlflowClient, versions: list[Version], info_path: Path = TRAIN_INFO
) -> WorkingTree:
    """Compare models/train.json with the champion; when they differ, say how to make them
    agree. The champion's files are those of the commit whose models/train.json names its run
    (the commit after the one it was trained at, which still names the model before it)."""
    champion = holder(versions, CHAMPION_ALIAS)
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict):
        return WorkingTree(None, None, None, f"no {info_path}: run `dvc repro`", [])
    number, run_id = str(info.get("version")), info.get("run_id")
    described = f"{info_path} describes version {number} (run {run_id})"
    if champion is None:
        return WorkingTree(None, number, run_id, f"{described}; no version is champion", [])
    if describes(client, champion, info):
        message = f"{described}, the '{CHAMPION_ALIAS}': the working tree agrees"
        return WorkingTree(True, number, run_id, message, [])

    trained = f", trained at commit {champion.git_commit[:12]}" if champion.git_commit else ""
    if champion.experiment:
        trained += f" in DVC experiment {champion.experiment}"
    message = f"{described}, '{CHAMPION_ALIAS}' is version {champion.version}{trained}: "
    commands = []
    if commit := commit_naming(run_ids(client, champion), info_path):
        files = " ".join(pipeline_files(commit))
        commands.append(f"git checkout {commit} -- {files} && dvc checkout")
        message += (
            f"to make the working tree match it, `{commands[0]}` (the pipeline's files at "
            f"commit {commit[:12]}, whose {info_path} names it), then commit"
        )
    elif champion.experiment:
        commands.append(f"dvc exp apply {champion.experiment}")
        message += f"to make the working tree match it, `{commands[0]}`, then commit"
    else:
        message += f"no commit of this branch has a {info_path} that names it"
    ours = next((v for v in versions if describes(client, v, info)), None)
    if ours is not None and ours.acceptance == PASSED:
        commands.append(f"python -m {__package__}.registry promote {ours.version}")
        message += f"; or make version {ours.version} '{CHAMPION_ALIAS}': `{commands[-1]}`"
    return WorkingTree(False, number, run_id, message, commands)


def status(
    name: str,
    uri: str,
    metric: str,
    versions: list[Version],
    as_json: bool,
    tree: WorkingTree | None = None,
) -> str:
    """The versions as a table (or JSON), which hold `champion` and `previous`, and whether
    the working tree agrees with the champion."""
    champion, previous = holder(versions, CHAMPION_ALIAS), holder(versions, PREVIOUS_ALIAS)
    if as_json:
        report = {
            "registered_model": name,
            "tracking_uri": uri,
            "metric": metric,
            CHAMPION_ALIAS: None if champion is None else champion.version,
            PREVIOUS_ALIAS: None if previous is None else previous.version,
            "versions": [asdict(v) for v in versions],
            "working_tree": None if tree is None else asdict(tree),
        }
        return json.dumps(report, indent=2)
    rows = [("version", "acceptance", metric, "aliases", "created (UTC)", "run id")]
    for v in versions:
        value = "-" if v.metric_value is None else f"{v.metric_value:.4f}"
        aliases = ",".join(v.aliases) or "-"
        rows.append(
            (str(v.version), v.acceptance or "-", value, aliases, v.created, v.run_id or "-")
        )

    def who(version: Version | None) -> str:
        return "none" if version is None else f"version {version.version}"

    return "\n".join(
        [
            f"{name} in {uri}",
            *table(rows),
            f"{CHAMPION_ALIAS}: {who(champion)}; {PREVIOUS_ALIAS}: {who(previous)}",
            *([f"working tree: {tree.message}"] if tree else []),
        ]
    )


def side(
    client: MlflowClient, name: str, versions: list[Version], wanted: str
) -> tuple[str, Version | None, Any]:
    """A version number, an alias, `latest` (as `promote` reads it) or a run id, as (label,
    registered version or None, run). A run id names the newest version registered from it."""
    from mlflow.exceptions import MlflowException

    aliases = sorted({a for v in versions for a in v.aliases} | {CHAMPION_ALIAS, PREVIOUS_ALIAS})
    if wanted.isdigit():
        version, label = next((v for v in versions if v.version == int(wanted)), None), ""
    elif wanted == LATEST:
        try:
            version, label = find(versions, name, LATEST), LATEST
        except Refused as error:
            raise BadInput(str(error)) from None
    elif wanted in aliases:
        version, label = holder(versions, wanted), wanted
        if version is None:
            raise BadInput(f"no version of {name} holds the alias '{wanted}'")
    else:
        version, label = next((v for v in versions if v.run_id == wanted), None), f"run {wanted}"
        with contextlib.suppress(MlflowException):
            run = client.get_run(wanted)
            return label + (f" (version {version.version})" if version else ""), version, run
    if version is None or version.run_id is None:
        known = ", ".join(str(v.version) for v in reversed(versions))
        raise BadInput(
            f"{wanted!r} is not a version of {name} (it has {known}), an alias held by one "
            f"({', '.join(aliases)}), {LATEST!r} or a run id in this store"
        )
    label = f"{label} (version {version.version})" if label else f"version {version.version}"
    return label, version, client.get_run(version.run_id)


def compare(
    client: MlflowClient, name: str, versions: list[Version], a: str, b: str, as_json: bool
) -> str:
    """Parameters and metrics of two versions or runs side by side; `*` marks what differs."""
    sides = [side(client, name, versions, wanted) for wanted in (a, b)]

    def facts(version: Version | None, run: Any) -> dict[str, Any]:
        return {
            "version": None if version is None else version.version,
            "run_id": run.info.run_id,
            "acceptance": None if version is None else version.acceptance,
            "git_commit": run.data.tags.get("mlflow.source.git.commit"),
            "params": dict(sorted(run.data.params.items())),
            "metrics": dict(sorted(run.data.metrics.items())),
        }

    left, right = (facts(version, run) for _, version, run in sides)
    keys = [("version", k) for k in ("version", "run_id", "acceptance", "git_commit")]
    keys += [("params", k) for k in sorted({*left["params"], *right["params"]})]
    keys += [("metrics", k) for k in sorted({*left["metrics"], *right["metrics"]})]

    def value(facts: dict[str, Any], group: str, key: str) -> Any:
        return facts[key] if group == "version" else facts[group].get(key)

    differs = [(g, k) for g, k in keys if value(left, g, k) != value(right, g, k)]
    if as_json:
        names = [k if g == "version" else f"{g}.{k}" for g, k in differs]
        labels = {"a": {"spec": a, **left}, "b": {"spec": b, **right}}
        return json.dumps({"registered_model": name, **labels, "differs": names}, indent=2)

    def shown(item: Any) -> str:
        return "-" if item is None else f"{item:.6g}" if isinstance(item, float) else str(item)

    rows = [("", "", sides[0][0], sides[1][0])]
    for group, key in keys:
        row = (shown(value(left, group, key)), shown(value(right, group, key)))
        rows.append(("*" if (group, key) in differs else "", key, *row))
    return "\n".join([f"{name}: {a} against {b} (* = differs)", *table(rows)])


def version_number(text: str) -> str:
    """argparse type: a registered version number."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version number (1, 2, ...)")
    return str(int(text))


def promotable(text: str) -> str:
    """argparse type: a version number or `latest`."""
    return LATEST if text == LATEST else version_number(text)


def build_parser() -> argparse.ArgumentParser:
    command = f"python -m {__package__}.registry"
    parser = argparse.ArgumentParser(
        prog=command,
        description=(
            "See the registered model's versions and move the 'champion' alias (what serving\n"
            "loads) between versions that passed the acceptance gate."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            f"  {command} status                versions, verdicts, aliases; working tree agrees?\n"
            f"  {command} status --json         the same, for scripts\n"
            f"  {command} promote latest        newest version that passed the gate\n"
            f"  {command} promote 3             a given version\n"
            f"  {command} rollback              back to the 'previous' version\n"
            f"  {command} rollback --to 2       back to a given version\n"
            f"  {command} compare 2 champion    params and metrics side by side (--json too)\n"
            "\nexit codes: 0 done, 1 refused (nothing changed), 2 usage or bad input"
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = commands.add_parser(
        "status", help="list versions, verdicts and aliases; does the working tree agree?"
    )
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    up = commands.add_parser("promote", help="make a version that passed the gate 'champion'")
    up.add_argument(
        "version", type=promotable, metavar="VERSION", help="a version number, or 'latest'"
    )
    back = commands.add_parser("rollback", help="move 'champion' back to 'previous'")
    back.add_argument(
        "--to", type=version_number, metavar="VERSION", help="roll back to this version instead"
    )
    pair = commands.add_parser("compare", help="params and metrics of two versions or runs")
    for side_name in ("a", "b"):
        pair.add_argument(
            side_name, metavar=side_name.upper(), help="version, alias, 'latest' or run id"
        )
    pair.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    params: dict[str, Any] | None = None
    try:
        try:
            params, metric = load_params(), load_yaml(ACCEPTANCE_FILE)["metric"]
        except FileNotFoundError as error:
            raise BadInput(
                f"{error.filename} not found: run this from the repository root "
                f"(where {PARAMS_FILE} and {ACCEPTANCE_FILE} are)"
            ) from None
        client, name = connect(params)
        versions = list_versions(client, name, metric)
        if args.command == "status":
            tree = working_tree(client, versions)
            output = status(name, tracking_uri(params), metric, versions, args.json, tree)
        elif args.command == "compare":
            output = compare(client, name, versions, args.a, args.b, args.json)
        elif args.command == "promote":
            output = promote(client, name, versions, args.version)
        else:
            output = rollback(client, name, versions, args.to)
    except Refused as error:
        print(f"registry: refused: {error}", file=sys.stderr)
        return 1
    except BadInput as error:
        print(f"registry: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        if (line := server_failure(error, params)) is None:
            raise
        print(f"registry: {line}", file=sys.stderr)
        return 1
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
