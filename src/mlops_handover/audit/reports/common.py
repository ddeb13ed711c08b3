"""What the report formats share: the status marks, the order of the findings to fix, the
required level and the small text helpers. Nothing here formats a whole report."""

from __future__ import annotations

from collections.abc import Sequence

from mlops_handover.audit.engine import Report
from mlops_handover.audit.model import CheckResult, Outcome, Pillar, level_name

#: Outcomes that need work: listed with their advice, and the only ones SARIF reports.
TO_FIX = (Outcome.FAIL, Outcome.PARTIAL)

#: Status marks per medium. A terminal's font has these geometric and dingbat signs.
SYMBOL = {
    Outcome.PASS: "✓",
    Outcome.PARTIAL: "◐",
    Outcome.FAIL: "✗",
    Outcome.NOT_APPLICABLE: "-",
    Outcome.UNKNOWN: "?",
    Outcome.WAIVED: "w",
    Outcome.ATTESTED: "✎",
}
#: GitHub renders Markdown with an emoji font.
EMOJI = {
    Outcome.PASS: "✅",
    Outcome.PARTIAL: "🟡",
    Outcome.FAIL: "❌",
    Outcome.NOT_APPLICABLE: "➖",  # noqa: RUF001
    Outcome.UNKNOWN: "❔",
    Outcome.WAIVED: "⚪",
    Outcome.ATTESTED: "✍️",
}
#: A browser may have no emoji font (headless, a bare server): the HTML report shows text
#: badges coloured by CSS, readable in any font.
BADGE = {outcome: outcome.value.upper() for outcome in Outcome}

#: The order a reader wants: what to fix first.
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def overall_level(reports: Sequence[Report]) -> int:
    return min((r.level for r in reports), default=0)


def required(report: Report, fail_under: int | None) -> int | None:
    """The level the run must reach: the command line's, else the project's configuration."""
    return fail_under if fail_under is not None else report.fail_under


def verdict(report: Report, required: int | None) -> str | None:
    if required is None or report.error:
        return None
    met = "met" if report.level >= required else "not met"
    return f"required {level_name(required)}: {met}"


def pillar_levels(report: Report) -> list[str]:
    """One cell per pillar for a summary table of several repositories: `L2`, or `-`."""
    levels = {s.pillar: f"L{s.level}" for s in report.pillars}
    return [levels.get(p, "-") for p in Pillar]


def to_fix(report: Report) -> list[CheckResult]:
    """The failed and partial checks, most severe first, failures before partial ones."""
    items = [r for r in report.results if r.outcome in TO_FIX]
    return sorted(
        items,
        key=lambda r: (SEVERITY_ORDER[r.check.severity.value], r.outcome is Outcome.PARTIAL),
    )


def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def note(item: CheckResult) -> str:
    """What the report says about the check: the waiver's reason or the result's message."""
    if item.waiver is not None:
        return f"waived: {item.waiver}"
    return item.result.message


def short(text: str, limit: int = 300) -> str:
    """At most `limit` characters on one line (the full text is in the JSON report)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
