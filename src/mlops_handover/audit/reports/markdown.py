"""The Markdown report (GitHub-flavoured), for a pull-request comment or the job summary.

Text from the audited repository (file names, parser messages) is escaped so that it never
becomes markup, a link or a broken table cell; the advice is the checks' own Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mlops_handover import __version__
from mlops_handover.audit.engine import Report
from mlops_handover.audit.model import CheckResult, Outcome, Pillar, level_name
from mlops_handover.audit.reports.common import (
    EMOJI,
    SEVERITY_ORDER,
    note,
    overall_level,
    pillar_levels,
    required,
    score,
    short,
    to_fix,
    verdict,
)


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


def _where(item: CheckResult, limit: int) -> str:
    return ", ".join(
        _code(f"{path}:{line}" if line else path) for path, line in item.result.locations[:limit]
    )


def _header(report: Report, bar: int | None) -> list[str]:
    facts = [_code(report.path)]
    if report.commit:
        facts.append(f"commit `{report.commit[:12]}`" + (" (dirty)" if report.dirty else ""))
    if report.branch:
        facts.append(f"branch {_code(report.branch)}")
    facts.append(f"config {_md(report.config_source or 'defaults')}")
    facts.append(f"{report.started} ({report.duration:.2f} s)")
    lines = [" · ".join(facts), ""]
    said = verdict(report, bar)
    if said:
        mark = "✅" if report.level >= (bar or 0) else "❌"
        lines += [f"{mark} **{said[0].upper()}{said[1:]}**", ""]
    for problem in report.problems:
        lines.append(f"> ⚠️ configuration: {_md(problem)}")
    if report.problems:
        lines.append("")
    return lines


def _pillar_table(report: Report) -> list[str]:
    lines = ["| Pillar | Level | Score | Stops at |", "|---|---|--:|---|"]
    for summary in report.pillars:
        stops = "; ".join(summary.blockers) if summary.blockers else "-"
        lines.append(
            f"| {summary.pillar.value} | L{summary.level} | {score(summary.score)} | {_md(stops)} |"
        )
    return lines


def _check_row(item: CheckResult) -> str:
    check, result = item.check, item.result
    scored = item.outcome.scored
    return (
        f"| {EMOJI[item.outcome]} {item.outcome.value} "
        f"| {score(result.score) if scored else '-'} "
        f"| {check.severity.weight:g} ({check.severity.value}) "
        f"| {_md(check.title())}<br><sub>{_md(short(note(item), 400))}</sub> "
        f"| [{check.id()}]({check.url()}) |"
    )


def _details(item: CheckResult) -> list[str]:
    check, result = item.check, item.result
    partly = f", score {result.score:.2f}" if item.outcome is Outcome.PARTIAL else ""
    lines = [
        "<details>",
        f"<summary>{EMOJI[item.outcome]} <b>{check.id()}</b> {_md(check.title())} "
        f"({check.severity.value}, {item.outcome.value}{partly})</summary>",
        "",
        f"**Found:** {_md(result.message)}",
        "",
    ]
    if result.locations:
        lines += [f"**Where:** {_where(item, 10)}", ""]
    if result.evidence:
        lines += [f"**Evidence:** {', '.join(_code(e) for e in result.evidence[:10])}", ""]
    return lines + _advice_end(check)


def _advice_end(check: type) -> list[str]:
    """The advice and the links that close a check's details block."""
    return [
        check.advice(),
        "",
        f"Explain locally: `handover explain {check.id()}` · [documentation]({check.url()})",
        "",
        "</details>",
        "",
    ]


def _report(report: Report, bar: int | None, heading: str = "##") -> list[str]:
    if report.error:
        return [f"{heading} ❌ {_md(report.path)}: audit failed", "", _md(report.error), ""]
    lines = [f"{heading} Handover readiness: {level_name(report.level)}", ""]
    lines += _header(report, bar)
    lines += _pillar_table(report)
    counts = report.counts()
    lines += [
        "",
        " · ".join(f"{EMOJI[o]} {counts[o.value]} {o.value}" for o in Outcome if counts[o.value]),
        "",
    ]
    fix = to_fix(report)
    if fix:
        lines += [f"{heading}# What to fix ({len(fix)})", ""]
        for item in fix:
            lines += _details(item)
    for summary in report.pillars:
        mine = [r for r in report.results if r.check.pillar is summary.pillar]
        lines += [
            f"{heading}# {summary.pillar.value}: L{summary.level}, score {score(summary.score)}",
            "",
            "| Passed | Score | Weight | Check | ID |",
            "|---|--:|--:|---|---|",
            *(_check_row(item) for item in mine),
            "",
        ]
    return lines


def _summary(reports: Sequence[Report], fail_under: int | None) -> list[str]:
    lines = [
        f"## Handover readiness of {len(reports)} repositories: weakest "
        f"{level_name(overall_level(reports))}",
        "",
        "| Repository | Level | " + " | ".join(p.value for p in Pillar) + " | To fix |",
        "|---|---|" + "---|" * len(Pillar) + "--:|",
    ]
    for report in reports:
        if report.error:
            cells = " | ".join("-" for _ in Pillar)
            lines.append(f"| {_md(report.path)} | ❌ error | {cells} | - |")
            continue
        bar = required(report, fail_under)
        mark = "" if bar is None else (" ✅" if report.level >= bar else " ❌")
        lines.append(
            f"| {_md(report.path)} | **L{report.level}**{mark} | "
            f"{' | '.join(pillar_levels(report))} | {len(to_fix(report))} |"
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
            lines += _header(report, required(report, fail_under))
            lines += [*_pillar_table(report), ""]
            for item in to_fix(report):
                check, where = item.check, _where(item, 3)
                lines.append(
                    f"- {EMOJI[item.outcome]} [{check.id()}](#how-to-fix) {_md(check.title())} "
                    f"({check.severity.value}): {_md(short(item.result.message))}"
                    + (f" ({where})" if where else "")
                )
                advice.setdefault(check.id(), (check, []))[1].append(report.path)
        lines += ["", "</details>", ""]
    if advice:
        # The advice is the same for every repository: once per check, not once per finding.
        lines += ["### How to fix", ""]
        for check, paths in sorted(
            advice.values(), key=lambda entry: SEVERITY_ORDER[entry[0].severity.value]
        ):
            lines += [
                "<details>",
                f"<summary><b>{check.id()}</b> {_md(check.title())} ({check.severity.value}; "
                f"{len(paths)} of {len(reports)} repositories)</summary>",
                "",
                *_advice_end(check),
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
        lines = _report(reports[0], required(reports[0], fail_under))
    else:
        lines = _summary(reports, fail_under)
    lines.append(f"<sub>mlops-handover {__version__} · `handover audit`</sub>")
    return "\n".join(lines).rstrip() + "\n"
