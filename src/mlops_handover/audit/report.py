"""Audit reports: terminal, JSON (versioned schema), Markdown, SARIF 2.1.0 and HTML.

Every format is a function of the same `Report` objects, so they cannot disagree.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_handover import __version__
from mlops_handover.audit.engine import Report
from mlops_handover.audit.model import CheckResult, Outcome, level_name

#: Bumped on any incompatible change of the JSON report (docs/audit-report.schema.json).
SCHEMA_VERSION = "1"
FORMATS = ("terminal", "markdown", "json", "sarif", "html")

SYMBOL = {
    Outcome.PASS: "✓",
    Outcome.PARTIAL: "◐",
    Outcome.FAIL: "✗",
    Outcome.NOT_APPLICABLE: "-",
    Outcome.UNKNOWN: "?",
    Outcome.WAIVED: "w",
    Outcome.ATTESTED: "✎",
}


def overall_level(reports: Sequence[Report]) -> int:
    return min((r.level for r in reports), default=0)


def check_json(item: CheckResult) -> dict[str, Any]:
    check, result = item.check, item.result
    return {
        "pillar": check.pillar.value,
        "severity": check.severity.value,
        "level": check.level,
        "title": check.title(),
        "outcome": item.outcome.value,
        "score": result.score,
        "message": result.message,
        "evidence": list(result.evidence),
        "evidence_sources": list(item.evidence_sources),
        "locations": [{"path": p, "line": line} for p, line in result.locations],
        "waiver": item.waiver,
        "url": check.url(),
    }


def report_json(report: Report) -> dict[str, Any]:
    return {
        "path": report.path,
        "error": report.error,
        "level": report.level,
        "level_name": level_name(report.level),
        "fail_under": report.fail_under,
        "started": report.started,
        "duration_s": round(report.duration, 3),
        "git": {
            "commit": report.commit,
            "branch": report.branch,
            "dirty": report.dirty,
            "remote": report.remote,
        },
        "config": report.config_source,
        "problems": report.problems,
        "counts": report.counts(),
        "pillars": [
            {
                "name": p.pillar.value,
                "score": None if p.score is None else round(p.score, 3),
                "level": p.level,
                "blockers": p.blockers,
            }
            for p in report.pillars
        ],
        "checks": {item.check.id(): check_json(item) for item in report.results},
    }


def to_json(reports: Sequence[Report], fail_under: int | None = None) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mlops-handover", "version": __version__},
        "level": overall_level(reports),
        "level_name": level_name(overall_level(reports)),
        "fail_under": fail_under,
        "repositories": [report_json(r) for r in reports],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- terminal ------------------------------------------------------------------------------


def _colour(enabled: bool):
    codes = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "dim": "2", "bold": "1"}

    def paint(text: str, colour: str) -> str:
        return f"\033[{codes[colour]}m{text}\033[0m" if enabled else text

    return paint


OUTCOME_COLOUR = {
    Outcome.PASS: "green",
    Outcome.ATTESTED: "green",
    Outcome.PARTIAL: "yellow",
    Outcome.FAIL: "red",
    Outcome.UNKNOWN: "blue",
    Outcome.WAIVED: "dim",
    Outcome.NOT_APPLICABLE: "dim",
}


def _wants_colour(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def to_terminal(
    reports: Sequence[Report], stream=None, show: str = "problems", colour: bool | None = None
) -> str:
    """Human output. One report: every pillar and the checks that fall short (`show=all` for
    every check); several: a summary table, one row per repository."""
    paint = _colour(_wants_colour(stream) if colour is None else colour)
    if len(reports) > 1:
        return _summary_table(reports, paint)
    report = reports[0]
    if report.error:
        return paint(f"error: {report.error}", "red") + "\n"
    lines = [
        paint(f"Handover readiness of {report.path}: {level_name(report.level)}", "bold"),
        _header(report),
        "",
    ]
    for problem in report.problems:
        lines.append(paint(f"config: {problem}", "yellow"))
    if report.problems:
        lines.append("")
    for summary in report.pillars:
        score = "  n/a" if summary.score is None else f"{summary.score:5.2f}"
        head = f"{summary.pillar.value:<10} L{summary.level}  score {score}"
        if summary.blockers:
            head += paint(f"  (stops at: {'; '.join(summary.blockers)})", "dim")
        lines.append(paint(head, "bold"))
        for item in report.results:
            if item.check.pillar is not summary.pillar:
                continue
            if show != "all" and item.outcome in (
                Outcome.PASS, Outcome.ATTESTED, Outcome.NOT_APPLICABLE,
            ):  # fmt: skip
                continue
            mark = paint(SYMBOL[item.outcome], OUTCOME_COLOUR[item.outcome])
            note = item.waiver if item.waiver is not None else item.result.message
            lines.append(
                f"  {mark} {item.check.id()} {item.check.severity.value[0].upper()} "
                f"{item.check.title()}"
            )
            if note:
                lines.append(paint(f"      {item.outcome.value}: {note}", "dim"))
            if show != "all" and item.outcome in (Outcome.FAIL, Outcome.PARTIAL):
                lines.append(paint(f"      fix: handover explain {item.check.id()}", "dim"))
    counts = report.counts()
    lines += [
        "",
        " · ".join(f"{n} {name}" for name, n in counts.items() if n),
        f"{len(report.results)} checks in {report.duration:.2f} s",
    ]
    return "\n".join(lines) + "\n"


def _header(report: Report) -> str:
    parts = []
    if report.commit:
        parts.append(f"commit {report.commit[:12]}" + (" (dirty)" if report.dirty else ""))
    if report.branch:
        parts.append(f"branch {report.branch}")
    parts.append(f"config {report.config_source or 'defaults'}")
    return " · ".join(parts)


def _summary_table(reports: Sequence[Report], paint) -> str:
    from mlops_handover.audit.model import Pillar

    width = max(len(r.path) for r in reports)
    head = f"{'repository':<{width}}  level  " + "  ".join(f"{p.value[:7]:>7}" for p in Pillar)
    lines = [paint(head, "bold")]
    for report in reports:
        if report.error:
            lines.append(f"{report.path:<{width}}  " + paint(f"error: {report.error}", "red"))
            continue
        cells = "  ".join(
            f"{'L' + str(p.level):>7}" if p.score is not None else f"{'-':>7}"
            for p in report.pillars
        )
        lines.append(f"{report.path:<{width}}  L{report.level}     {cells}")
    lines.append(f"\nweakest: {level_name(overall_level(reports))}")
    return "\n".join(lines) + "\n"


# --- shared by the document formats --------------------------------------------------------

#: Outcomes that need work: listed with their advice, and the only ones SARIF reports.
TO_FIX = (Outcome.FAIL, Outcome.PARTIAL)

EMOJI = {
    Outcome.PASS: "✅",
    Outcome.PARTIAL: "🟡",
    Outcome.FAIL: "❌",
    Outcome.NOT_APPLICABLE: "➖",  # noqa: RUF001
    Outcome.UNKNOWN: "❔",
    Outcome.WAIVED: "⚪",
    Outcome.ATTESTED: "✍️",
}

#: The order a reader wants: what to fix first.
_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _required(report: Report, fail_under: int | None) -> int | None:
    """The level the run must reach: the command line's, else the project's configuration."""
    return fail_under if fail_under is not None else report.fail_under


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _to_fix(report: Report) -> list[CheckResult]:
    items = [r for r in report.results if r.outcome in TO_FIX]
    return sorted(
        items,
        key=lambda r: (_SEVERITY_ORDER[r.check.severity.value], r.outcome is Outcome.PARTIAL),
    )


def _note(item: CheckResult) -> str:
    """What the report says about the check: the waiver's reason or the result's message."""
    if item.waiver is not None:
        return f"waived: {item.waiver}"
    return item.result.message


def _verdict(report: Report, required: int | None) -> str | None:
    if required is None or report.error:
        return None
    met = "met" if report.level >= required else "not met"
    return f"required {level_name(required)}: {met}"


# --- Markdown ------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Text from a result (file names, parser messages) made safe inside a table cell or a
    summary line: no raw HTML, links or images, no cell breaks, one line."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A pipe ends a cell and `[` may start a link or an image, unless escaped; a backslash
    # before either must not eat the escape.
    text = re.sub(r"(\\*)([|\[])", lambda m: m.group(1) * 2 + "\\" + m.group(2), text)
    return " ".join(text.split())


def _code(text: str) -> str:
    """A code span outside tables: Markdown shows its content as is (no HTML), so only a
    backtick inside needs the longer delimiter."""
    text = " ".join(text.split())
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _short(text: str, limit: int = 300) -> str:
    """At most `limit` characters (the full text is in the JSON report)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _md_header(report: Report, required: int | None) -> list[str]:
    facts = [_code(report.path)]
    if report.commit:
        facts.append(f"commit `{report.commit[:12]}`" + (" (dirty)" if report.dirty else ""))
    if report.branch:
        facts.append(f"branch {_code(report.branch)}")
    facts.append(f"config {_md(report.config_source or 'defaults')}")
    facts.append(f"{report.started} ({report.duration:.2f} s)")
    lines = [" · ".join(facts), ""]
    verdict = _verdict(report, required)
    if verdict:
        mark = "✅" if report.level >= (required or 0) else "❌"
        lines += [f"{mark} **{verdict[0].upper()}{verdict[1:]}**", ""]
    for problem in report.problems:
        lines.append(f"> ⚠️ configuration: {_md(problem)}")
    if report.problems:
        lines.append("")
    return lines


def _md_check_row(item: CheckResult) -> str:
    check, result = item.check, item.result
    scored = item.outcome.scored
    return (
        f"| {EMOJI[item.outcome]} {item.outcome.value} "
        f"| {_score(result.score) if scored else '-'} "
        f"| {check.severity.weight:g} ({check.severity.value}) "
        f"| {_md(check.title())}<br><sub>{_md(_short(_note(item), 400))}</sub> "
        f"| [{check.id()}]({check.url()}) |"
    )


def _md_details(item: CheckResult) -> list[str]:
    check, result = item.check, item.result
    score = f", score {result.score:.2f}" if item.outcome is Outcome.PARTIAL else ""
    lines = [
        "<details>",
        f"<summary>{EMOJI[item.outcome]} <b>{check.id()}</b> {_md(check.title())} "
        f"({check.severity.value}, {item.outcome.value}{score})</summary>",
        "",
        f"**Found:** {_md(result.message)}",
        "",
    ]
    if result.locations:
        where = ", ".join(
            _code(f"{path}:{line}" if line else path) for path, line in result.locations[:10]
        )
        lines += [f"**Where:** {where}", ""]
    if result.evidence:
        lines += [f"**Evidence:** {', '.join(_code(e) for e in result.evidence[:10])}", ""]
    lines += [
        check.advice(),
        "",
        f"Explain locally: `handover explain {check.id()}` · [documentation]({check.url()})",
        "",
        "</details>",
        "",
    ]
    return lines


def _md_report(report: Report, required: int | None, heading: str = "##") -> list[str]:
    if report.error:
        return [f"{heading} ❌ {_md(report.path)}: audit failed", "", _md(report.error), ""]
    lines = [f"{heading} Handover readiness: {level_name(report.level)}", ""]
    lines += _md_header(report, required)
    lines += ["| Pillar | Level | Score | Stops at |", "|---|---|--:|---|"]
    for summary in report.pillars:
        stops = "; ".join(summary.blockers) if summary.blockers else "-"
        lines.append(
            f"| {summary.pillar.value} | L{summary.level} | {_score(summary.score)} "
            f"| {_md(stops)} |"
        )
    counts = report.counts()
    lines += [
        "",
        " · ".join(f"{EMOJI[o]} {counts[o.value]} {o.value}" for o in Outcome if counts[o.value]),
        "",
    ]
    fix = _to_fix(report)
    if fix:
        lines += [f"{heading}# What to fix ({len(fix)})", ""]
        for item in fix:
            lines += _md_details(item)
    for summary in report.pillars:
        mine = [r for r in report.results if r.check.pillar is summary.pillar]
        lines += [
            f"{heading}# {summary.pillar.value}: L{summary.level}, score {_score(summary.score)}",
            "",
            "| Passed | Score | Weight | Check | ID |",
            "|---|--:|--:|---|---|",
            *(_md_check_row(item) for item in mine),
            "",
        ]
    return lines


def _md_summary(reports: Sequence[Report], required: int | None) -> list[str]:
    from mlops_handover.audit.model import Pillar

    overall = overall_level(reports)
    lines = [
        f"## Handover readiness of {len(reports)} repositories: weakest {level_name(overall)}",
        "",
        "| Repository | Level | " + " | ".join(p.value for p in Pillar) + " | To fix |",
        "|---|---|" + "---|" * len(Pillar) + "--:|",
    ]
    for report in reports:
        if report.error:
            cells = " | ".join("-" for _ in Pillar)
            lines.append(f"| {_md(report.path)} | ❌ error | {cells} | - |")
            continue
        levels = {s.pillar: f"L{s.level}" for s in report.pillars}
        cells = " | ".join(levels.get(p, "-") for p in Pillar)
        bar = _required(report, required)
        mark = "" if bar is None else (" ✅" if report.level >= bar else " ❌")
        lines.append(
            f"| {_md(report.path)} | **L{report.level}**{mark} | {cells} | {len(_to_fix(report))} |"
        )
    lines.append("")
    advice: dict[str, tuple[type, list[str]]] = {}
    for report in reports:
        state = "error" if report.error else level_name(report.level)
        lines += [
            "<details>",
            f"<summary><b>{_md(report.path)}</b>: {_md(state)}</summary>",
            "",
        ]
        if report.error:
            lines += [_md(report.error), ""]
        else:
            lines += _md_header(report, _required(report, required))
            lines += ["| Pillar | Level | Score | Stops at |", "|---|---|--:|---|"]
            for summary in report.pillars:
                stops = "; ".join(summary.blockers) if summary.blockers else "-"
                lines.append(
                    f"| {summary.pillar.value} | L{summary.level} | {_score(summary.score)} "
                    f"| {_md(stops)} |"
                )
            lines.append("")
            for item in _to_fix(report):
                check, result = item.check, item.result
                where = ", ".join(
                    _code(f"{path}:{line}" if line else path) for path, line in result.locations[:3]
                )
                lines.append(
                    f"- {EMOJI[item.outcome]} [{check.id()}](#how-to-fix) {_md(check.title())} "
                    f"({check.severity.value}): {_md(_short(result.message))}"
                    + (f" ({where})" if where else "")
                )
                advice.setdefault(check.id(), (check, []))[1].append(report.path)
        lines += ["", "</details>", ""]
    if advice:
        # The advice is the same for every repository: once per check, not once per finding.
        lines += ["### How to fix", ""]
        for check, paths in sorted(
            advice.values(), key=lambda entry: _SEVERITY_ORDER[entry[0].severity.value]
        ):
            lines += [
                "<details>",
                f"<summary><b>{check.id()}</b> {_md(check.title())} ({check.severity.value}; "
                f"{len(paths)} of {len(reports)} repositories)</summary>",
                "",
                check.advice(),
                "",
                f"Explain locally: `handover explain {check.id()}` · "
                f"[documentation]({check.url()})",
                "",
                "</details>",
                "",
            ]
    return lines


def to_markdown(reports: Sequence[Report], fail_under: int | None = None) -> str:
    """GitHub-flavoured Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY`: the
    level, a table per pillar (Passed | Score | Weight | Check | ID) and, for every check to
    fix, a collapsed block with what was found, why it matters and how to fix it. Several
    repositories: a summary table, one row per repository, each repository's findings
    collapsed, and the advice once per check (about 5 KB per repository, so ten fit in a
    comment's 65,536 characters)."""
    if len(reports) == 1:
        lines = _md_report(reports[0], _required(reports[0], fail_under))
    else:
        lines = _md_summary(reports, fail_under)
    lines.append(f"<sub>mlops-handover {__version__} · `handover audit`</sub>")
    return "\n".join(lines).rstrip() + "\n"


# --- SARIF 2.1.0 ---------------------------------------------------------------------------

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


def _sarif_rule(check: type) -> dict[str, Any]:
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


def _sarif_locations(item: CheckResult, root: Path | None) -> tuple[list[dict[str, Any]], str]:
    """Locations of a finding (relative to the repository root) and a note for the message
    when the finding is about a file that does not exist (GitHub needs an existing file)."""
    from urllib.parse import quote

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
    import hashlib

    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def _sarif_run(report: Report, required: int | None, category: str | None) -> dict[str, Any]:
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
        locations, note = _sarif_locations(item, root)
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
                "rules": [_sarif_rule(check) for check in checks],
            }
        },
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "level": report.level,
            "levelName": level_name(report.level),
            "required": required,
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
    from urllib.parse import urlsplit, urlunsplit

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
        runs.append(_sarif_run(report, _required(report, fail_under), category))
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:2rem auto;
max-width:72rem;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.meta{color:#57606a}.note{color:#57606a;font-size:.9em}
.pass,.attested{color:#1a7f37}.partial{color:#9a6700}.fail{color:#cf222e}
.unknown{color:#0969da}.waived,.na{color:#6e7781}
.verdict{font-weight:600;padding:.4rem .7rem;border-radius:6px;display:inline-block}
.met{background:#dafbe1}.unmet{background:#ffebe9}
details{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .8rem;margin:.5rem 0}
summary{cursor:pointer}code{background:#f6f8fa;padding:0 .25rem;border-radius:4px}
pre{background:#f6f8fa;padding:.5rem .8rem;border-radius:6px;overflow:auto}pre code{padding:0}
.problem{background:#fff8c5;padding:.3rem .6rem;border-radius:6px}
"""


def _h(text: object) -> str:
    import html

    return html.escape(str(text), quote=True)


def _css(outcome: Outcome) -> str:
    return outcome.value.replace("/", "")


def _inline_html(text: str) -> str:
    """Escaped text with Markdown code spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _h(text))


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")


def _advice_html(markdown: str) -> str:
    """The advice (Markdown) as HTML: paragraphs, lists, fenced code and code spans. A small
    subset on purpose: no Markdown library on the audit's path, and everything escaped."""
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    code: list[str] | None = None

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{_inline_html(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in markdown.strip().splitlines():
        if code is not None:
            if line.strip().startswith("```"):
                out.append(f"<pre><code>{_h(chr(10).join(code))}</code></pre>")
                code = None
            else:
                code.append(line)
        elif line.strip().startswith("```"):
            flush()
            code = []
        elif not line.strip():
            flush()
        elif match := _LIST_ITEM.match(line):
            if paragraph:
                flush()
            items.append(match.group(1).strip())
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
        else:
            if items:
                flush()
            paragraph.append(line.strip())
    if code is not None:
        out.append(f"<pre><code>{_h(chr(10).join(code))}</code></pre>")
    flush()
    return "\n".join(out)


def _html_report(report: Report, required: int | None, heading: int = 1) -> list[str]:
    h, sub = f"h{heading}", f"h{heading + 1}"
    if report.error:
        return [
            f"<{h} class='fail'>{_h(report.path)}: audit failed</{h}>",
            f"<p>{_h(report.error)}</p>",
        ]
    facts = [_h(report.path)]
    if report.commit:
        facts.append(
            f"commit <code>{_h(report.commit[:12])}</code>" + (" (dirty)" if report.dirty else "")
        )
    if report.branch:
        facts.append(f"branch <code>{_h(report.branch)}</code>")
    facts.append(f"config {_h(report.config_source or 'defaults')}")
    facts.append(f"{_h(report.started)} ({report.duration:.2f} s)")
    out = [
        f"<{h}>Handover readiness: {_h(level_name(report.level))}</{h}>",
        f"<p class='meta'>{' · '.join(facts)}</p>",
    ]
    verdict = _verdict(report, required)
    if verdict:
        css = "met" if report.level >= (required or 0) else "unmet"
        out.append(f"<p class='verdict {css}'>{_h(verdict)}</p>")
    out += [f"<p class='problem'>configuration: {_h(p)}</p>" for p in report.problems]
    out += [
        "<table><thead><tr><th>Pillar</th><th>Level</th><th>Score</th><th>Stops at</th></tr>"
        "</thead><tbody>"
    ]
    for summary in report.pillars:
        out.append(
            f"<tr><td>{_h(summary.pillar.value)}</td><td>L{summary.level}</td>"
            f"<td class='num'>{_score(summary.score)}</td>"
            f"<td>{_h('; '.join(summary.blockers) or '-')}</td></tr>"
        )
    out.append("</tbody></table>")
    counts = report.counts()
    out.append(
        "<p>"
        + " · ".join(
            f"<span class='{_css(o)}'>{EMOJI[o]} {counts[o.value]} {_h(o.value)}</span>"
            for o in Outcome
            if counts[o.value]
        )
        + "</p>"
    )
    fix = _to_fix(report)
    if fix:
        out.append(f"<{sub}>What to fix ({len(fix)})</{sub}>")
        for item in fix:
            check, result = item.check, item.result
            score = f", score {result.score:.2f}" if item.outcome is Outcome.PARTIAL else ""
            where = ", ".join(
                f"<code>{_h(p)}{f':{line}' if line else ''}</code>"
                for p, line in result.locations[:10]
            )
            evidence = ", ".join(f"<code>{_h(e)}</code>" for e in result.evidence[:10])
            out += [
                f"<details id='{_h(check.id().lower())}'><summary>"
                f"<span class='{_css(item.outcome)}'>{EMOJI[item.outcome]}</span> "
                f"<b>{_h(check.id())}</b> {_h(check.title())} "
                f"({_h(check.severity.value)}, {_h(item.outcome.value)}{score})</summary>",
                f"<p><b>Found:</b> {_inline_html(result.message)}</p>",
                f"<p><b>Where:</b> {where}</p>" if where else "",
                f"<p><b>Evidence:</b> {evidence}</p>" if evidence else "",
                _advice_html(check.advice()),
                f"<p><code>handover explain {_h(check.id())}</code> · "
                f"<a href='{_h(check.url())}'>documentation</a></p>",
                "</details>",
            ]
    for summary in report.pillars:
        out += [
            f"<{sub}>{_h(summary.pillar.value)}: L{summary.level}, score "
            f"{_score(summary.score)}</{sub}>",
            "<table><thead><tr><th>Passed</th><th>Score</th><th>Weight</th><th>Check</th>"
            "<th>ID</th></tr></thead><tbody>",
        ]
        for item in report.results:
            if item.check.pillar is not summary.pillar:
                continue
            check = item.check
            score = _score(item.result.score) if item.outcome.scored else "-"
            out.append(
                f"<tr><td class='{_css(item.outcome)}'>{EMOJI[item.outcome]} "
                f"{_h(item.outcome.value)}</td><td class='num'>{score}</td>"
                f"<td class='num'>{check.severity.weight:g} ({_h(check.severity.value)})</td>"
                f"<td>{_h(check.title())}<br><span class='note'>{_h(_note(item))}</span></td>"
                f"<td><a href='{_h(check.url())}'>{_h(check.id())}</a></td></tr>"
            )
        out.append("</tbody></table>")
    return [line for line in out if line]


def to_html(reports: Sequence[Report], fail_under: int | None = None) -> str:
    """A self-contained HTML page (inline CSS, no script) with the Markdown report's content,
    for a CI artifact; every value from the repository is escaped."""
    from mlops_handover.audit.model import Pillar

    if len(reports) == 1:
        title = f"Handover readiness: {level_name(reports[0].level)}"
        body = _html_report(reports[0], _required(reports[0], fail_under))
    else:
        title = (
            f"Handover readiness of {len(reports)} repositories: weakest "
            f"{level_name(overall_level(reports))}"
        )
        body = [
            f"<h1>{_h(title)}</h1>",
            "<table><thead><tr><th>Repository</th><th>Level</th>"
            + "".join(f"<th>{_h(p.value)}</th>" for p in Pillar)
            + "<th>To fix</th></tr></thead><tbody>",
        ]
        for n, report in enumerate(reports):
            link = f"<a href='#repo-{n}'>{_h(report.path)}</a>"
            if report.error:
                body.append(
                    f"<tr><td>{link}</td><td class='fail'>error</td>"
                    + "<td>-</td>" * len(Pillar)
                    + "<td>-</td></tr>"
                )
                continue
            levels = {s.pillar: f"L{s.level}" for s in report.pillars}
            body.append(
                f"<tr><td>{link}</td><td><b>L{report.level}</b></td>"
                + "".join(f"<td>{levels.get(p, '-')}</td>" for p in Pillar)
                + f"<td class='num'>{len(_to_fix(report))}</td></tr>"
            )
        body.append("</tbody></table>")
        for n, report in enumerate(reports):
            body += [f"<section id='repo-{n}'>"]
            body += _html_report(report, _required(report, fail_under), heading=2)
            body.append("</section>")
    page = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<meta name='generator' content='mlops-handover {_h(__version__)}'>",
        f"<title>{_h(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        *body,
        f"<p class='note'>mlops-handover {_h(__version__)} · handover audit</p>",
        "</body></html>",
    ]
    return "\n".join(page) + "\n"


def render(fmt: str, reports: Sequence[Report], fail_under: int | None = None) -> str:
    """The report in a machine or document format (the terminal has `to_terminal`)."""
    renderers = {
        "json": to_json,
        "markdown": to_markdown,
        "sarif": to_sarif,
        "html": to_html,
    }
    return renderers[fmt](reports, fail_under)
