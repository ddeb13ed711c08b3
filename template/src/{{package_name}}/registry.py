"""Operate the model registry: list the versions, promote one to `champion`, roll back.

Whatever serves the model loads `models:/<registered model>@champion`, so moving that alias is
the release decision. Every move goes through `move_champion`, which also points `previous` at
the version it replaces, so a rollback is one command; the evaluate stage moves the aliases the
same way. Only a version the evaluate stage accepted (model-version tag `acceptance` = `passed`)
may hold `champion`: the bar is the client's, in evaluation/acceptance.yaml.

Run from the repository root; the registered model is params.yaml `mlflow.registered_model` and
the store is the one the pipeline uses (MLFLOW_TRACKING_URI, params.yaml, else ./mlflow.db).
Exit codes: 0 done, 1 refused (nothing changed), 2 usage or bad input.
"""

from __future__ import annotations

import argparse
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
    PARAMS_FILE,
    PREVIOUS_ALIAS,
    TrackingServerError,
    check_tracking_server,
    load_params,
    load_yaml,
    tracking_uri,
)

if TYPE_CHECKING:  # MLflow's import takes seconds: only where a command needs it
    from mlflow import MlflowClient

ACCEPTANCE_TAG = "acceptance"  # set on each model version by the evaluate stage
PASSED = "passed"
LATEST = "latest"


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
    check_tracking_server(uri)
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


def status(name: str, uri: str, metric: str, versions: list[Version], as_json: bool) -> str:
    """The versions as a table (or JSON), and which hold `champion` and `previous`."""
    champion, previous = holder(versions, CHAMPION_ALIAS), holder(versions, PREVIOUS_ALIAS)
    if as_json:
        report = {
            "registered_model": name,
            "tracking_uri": uri,
            "metric": metric,
            CHAMPION_ALIAS: None if champion is None else champion.version,
            PREVIOUS_ALIAS: None if previous is None else previous.version,
            "versions": [asdict(v) for v in versions],
        }
        return json.dumps(report, indent=2)
    rows = [("version", "acceptance", metric, "aliases", "created (UTC)", "run id")]
    for v in versions:
        value = "-" if v.metric_value is None else f"{v.metric_value:.4f}"
        aliases = ",".join(v.aliases) or "-"
        rows.append(
            (str(v.version), v.acceptance or "-", value, aliases, v.created, v.run_id or "-")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]

    def who(version: Version | None) -> str:
        return "none" if version is None else f"version {version.version}"

    return "\n".join(
        [
            f"{name} in {uri}",
            *[line.rstrip() for line in lines],
            f"{CHAMPION_ALIAS}: {who(champion)}; {PREVIOUS_ALIAS}: {who(previous)}",
        ]
    )


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
            f"  {command} status                show versions, verdicts and aliases\n"
            f"  {command} status --json         the same, for scripts\n"
            f"  {command} promote latest        newest version that passed the gate\n"
            f"  {command} promote 3             a given version\n"
            f"  {command} rollback              back to the 'previous' version\n"
            f"  {command} rollback --to 2       back to a given version\n"
            "\nexit codes: 0 done, 1 refused (nothing changed), 2 usage or bad input"
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = commands.add_parser("status", help="list versions, verdicts and aliases")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    up = commands.add_parser("promote", help="make a version that passed the gate 'champion'")
    up.add_argument(
        "version", type=promotable, metavar="VERSION", help="a version number, or 'latest'"
    )
    back = commands.add_parser("rollback", help="move 'champion' back to 'previous'")
    back.add_argument(
        "--to", type=version_number, metavar="VERSION", help="roll back to this version instead"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
            output = status(name, tracking_uri(params), metric, versions, args.json)
        elif args.command == "promote":
            output = promote(client, name, versions, args.version)
        else:
            output = rollback(client, name, versions, args.to)
    except Refused as error:
        print(f"registry: refused: {error}", file=sys.stderr)
        return 1
    except TrackingServerError as error:
        print(f"registry: {error}", file=sys.stderr)
        return 1
    except BadInput as error:
        print(f"registry: {error}", file=sys.stderr)
        return 2
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
