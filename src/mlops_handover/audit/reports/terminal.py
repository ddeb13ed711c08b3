"""The terminal report, for people: the level, each pillar with what stops it, and the checks
that fall short; one row per repository when there are several."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from mlops_handover.audit.engine import Report
from mlops_handover.audit.model import Outcome, Pillar, level_name
from mlops_handover.audit.reports.common import SYMBOL, overall_level

ANSI = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "dim": "2", "bold": "1"}
OUTCOME_COLOUR = {
    Outcome.PASS: "green",
    Outcome.ATTESTED: "green",
    Outcome.PARTIAL: "yellow",
    Outcome.FAIL: "red",
    Outcome.UNKNOWN: "blue",
    Outcome.WAIVED: "dim",
    Outcome.NOT_APPLICABLE: "dim",
}
#: Left out of the default listing (`show="problems"`).
QUIET = (Outcome.PASS, Outcome.ATTESTED, Outcome.NOT_APPLICABLE)

Paint = Callable[[str, str], str]


def _colour(enabled: bool) -> Paint:
    def paint(text: str, colour: str) -> str:
        return f"\033[{ANSI[colour]}m{text}\033[0m" if enabled else text

    return paint


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
            if show != "all" and item.outcome in QUIET:
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


def _summary_table(reports: Sequence[Report], paint: Paint) -> str:
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
