"""MkDocs hook: generate the audit's check reference in checks.md from the check classes.

The page ``checks.md`` contains the marker ``<!-- audit-checks -->``; at build time this hook
replaces it with a table of every check and one section per check: its ID (the anchor
`Check.url()` links to, such as ``#rp101``), title, pillar, severity, the level it counts from,
whether it needs a sign-off, the evidence it reads, and its advice (the docstring after the
title, Markdown). A check added to ``src/mlops_handover/audit/checks/`` is documented on the
next build, and the text cannot drift from what `handover explain ID` prints.
"""

from __future__ import annotations

from typing import Any

from mkdocs.exceptions import PluginError

PAGE = "checks.md"
MARKER = "<!-- audit-checks -->"

#: What each fixture a check asks for stands for, in words (an unlisted one is shown by name).
EVIDENCE = {
    "git": "git",
    "files": "tracked files",
    "pyproject": "`pyproject.toml`",
    "answers": "`.copier-answers.yml`",
    "domains": "client and vendor domains",
    "ci": "CI workflows",
    "dvc": "DVC configuration and pipeline",
    "history": "git history",
    "github_access": "GitHub's API (branch protection)",
    "mlflow": "the MLflow tracking store",
    "tracking_uri": "the MLflow tracking URI",
    "registry_champion": "the MLflow registry's champion",
    "model_card": "the model card",
    "runbook": "the runbook",
    "decisions": "the decision log",
    "checklists": "the phase checklists",
    "signoff_review": "the sign-offs",
    "signoffs": "the sign-offs",
    "ownership": "the ownership matrix",
    "data_governance": "the data governance document",
    "codeowners": "CODEOWNERS",
    "ops_layout": "the source and test files",
}


#: What the client can do alone when a pillar's checks pass.
PILLARS = {
    "Reproduce": "A fresh clone rebuilds the data, the model and its metrics with one command.",
    "Retrain": "The client retrains on new data, compares runs, and promotes a model only "
    "through its own acceptance gate, with every version traceable to a commit and its data.",
    "Operate": "The client deploys, monitors and rolls back the model, and CI guards every change.",
    "Secure": "No secret or credential is in the repository or its history, and CI cannot be "
    "turned against it.",
    "Own": "The infrastructure, the code ownership, the documents and the sign-offs are the "
    "client's, and client people know the system.",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


#: Fixtures that are plumbing, not evidence.
PLUMBING = {"root", "config", "options"}


def _evidence(check: Any) -> str:
    names = [EVIDENCE.get(n, f"`{n}`") for n in check.fixtures() if n not in PLUMBING]
    return ", ".join(dict.fromkeys(names)) or "none"


def _anchor(check: Any) -> str:
    """The fragment of `Check.url()`: the docs and the reports' links must agree."""
    url = check.url()
    if "#" not in url:
        raise PluginError(f"{check.id()}.url() {url!r} has no #fragment for its section")
    return url.rsplit("#", 1)[1]


def render_check(check: Any, level_name: Any) -> str:
    title, advice = check.title(), check.advice()
    if not title:
        raise PluginError(f"check {check.id()} has no title (the docstring's first line)")
    if not advice:
        raise PluginError(
            f"check {check.id()} has no advice: its docstring must say, after the title, why it "
            "matters and how to fix it"
        )
    attestation = (
        "yes: passes only with a recorded sign-off (attested)" if check.needs_attestation else "no"
    )
    return "\n".join(
        [
            f"### {check.id()}: {title} {{#{_anchor(check)}}}",
            "",
            "| Pillar | Severity | Counts from | Needs a sign-off | Evidence |",
            "|---|---|---|---|---|",
            f"| {check.pillar.value} | {check.severity.value} | {level_name(check.level)} | "
            f"{attestation} | {_cell(_evidence(check))} |",
            "",
            advice,
            "",
            f"`handover explain {check.id()}` prints this section.",
            "",
        ]
    )


def render_reference() -> str:
    from mlops_handover.audit.model import Pillar, all_checks, level_name

    checks = list(all_checks().values())
    if not checks:
        raise PluginError("no audit check is registered: mlops_handover.audit.checks is empty")
    pillars = [p for p in Pillar if any(c.pillar is p for c in checks)]
    out = [
        f"The audit has {len(checks)} checks in {len(pillars)} pillars. This reference is "
        "generated from the check classes when the documentation is built.",
        "",
        "| ID | Check | Pillar | Severity | Level |",
        "|---|---|---|---|---|",
    ]
    for check in checks:
        out.append(
            f"| [{check.id()}](#{_anchor(check)}) | {_cell(check.title())} | "
            f"{check.pillar.value} | {check.severity.value} | L{check.level} |"
        )
    out.append("")
    for pillar in pillars:
        out += [f"## {pillar.value}", "", PILLARS.get(pillar.value, ""), ""]
        out += [render_check(c, level_name) for c in checks if c.pillar is pillar]
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} lost its marker {MARKER}: the check reference has no place.")
    return markdown.replace(MARKER, render_reference())
