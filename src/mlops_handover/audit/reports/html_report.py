"""The HTML report: one self-contained page (inline CSS, no script, nothing loaded from
elsewhere) with the Markdown report's content, for a CI artifact or a delivery.

Every value from the audited repository is escaped. The checks' advice is Markdown, rendered
by markdown-it-py with raw HTML off; a result's message may only carry code spans. Status marks
are text badges coloured by CSS, so the page reads in a browser without an emoji font.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlops_handover import __version__
from mlops_handover.audit.engine import Report
from mlops_handover.audit.model import CheckResult, Outcome, Pillar, level_name
from mlops_handover.audit.reports.common import (
    BADGE,
    note,
    overall_level,
    pillar_levels,
    required,
    score,
    to_fix,
    verdict,
)

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:2rem auto;
max-width:72rem;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.meta{color:#57606a}.note{color:#57606a;font-size:.9em}
.pass,.attested{color:#1a7f37}.partial{color:#9a6700}.fail{color:#cf222e}
.unknown{color:#0969da}.waived,.na{color:#6e7781}
.badge{display:inline-block;min-width:4.5em;padding:0 .4rem;border-radius:4px;color:#fff;
background:#6e7781;font-size:.75em;font-weight:600;letter-spacing:.03em;text-align:center}
.badge.pass,.badge.attested{background:#1a7f37}.badge.partial{background:#9a6700}
.badge.fail{background:#cf222e}.badge.unknown{background:#0969da}
.verdict{font-weight:600;padding:.4rem .7rem;border-radius:6px;display:inline-block}
.met{background:#dafbe1}.unmet{background:#ffebe9}
details{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .8rem;margin:.5rem 0}
summary{cursor:pointer}code{background:#f6f8fa;padding:0 .25rem;border-radius:4px}
pre{background:#f6f8fa;padding:.5rem .8rem;border-radius:6px;overflow:auto}pre code{padding:0}
.problem{background:#fff8c5;padding:.3rem .6rem;border-radius:6px}
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


@functools.cache
def _parser(advice: bool) -> MarkdownIt:
    """CommonMark with tables for the checks' advice (ours); for text from the repository
    only code spans: no links, images, emphasis or entities. Raw HTML is escaped in both."""
    from markdown_it import MarkdownIt

    if advice:
        # HTML5 void tags (<hr>, <br>), like the rest of the page
        return MarkdownIt("commonmark", {"html": False, "xhtmlOut": False}).enable("table")
    return MarkdownIt("zero", {"html": False}).enable("backticks")


def advice_html(markdown: str) -> str:
    """A check's advice (Markdown) as HTML."""
    return _parser(advice=True).render(markdown).strip()


def inline_html(text: str) -> str:
    """Text from the repository, escaped, with its Markdown code spans as <code>."""
    return _parser(advice=False).renderInline(text)


def _mark(outcome: Outcome) -> str:
    css = outcome.value.replace("/", "")
    return f"<span class='badge {css}'>{_h(BADGE[outcome])}</span>"


def _details(item: CheckResult) -> list[str]:
    check, result = item.check, item.result
    partly = f", score {result.score:.2f}" if item.outcome is Outcome.PARTIAL else ""
    where = ", ".join(
        f"<code>{_h(p)}{f':{line}' if line else ''}</code>" for p, line in result.locations[:10]
    )
    evidence = ", ".join(f"<code>{_h(e)}</code>" for e in result.evidence[:10])
    return [
        f"<details id='{_h(check.id().lower())}'><summary>{_mark(item.outcome)} "
        f"<b>{_h(check.id())}</b> {_h(check.title())} "
        f"({_h(check.severity.value)}, {_h(item.outcome.value)}{partly})</summary>",
        f"<p><b>Found:</b> {inline_html(result.message)}</p>",
        f"<p><b>Where:</b> {where}</p>" if where else "",
        f"<p><b>Evidence:</b> {evidence}</p>" if evidence else "",
        advice_html(check.advice()),
        f"<p><code>handover explain {_h(check.id())}</code> · "
        f"<a href='{_h(check.url())}'>documentation</a></p>",
        "</details>",
    ]


def _check_row(item: CheckResult) -> str:
    check = item.check
    scored = score(item.result.score) if item.outcome.scored else "-"
    return (
        f"<tr><td>{_mark(item.outcome)}</td><td class='num'>{scored}</td>"
        f"<td class='num'>{check.severity.weight:g} ({_h(check.severity.value)})</td>"
        f"<td>{_h(check.title())}<br><span class='note'>{_h(note(item))}</span></td>"
        f"<td><a href='{_h(check.url())}'>{_h(check.id())}</a></td></tr>"
    )


def _report(report: Report, bar: int | None, heading: int = 1) -> list[str]:
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
    said = verdict(report, bar)
    if said:
        css = "met" if report.level >= (bar or 0) else "unmet"
        out.append(f"<p class='verdict {css}'>{_h(said)}</p>")
    out += [f"<p class='problem'>configuration: {_h(p)}</p>" for p in report.problems]
    out.append(
        "<table><thead><tr><th>Pillar</th><th>Level</th><th>Score</th><th>Stops at</th></tr>"
        "</thead><tbody>"
    )
    for summary in report.pillars:
        out.append(
            f"<tr><td>{_h(summary.pillar.value)}</td><td>L{summary.level}</td>"
            f"<td class='num'>{score(summary.score)}</td>"
            f"<td>{_h('; '.join(summary.blockers) or '-')}</td></tr>"
        )
    out.append("</tbody></table>")
    counts = report.counts()
    marks = (f"{_mark(o)} {counts[o.value]}" for o in Outcome if counts[o.value])
    out.append(f"<p>{' · '.join(marks)}</p>")
    fix = to_fix(report)
    if fix:
        out.append(f"<{sub}>What to fix ({len(fix)})</{sub}>")
        for item in fix:
            out += _details(item)
    for summary in report.pillars:
        out += [
            f"<{sub}>{_h(summary.pillar.value)}: L{summary.level}, score "
            f"{score(summary.score)}</{sub}>",
            "<table><thead><tr><th>Passed</th><th>Score</th><th>Weight</th><th>Check</th>"
            "<th>ID</th></tr></thead><tbody>",
            *(_check_row(r) for r in report.results if r.check.pillar is summary.pillar),
            "</tbody></table>",
        ]
    return [line for line in out if line]


def _summary(reports: Sequence[Report], fail_under: int | None, title: str) -> list[str]:
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
        body.append(
            f"<tr><td>{link}</td><td><b>L{report.level}</b></td>"
            + "".join(f"<td>{cell}</td>" for cell in pillar_levels(report))
            + f"<td class='num'>{len(to_fix(report))}</td></tr>"
        )
    body.append("</tbody></table>")
    for n, report in enumerate(reports):
        body.append(f"<section id='repo-{n}'>")
        body += _report(report, required(report, fail_under), heading=2)
        body.append("</section>")
    return body


def to_html(reports: Sequence[Report], fail_under: int | None = None) -> str:
    """A self-contained HTML page (inline CSS, no script) with the Markdown report's content,
    for a CI artifact; every value from the repository is escaped."""
    if len(reports) == 1:
        title = f"Handover readiness: {level_name(reports[0].level)}"
        body = _report(reports[0], required(reports[0], fail_under))
    else:
        title = (
            f"Handover readiness of {len(reports)} repositories: weakest "
            f"{level_name(overall_level(reports))}"
        )
        body = _summary(reports, fail_under, title)
    page = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<meta name='generator' content='mlops-handover {_h(__version__)}'>",
        f"<title>{_h(title)}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        *body,
        f"<p class='note'>mlops-handover {_h(__version__)} · handover audit</p>",
        "</body></html>",
    ]
    return "\n".join(page) + "\n"
