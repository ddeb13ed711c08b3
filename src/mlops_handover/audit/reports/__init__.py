"""Audit reports: terminal, JSON (versioned schema), Markdown, SARIF 2.1.0 and HTML.

Every format is a function of the same `Report` objects, so they cannot disagree. One module
per format (`terminal`, `markdown`, `json_report`, `sarif`, `html_report`; the last two named
so as not to shadow the standard library's `json` and `html`), and `common` for what they
share: the status marks, the order of the findings to fix and the required level. None of
them imports more than the standard library and markdown-it-py (HTML only, when used).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlops_handover.audit.engine import Report
from mlops_handover.audit.reports.common import BADGE, EMOJI, SYMBOL, TO_FIX, overall_level
from mlops_handover.audit.reports.html_report import to_html
from mlops_handover.audit.reports.json_report import SCHEMA_VERSION, to_json
from mlops_handover.audit.reports.markdown import to_markdown
from mlops_handover.audit.reports.sarif import to_sarif
from mlops_handover.audit.reports.terminal import to_terminal

FORMATS = ("terminal", "markdown", "json", "sarif", "html")

__all__ = [
    "BADGE",
    "EMOJI",
    "FORMATS",
    "SCHEMA_VERSION",
    "SYMBOL",
    "TO_FIX",
    "overall_level",
    "render",
    "to_html",
    "to_json",
    "to_markdown",
    "to_sarif",
    "to_terminal",
]


def render(fmt: str, reports: Sequence[Report], fail_under: int | None = None) -> str:
    """The report in a machine or document format (the terminal has `to_terminal`)."""
    renderers = {
        "json": to_json,
        "markdown": to_markdown,
        "sarif": to_sarif,
        "html": to_html,
    }
    return renderers[fmt](reports, fail_under)
