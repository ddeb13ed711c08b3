"""The model registry: list the versions, promote one to `champion`, roll back, compare.

Serving loads `models:/<registered model>@champion`. Every move points `previous` at the version
it replaces, so a rollback is one command, and only a version the evaluate stage accepted may
hold `champion`. Exit codes: 0 done, 1 refused (nothing changed), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .settings import Acceptance, Settings, SettingsError
from .tracking import CHAMPION_ALIAS, PREVIOUS_ALIAS, connect, server_failure, tracking_uri

ACCEPTANCE_TAG, PASSED, LATEST = "acceptance", "passed", "latest"


class Refused(Exception):
    """Understood but not allowed (exit 1): nothing was changed."""


class BadInput(Exception):
    """No store, no versions, or a version that does not exist (exit 2)."""


def move_champion(client: Any, name: str, version: int | str) -> int | None:
    """Give `version` `champion`, and `previous` to the version it replaces (returned; None if
    none or the same). `previous` moves first: an interruption leaves the way back."""
    current = client.get_registered_model(name).aliases.get(CHAMPION_ALIAS)
    replaced = None if current is None or int(current) == int(version) else int(current)
    if replaced:
        client.set_registered_model_alias(name, PREVIOUS_ALIAS, str(replaced))
    client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    return replaced


def registry(client: Any, name: str) -> tuple[dict[str, str], list[Any]]:
    """(alias -> version number, every version newest first); BadInput without versions."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
        found = client.search_model_versions(f"name = '{name}'", max_results=10_000)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        found = []
    if not found:
        raise BadInput(f"no version of {name!r} in this store: run `dvc repro` first")
    versions = sorted(found, key=lambda v: int(v.version), reverse=True)
    return {alias: str(n) for alias, n in aliases.items()}, versions


def pick(aliases: dict[str, str], versions: list[Any], wanted: str) -> Any:
    """A version by number, alias, or `latest` (the newest that passed the gate)."""
    if wanted == LATEST:
        passed = [v for v in versions if v.tags.get(ACCEPTANCE_TAG) == PASSED]
        if not passed:
            raise Refused("no version has passed the acceptance gate: nothing to promote")
        return passed[0]
    number = aliases.get(wanted, wanted)
    if (match := next((v for v in versions if str(v.version) == number), None)) is None:
        known = ", ".join([str(v.version) for v in reversed(versions)] + sorted(aliases))
        raise BadInput(f"no version or alias {wanted!r} (there are {known}, and {LATEST!r})")
    return match


def move(client: Any, name: str, wanted: str, rollback: bool) -> str:
    """Promote `wanted`, or roll back to it (default `previous`); only versions that passed."""
    aliases, versions = registry(client, name)
    champion = aliases.get(CHAMPION_ALIAS)
    if rollback and (champion is None or wanted not in aliases and not wanted.isdigit()):
        missing = CHAMPION_ALIAS if champion is None else wanted
        raise Refused(f"no version of {name} is '{missing}': name one (`promote VERSION`)")
    target = pick(aliases, versions, wanted)
    if (verdict := target.tags.get(ACCEPTANCE_TAG)) != PASSED:
        why = verdict or "never evaluated: run `dvc repro`"
        raise Refused(
            f"version {target.version} did not pass the acceptance gate ({why}): only a version "
            "that meets the bar in evaluation/acceptance.yaml may become 'champion'"
        )
    if str(target.version) == champion:
        if rollback:
            raise Refused(f"version {champion} is '{CHAMPION_ALIAS}': nothing to roll back")
        return f"version {champion} of {name} is '{CHAMPION_ALIAS}' already: nothing changed"
    replaced = move_champion(client, name, target.version)
    left = f", '{PREVIOUS_ALIAS}' -> version {replaced}" if replaced else ""
    verb = "rolled back" if rollback else "promoted"
    return f"{verb} {name}: '{CHAMPION_ALIAS}' -> version {target.version}{left}"


def status(client: Any, name: str, metric: str, as_json: bool) -> str:
    """The versions with their verdict, metric and aliases; which hold champion and previous."""
    aliases, versions = registry(client, name)
    rows = [
        {
            "version": int(v.version),
            "acceptance": v.tags.get(ACCEPTANCE_TAG),
            metric: float(v.tags[f"eval_{metric}"]) if f"eval_{metric}" in v.tags else None,
            "aliases": ",".join(sorted(a for a, n in aliases.items() if n == str(v.version))),
            "created": pd.Timestamp(v.creation_timestamp, unit="ms").strftime("%Y-%m-%dT%H:%MZ"),
            "git_commit": v.tags.get("git.commit"),
            "run_id": v.run_id,
        }
        for v in versions
    ]
    held = {a: int(aliases[a]) if a in aliases else None for a in (CHAMPION_ALIAS, PREVIOUS_ALIAS)}
    if as_json:
        return json.dumps({"registered_model": name, **held, "versions": rows}, indent=2)
    table = pd.DataFrame(rows).drop(columns=["git_commit"]).fillna("-").to_string(index=False)
    return f"{name}\n{table}\n" + "; ".join(f"{a}: {n or 'none'}" for a, n in held.items())


def compare(client: Any, name: str, a: str, b: str, as_json: bool) -> str:
    """Parameters and metrics of two versions (number, alias, `latest`) or run ids."""
    from mlflow.exceptions import MlflowException

    aliases, versions = registry(client, name)
    runs, labels = {}, {}
    for wanted in (a, b):
        try:
            version = pick(aliases, versions, wanted)
            run_id, labels[wanted] = version.run_id, f"{wanted} (version {version.version})"
        except (BadInput, Refused):
            run_id, labels[wanted] = wanted, f"run {wanted}"
        try:
            run = client.get_run(run_id).data
        except MlflowException:
            raise BadInput(f"{wanted!r} is no version, alias or run id of {name}") from None
        metrics = {f"metric.{k}": v for k, v in run.metrics.items()}
        runs[wanted] = {"run_id": run_id, **run.params, **metrics}
    table = pd.DataFrame(runs).sort_index()
    differs = table.index[table[a].astype(str) != table[b].astype(str)].tolist()
    if as_json:
        return json.dumps({"registered_model": name, **runs, "differs": differs}, indent=2)
    table.insert(0, "", ["*" if k in differs else "" for k in table.index])
    table.columns = ["", *labels.values()] if a != b else ["", labels[a]]
    return f"{name}: {a} against {b} (* = differs)\n{table.fillna('-').to_string()}"


def build_parser() -> argparse.ArgumentParser:
    command = f"python -m {__package__}.registry"
    parser = argparse.ArgumentParser(
        prog=command,
        description="List the registered versions; move 'champion' (what serving loads).",
        epilog=f"examples: {command} status | promote latest | rollback | compare 2 champion",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shown = commands.add_parser("status", help="versions, verdicts and aliases")
    promote = commands.add_parser("promote", help="make a version that passed 'champion'")
    promote.add_argument("version", help="a version number, an alias, or 'latest'")
    back = commands.add_parser("rollback", help="move 'champion' back to 'previous'")
    back.add_argument("--to", default=PREVIOUS_ALIAS, metavar="VERSION", help="or this version")
    pair = commands.add_parser("compare", help="params and metrics of two versions or runs")
    pair.add_argument("a", help="version, alias, 'latest' or run id")
    pair.add_argument("b", help="version, alias, 'latest' or run id")
    for sub in (shown, pair):
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, settings = build_parser().parse_args(argv), None
    try:
        settings, metric = Settings.load(), Acceptance.load().metric
        uri = tracking_uri(settings)
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
            raise BadInput(f"no MLflow store {uri}: run `dvc repro` first (or history import)")
        connect(settings)
        from mlflow import MlflowClient

        client, name = MlflowClient(), settings.mlflow.registered_model
        if args.command == "status":
            output = status(client, name, metric, args.json)
        elif args.command == "compare":
            output = compare(client, name, args.a, args.b, args.json)
        else:
            wanted = args.to if args.command == "rollback" else args.version
            output = move(client, name, wanted, args.command == "rollback")
    except (SettingsError, BadInput) as error:
        print(f"registry: {error}", file=sys.stderr)
        return 2
    except Refused as error:
        print(f"registry: refused: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if (line := server_failure(error, settings)) is None:
            raise
        print(f"registry: {line}", file=sys.stderr)
        return 1
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
