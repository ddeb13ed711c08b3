"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers: one rule per check that ran,
one result per failed or partial check, located on the file it is about."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from mlops_handover import __version__
from mlops_handover.audit.engine import Report
from mlops_handover.audit.model import CheckResult, Outcome, level_name
from mlops_handover.audit.reports.common import TO_FIX, required

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://mlops-handover.readthedocs.io/"
#: SARIF level per severity (GitHub shows error/warning/note).
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
#: GitHub's security-severity (0-10) for the Secure pillar's rules.
SECURITY_SEVERITY = {"critical": "9.0", "high": "7.5", "medium": "5.0", "low": "2.5"}
#: Files a finding without a location is reported on (GitHub needs a location).
FALLBACK_FILES = ("README.md", "README.rst", "README", "pyproject.toml", ".copier-answers.yml")


def _rule_name(title: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(w[:1].upper() + w[1:] for w in words) or "Check"


def _rule(check: type) -> dict[str, Any]:
    severity = check.severity.value
    advice = check.advice()
    properties: dict[str, Any] = {
        "tags": [check.pillar.value.lower(), "handover", "mlops"],
        "precision": "high",
        "problem.severity": {"error": "error", "warning": "warning"}.get(
            SARIF_LEVEL[severity], "recommendation"
        ),
        "pillar": check.pillar.value,
        "severity": severity,
        "level": check.level,
    }
    if check.pillar.value == "Secure":
        properties["tags"].append("security")
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    return {
        "id": check.id(),
        "name": _rule_name(check.title()),
        "shortDescription": {"text": check.title()},
        "fullDescription": {"text": advice.split("\n\n")[0].replace("\n", " ") or check.title()},
        "help": {
            "text": f"{advice}\n\n{check.url()}",
            "markdown": f"**{check.title()}**\n\n{advice}\n\n[Documentation]({check.url()})",
        },
        "helpUri": check.url(),
        "defaultConfiguration": {"level": SARIF_LEVEL[severity]},
        "properties": properties,
    }


def _repo_file(root: Path | None, path: str) -> bool:
    if root is None:
        return True
    try:
        return (root / path).is_file()
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False


def _repo_root(report: Report) -> Path | None:
    """The audited directory, None when the report has no usable path."""
    try:
        path = Path(report.path)
        return path.resolve() if path.is_dir() else None
    except (OSError, ValueError):
        return None


def _locations(item: CheckResult, root: Path | None) -> tuple[list[dict[str, Any]], str]:
    """Locations of a finding (relative to the repository root) and a note for the message
    when the finding is about a file that does not exist (GitHub needs an existing file)."""
    locations, missing = [], []
    for path, line in item.result.locations[:10]:
        clean = path.strip().removeprefix("./").rstrip("/")
        if clean in ("", ".") or clean.startswith(("/", "../")):
            clean = ""
        if clean and _repo_file(root, clean):
            locations.append((clean, line if line and line >= 1 else 1))
        else:
            missing.append(path)
    if not locations:
        fallback = next((f for f in FALLBACK_FILES if _repo_file(root, f)), "README.md")
        locations.append((fallback, 1))
    note = f" (expected: {', '.join(missing)})" if missing else ""
    physical = [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": quote(path, safe="/"), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": line},
            }
        }
        for path, line in dict.fromkeys(locations)
    ]
    return physical, note


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def _run(report: Report, bar: int | None, category: str | None) -> dict[str, Any]:
    checks = list(dict.fromkeys(item.check for item in report.results))
    index = {check.id(): n for n, check in enumerate(checks)}
    root = _repo_root(report)
    results = []
    for item in report.results:
        if item.outcome not in TO_FIX:
            continue
        check, result = item.check, item.result
        level = SARIF_LEVEL[check.severity.value]
        if item.outcome is Outcome.PARTIAL:  # partly done: one step milder
            level = {"error": "warning"}.get(level, "note")
        locations, note = _locations(item, root)
        score = f" (partial, score {result.score:.2f})" if item.outcome is Outcome.PARTIAL else ""
        uri = locations[0]["physicalLocation"]["artifactLocation"]["uri"]
        results.append(
            {
                "ruleId": check.id(),
                "ruleIndex": index[check.id()],
                "level": level,
                "message": {
                    "text": f"{check.title()}: {result.message or item.outcome.value}{note}"
                    f"{score}. Fix: `handover explain {check.id()}`."
                },
                "locations": locations,
                "partialFingerprints": {
                    "mlopsHandoverFinding/v1": _fingerprint(check.id(), uri),
                },
                "properties": {
                    "outcome": item.outcome.value,
                    "score": result.score,
                    "pillar": check.pillar.value,
                    "evidence": list(result.evidence),
                },
            }
        )
    notifications = [
        {"level": "warning", "message": {"text": f"configuration: {problem}"}}
        for problem in report.problems
    ]
    if report.error:
        notifications.append({"level": "error", "message": {"text": report.error}})
    invocation: dict[str, Any] = {"executionSuccessful": report.error is None}
    if notifications:
        invocation["toolConfigurationNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "mlops-handover",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(check) for check in checks],
            }
        },
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "level": report.level,
            "levelName": level_name(report.level),
            "required": bar,
            "pillars": {
                p.pillar.value: {"level": p.level, "score": p.score} for p in report.pillars
            },
        },
    }
    if root is not None:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": root.as_uri() + "/"}}
    if category is not None:
        run["automationDetails"] = {"id": category}
    remote = _public_uri(report.remote)
    if report.commit and remote:
        run["versionControlProvenance"] = [
            {
                "repositoryUri": remote,
                "revisionId": report.commit,
                **({"branch": report.branch} if report.branch else {}),
                "mappedTo": {"uriBaseId": "%SRCROOT%"},
            }
        ]
    return run


def _public_uri(remote: str | None) -> str | None:
    """The remote as a URI without credentials; None for scp-like remotes (git@host:path)."""
    if not remote or "://" not in remote:
        return None
    parts = urlsplit(remote)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def to_sarif(reports: Sequence[Report], fail_under: int | None = None) -> str:
    """SARIF 2.1.0 for GitHub code scanning (`github/codeql-action/upload-sarif`): one rule per
    check that ran, one result per failed or partial check, located on the file it is about
    (or the README when it is about the repository as a whole). Several repositories: one run
    each, told apart by `automationDetails.id`."""
    many = len(reports) > 1
    runs = []
    for n, report in enumerate(reports):
        root = _repo_root(report)
        name = (root.name if root else PurePosixPath(report.path).name) or "repository"
        category = f"handover-audit/{name}-{n}/" if many else None
        runs.append(_run(report, required(report, fail_under), category))
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
