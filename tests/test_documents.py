"""The decision log, the runbook, CODEOWNERS and the review templates, as generated.

Rendering tests cover the answer combinations that change these files; one generated project
(post-copy task included) proves the seeded decisions are dated, and one update from a newer
template proves the documents the client fills are never overwritten.
"""

from __future__ import annotations

import datetime
import itertools
import re
import shutil
import subprocess
from pathlib import Path

import frontmatter
import pytest
import yaml

from conftest import copy_template
from mlops_handover.documents import (
    DECISION_STATUS,
    MADR_SECTIONS,
    headings,
)
from mlops_handover.documents import PLACEHOLDER_PATTERN as PLACEHOLDER

SEEDED = (
    "0000-use-markdown-architectural-decision-records.md",
    "0001-track-experiments-and-models-in-mlflow.md",
    "0002-version-data-and-pipeline-with-dvc.md",
    "0003-primary-metric-and-acceptance-bar.md",
    "0004-engagement-and-ownership-model.md",
)
# Placeholder styles other than the one marker, which the audit would not find.
OTHER_PLACEHOLDERS = re.compile(
    r"\bTODO\b|\bTBD\b|\bFIXME\b|More Information Needed|Insufficient information|\{[a-z][^{}\n]*\}"
)
CODEOWNERS_PATH = {
    "github": ".github/CODEOWNERS",
    "gitlab": ".gitlab/CODEOWNERS",
    "none": "CODEOWNERS",
}
REVIEW_TEMPLATE = {
    "github": ".github/pull_request_template.md",
    "gitlab": ".gitlab/merge_request_templates/Default.md",
}
CLIENT_OWNED = (
    "/evaluation/",
    "/docs/handover/",
    "/docs/decisions/",
    "/docs/model-card.md",
    "/.dvc/config",
)

MATRIX = [
    {
        "ci_provider": ci,
        "mlflow_tracking": tracking,
        "ml_task": task,
        "vendor_org": vendor,
        "primary_metric": metric,
    }
    for ci, tracking, (task, metric), vendor in itertools.product(
        ("github", "gitlab", "none"),
        ("local", "server"),
        (("classification", "f1"), ("classification", "roc_auc"), ("regression", "rmse")),
        ("Example Vendor", ""),
    )
]


def check_madr(path: Path, *, seeded: bool) -> frontmatter.Post:
    """A record has valid MADR 4 front matter and its mandatory sections."""
    post = frontmatter.loads(path.read_text(encoding="utf-8"))
    assert DECISION_STATUS.match(str(post["status"])), f"{path.name}: status {post['status']!r}"
    makers = post["decision-makers"]
    assert isinstance(makers, list) and makers, f"{path.name}: decision-makers must be a list"
    titles = headings(post.content, 1)
    assert len(titles) == 1, f"{path.name}: expected one H1, found {titles}"
    sections = headings(post.content, 2)
    for section in MADR_SECTIONS:
        assert section in sections, f"{path.name}: missing '## {section}'"
    assert sections.index("Considered Options") < sections.index("Decision Outcome")
    assert re.search(r'^Chosen option: "[^"]+"', post.content, re.M), path.name
    if seeded:
        assert post["status"] == "accepted"
        assert not PLACEHOLDER.search(titles[0]), f"{path.name}: title is a placeholder"
    return post


@pytest.mark.parametrize(
    "data", MATRIX, ids=lambda d: "-".join(v or "in-house" for v in d.values())
)
def test_documents_render_for_answer_matrix(render, data: dict[str, str]) -> None:
    project = render(data)
    decisions = project / "docs" / "decisions"
    assert sorted(p.name for p in decisions.glob("0*.md")) == list(SEEDED)
    for name in SEEDED:
        post = check_madr(decisions / name, seeded=True)
        assert post["decision-makers"] == ["Client ML Owner <ml-owner@acme.example>"]
        assert ("consulted" in post.metadata) == bool(data["vendor_org"])
        # Rendering alone has no clock: the date is the one marker until the post-copy task.
        assert PLACEHOLDER.fullmatch(str(post["date"])), post["date"]
        fills = PLACEHOLDER.findall(post.content)
        if name.startswith("0004") and data["vendor_org"]:
            assert len(fills) == 1 and "contract" in fills[0]
        else:
            assert not fills, f"{name}: {fills}"
    template = frontmatter.loads((decisions / "adr-template.md").read_text())
    assert template["status"] == "proposed" and PLACEHOLDER.fullmatch(template["date"])

    metric_record = (decisions / SEEDED[3]).read_text()
    bar = "<=" if data["primary_metric"] == "rmse" else ">="
    assert f"**{data['primary_metric']} {bar} " in metric_record
    tracking_record = (decisions / SEEDED[1]).read_text()
    # The record names the choice; the store's address is a setting, in params.yaml only.
    title = next(line for line in tracking_record.splitlines() if line.startswith("# "))
    assert ("tracking server" in title) == (data["mlflow_tracking"] == "server")
    assert "https://mlflow.acme.example" not in tracking_record
    assert "`params.yaml`" in tracking_record

    runbook = (project / "docs" / "runbook.md").read_text()
    assert headings(runbook, 2)[:7] == [
        "Set up",
        "Reproduce",
        "Retrain",
        "Promote",
        "Roll back",
        "Check drift",
        "Update the model card",
    ]
    assert "Who to call" in headings(runbook, 2)
    assert "python -m demo_model.registry rollback" in runbook
    assert "python -m demo_model.drift data/prepared/evaluation.csv" in runbook

    owners = project / CODEOWNERS_PATH[data["ci_provider"]]
    rules = [
        line.split()
        for line in owners.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all(rule[1:] == ["ml-owner@acme.example"] for rule in rules), rules
    patterns = [rule[0] for rule in rules]
    assert set(CLIENT_OWNED) <= set(patterns)
    ci_config = {"github": "/.github/", "gitlab": "/.gitlab-ci.yml", "none": "/CODEOWNERS"}
    assert ci_config[data["ci_provider"]] in patterns
    for pattern in patterns:
        assert (project / pattern.strip("/")).exists(), f"CODEOWNERS names missing {pattern}"
    for ci, path in CODEOWNERS_PATH.items():
        assert (project / path).exists() == (ci == data["ci_provider"]), path

    review = REVIEW_TEMPLATE.get(data["ci_provider"])
    for path in REVIEW_TEMPLATE.values():
        assert (project / path).exists() == (path == review)
    if review:
        text = (project / review).read_text()
        for question in ("Decision recorded?", "Model card updated?", "Acceptance bar unchanged"):
            assert question in text

    documents = [*(project / "docs").rglob("*.md"), *(project / "docs").rglob("*.yaml"), owners]
    for path in documents + ([project / review] if review else []):
        stray = OTHER_PLACEHOLDERS.findall(path.read_text(encoding="utf-8"))
        assert not stray, f"{path.relative_to(project)}: other placeholder styles {stray}"


def test_answers_that_read_badly_in_yaml_are_quoted(render) -> None:
    """Names with quotes and colons stay one YAML string in every record's front matter."""
    project = render(
        {"client_owner_name": "Pat O'Brien: ML lead", "client_org": "Globex: Health"},
    )
    for name in SEEDED:
        post = frontmatter.loads((project / "docs/decisions" / name).read_text())
        assert post["decision-makers"] == ["Pat O'Brien: ML lead <ml-owner@acme.example>"]
        assert post["informed"] == ["Globex: Health ML team"]


def test_business_defaults_follow_the_task(render) -> None:
    regression = render({"ml_task": "regression", "primary_metric": "r2"}, name="regression")
    answers = yaml.safe_load((regression / ".copier-answers.yml").read_text())
    assert "diabetes" in answers["business_problem"]
    assert "breast" not in (regression / "docs/decisions" / SEEDED[3]).read_text()


def test_generation_dates_the_seeded_decisions(generate) -> None:
    project = generate()
    today = datetime.date.today()
    for name in SEEDED:
        post = frontmatter.loads((project / "docs/decisions" / name).read_text())
        assert post["date"] == today, f"{name}: {post['date']!r}"
    template = frontmatter.loads((project / "docs/decisions/adr-template.md").read_text())
    assert PLACEHOLDER.fullmatch(template["date"]), "the record template must stay undated"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    assert status == "", f"the dated records must be in the first commit:\n{status}"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_update_never_overwrites_the_documents_the_client_fills(
    template_repo: Path, tmp_path: Path
) -> None:
    """`_skip_if_exists`: a template change to a filled document does not reach the project."""
    import copier

    template = tmp_path / "template"
    shutil.copytree(template_repo, template)
    project = copy_template(template, tmp_path / "project", skip_tasks=True)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated")

    filled = {
        "docs/model-card.md": "# Our card\n\nWritten by the client.\n",
        "docs/runbook.md": "# Our runbook\n",
        "docs/decisions/0003-primary-metric-and-acceptance-bar.md": "# Our bar\n",
        ".github/CODEOWNERS": "* ml-owner@acme.example\n",
    }
    for rel, text in filled.items():
        (project / rel).write_text(text)
    git(project, "commit", "-qam", "client fills the documents")

    # A newer template version changes each of those files, and a file nobody filled.
    github = "{% if ci_provider == 'github' %}.github{% endif %}"
    for rel in [*filled, "docs/decisions/adr-template.md"]:
        source = next((template / "template").glob(f"{rel.replace('.github', github)}*"))
        source.write_text(source.read_text() + "\nA template change.\n")
    git(template, "commit", "-qam", "v2")

    copier.run_update(
        str(project), defaults=True, overwrite=True, unsafe=True, quiet=True, skip_tasks=True
    )
    for rel, text in filled.items():
        assert (project / rel).read_text() == text, f"update overwrote {rel}"
    assert (project / "docs/decisions/adr-template.md").read_text().endswith("A template change.\n")
