"""`[tool.handover.audit]` in pyproject.toml: what to run, waivers, thresholds, domain lists.

Unknown keys are reported (a misspelt `ignore` must not silently audit everything); values of
the wrong type are errors that name the key and what it takes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_handover.audit.model import parse_level

TABLE = "[tool.handover.audit]"

#: Thresholds and their defaults; `[tool.handover.audit.thresholds]` overrides them.
THRESHOLDS: dict[str, float] = {
    # A pillar reaches a level when its scored checks up to that level average at least this.
    "pass-score": 0.8,
    # A blob larger than this (MB) in git history is data that belongs in DVC.
    "max-file-size-mb": 10.0,
    # Test files per source file.
    "test-ratio": 0.25,
    # Client authors who committed within `bus-factor-days`.
    "bus-factor-authors": 2,
    "bus-factor-days": 90,
    # Words a required model card or runbook section needs to count as written.
    "min-section-words": 8,
    # How far the model card's metric may be from the registry's run.
    "metric-tolerance": 1e-6,
}

KEYS = {
    "select": "a list of check IDs, ID prefixes or pillar names to run",
    "ignore": "a list of check IDs, prefixes or pillars not to run, or a table of ID = reason",
    "waivers": 'a table of ID = "reason" (or ID = {reason = "...", kind = "..."})',
    "fail-under": "a level, L0 to L4",
    "client-domains": "a list of the client's domains (e-mail, hosts, buckets)",
    "vendor-domains": "a list of the vendor's domains that must not appear",
    "thresholds": "a table of " + ", ".join(THRESHOLDS),
    "mlflow-tracking-uri": "the tracking URI to audit, when neither the environment nor "
    "params.yaml names it",
    "registered-model": "the registered model's name",
    "experiment": "the MLflow experiment's name",
}

#: Scorecard's fixed waiver kinds.
WAIVER_KINDS = ("test-data", "remediated", "not-applicable", "not-supported", "not-detected")


class ConfigError(ValueError):
    """The audit configuration cannot be used; the message names the key and the fix."""


@dataclass
class AuditConfig:
    source: str | None = None
    select: tuple[str, ...] = ()
    ignore: dict[str, str | None] = field(default_factory=dict)
    waivers: dict[str, str] = field(default_factory=dict)
    fail_under: int | None = None
    client_domains: tuple[str, ...] = ()
    vendor_domains: tuple[str, ...] = ()
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))
    mlflow_tracking_uri: str | None = None
    registered_model: str | None = None
    experiment: str | None = None
    #: Unknown keys and similar findings, shown in every report.
    problems: list[str] = field(default_factory=list)

    def threshold(self, name: str) -> float:
        return self.thresholds[name]


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{TABLE} {key} must be {KEYS[key]}; got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def from_table(table: Any, source: str | None = None) -> AuditConfig:
    """Build the configuration from the parsed table; ConfigError on a bad value."""
    config = AuditConfig(source=source)
    if table is None:
        return config
    if not isinstance(table, dict):
        raise ConfigError(f"{TABLE} must be a table; got {table!r}")
    for key, value in table.items():
        if key not in KEYS:
            config.problems.append(
                f"{TABLE}: unknown key {key!r} is not used; known keys: {', '.join(KEYS)}"
            )
        elif key == "select":
            config.select = _strings(key, value)
        elif key == "ignore":
            if isinstance(value, dict):
                if not all(isinstance(v, str) for v in value.values()):
                    raise ConfigError(f"{TABLE} ignore: each reason must be a string")
                config.ignore = {k: v for k, v in value.items()}
            else:
                config.ignore = dict.fromkeys(_strings(key, value))
        elif key == "waivers":
            config.waivers = _waivers(value)
        elif key == "fail-under":
            try:
                config.fail_under = parse_level(str(value))
            except ValueError as error:
                raise ConfigError(f"{TABLE} fail-under: {error}") from None
        elif key in ("client-domains", "vendor-domains"):
            domains = tuple(d.lower().lstrip("@") for d in _strings(key, value))
            setattr(config, key.replace("-", "_"), domains)
        elif key == "thresholds":
            _thresholds(config, value)
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{TABLE} {key} must be a string: {KEYS[key]}")
            setattr(config, key.replace("-", "_"), value)
    return config


def _waivers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{TABLE} waivers must be {KEYS['waivers']}")
    waivers = {}
    for check, waiver in value.items():
        if isinstance(waiver, dict):
            reason, kind = waiver.get("reason"), waiver.get("kind")
            if kind is not None and kind not in WAIVER_KINDS:
                raise ConfigError(
                    f"{TABLE} waivers.{check}.kind {kind!r}: use one of {', '.join(WAIVER_KINDS)}"
                )
            unknown = set(waiver) - {"reason", "kind"}
            if unknown:
                raise ConfigError(f"{TABLE} waivers.{check}: unknown keys {sorted(unknown)}")
            waiver = f"{kind}: {reason}" if kind else reason
        if not isinstance(waiver, str) or not waiver.strip():
            raise ConfigError(
                f"{TABLE} waivers.{check} needs a reason, for example "
                f'{check} = "the model is served by the client\'s platform team"'
            )
        waivers[check] = waiver.strip()
    return waivers


def _thresholds(config: AuditConfig, value: Any) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{TABLE} thresholds must be {KEYS['thresholds']}")
    for name, number in value.items():
        if name not in THRESHOLDS:
            config.problems.append(
                f"{TABLE} thresholds: unknown key {name!r} is not used; "
                f"known: {', '.join(THRESHOLDS)}"
            )
        elif isinstance(number, bool) or not isinstance(number, int | float) or number < 0:
            raise ConfigError(f"{TABLE} thresholds.{name} must be a non-negative number")
        else:
            config.thresholds[name] = float(number)


def load(root: Path) -> AuditConfig:
    """The configuration of the project at `root` (defaults without a pyproject.toml)."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return AuditConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        config = AuditConfig()
        config.problems.append(f"pyproject.toml could not be read ({error}); defaults used")
        return config
    tool = data.get("tool")
    handover = tool.get("handover") if isinstance(tool, dict) else None
    table = handover.get("audit") if isinstance(handover, dict) else None
    return from_table(table, source="pyproject.toml" if table is not None else None)
