"""`handover decision new`: numbering, naming, the record's content, and refusals."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import frontmatter
import pytest

from conftest import ROOT
from mlops_handover import decisions
from mlops_handover.cli import main
from mlops_handover.decisions import new_decision, next_number, slugify
from mlops_handover.documents import (
    DECISION_STATUS,
    DECISION_TEMPLATE,
    DECISIONS_DIR,
    MADR_SECTIONS,
    headings,
)

BUNDLED_TEMPLATE = ROOT / "template" / DECISIONS_DIR / DECISION_TEMPLATE
#: A template following the contract, so these tests do not depend on the bundled one's prose.
TEMPLATE = """\
---
# Our own comment: keep it.
status: proposed
date: "[FILL: YYYY-MM-DD]"
decision-makers:
  - "[FILL: Name <email>]"
---

# [FILL: short title of the problem and the chosen solution]

## Context and Problem Statement

[FILL: context]

## Considered Options

* [FILL: option]

## Decision Outcome

Chosen option: "[FILL: option]", because [FILL: why].
"""


def log(tmp_path: Path, *names: str, template: str | None = TEMPLATE) -> Path:
    """A project whose decision log holds `names` (and the template unless None)."""
    directory = tmp_path / DECISIONS_DIR
    directory.mkdir(parents=True)
    for name in names:
        (directory / name).write_text(f"# {name}\n")
    if template is not None:
        (directory / DECISION_TEMPLATE).write_text(template)
    return tmp_path


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ((), 1),
        (("0000-use-madr.md",), 1),
        (("0000-use-madr.md", "0001-a.md", "0005-c.md"), 6),
        (("0003-only.md",), 4),
        # Only NNNN-*.md counts: not the template, other files, or other digit counts.
        (("0002-b.md", "README.md", "12-short.md", "00009-long.md", "0007-x.txt", "0008.md"), 3),
    ],
)
def test_next_number(tmp_path: Path, names: tuple[str, ...], expected: int) -> None:
    assert next_number(log(tmp_path, *names) / DECISIONS_DIR) == expected


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Use PostgreSQL for the feature store", "use-postgresql-for-the-feature-store"),
        ("  Retire   the batch scorer!  ", "retire-the-batch-scorer"),
        ("Über Größe: café, naïve & Œuvre", "uber-grosse-cafe-naive-oeuvre"),
        ("F1 >= 0.9 (not 0.95)?", "f1-0-9-not-0-95"),
        ("Use MLflow 3.x — not W&B / Neptune", "use-mlflow-3-x-not-w-b-neptune"),
        ("日本語 and ASCII", "and-ascii"),
        ("日本語", ""),
        ("?!", ""),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_slug_is_cut_at_a_word_boundary() -> None:
    slug = slugify("Adopt a considerably longer naming convention for every experiment we run")
    assert slug == "adopt-a-considerably-longer-naming-convention-for-every"
    assert len(slug) <= 60
    assert slugify("x" * 80) == "x" * 60


def test_new_record_after_a_gap(tmp_path: Path) -> None:
    project = log(tmp_path, "0000-use-madr.md", "0001-a.md", "0005-c.md")
    record = new_decision("Use PostgreSQL", project, date="2025-06-30")
    path = project / DECISIONS_DIR / "0006-use-postgresql.md"
    assert Path(record.path) == path
    assert (record.number, record.status, record.date) == ("0006", "proposed", "2025-06-30")
    text = path.read_text()
    post = frontmatter.loads(text)
    assert post["status"] == "proposed"
    assert post["date"] == datetime.date(2025, 6, 30)
    assert post["decision-makers"] == ["[FILL: Name <email>]"]
    assert headings(text, 1) == ["Use PostgreSQL"]
    assert [s for s in headings(text, 2) if s in MADR_SECTIONS] == list(MADR_SECTIONS)
    assert "# Our own comment: keep it." in text, "the template's comments stay"
    assert text.endswith("because [FILL: why].\n"), "the body is the template's"


def test_today_and_status(tmp_path: Path) -> None:
    project = log(tmp_path)
    record = new_decision("Retire the scorer", project, status="superseded by ADR-0003")
    post = frontmatter.loads(Path(record.path).read_text())
    assert post["status"] == "superseded by ADR-0003" and DECISION_STATUS.match(post["status"])
    assert post["date"] == datetime.date.today()
    assert Path(record.path).name == "0001-retire-the-scorer.md"


def test_in_a_rendered_project(render) -> None:
    """The seeded records 0000-0004 and the lead's template: the next one is 0005."""
    project = render()
    record = new_decision("Serve predictions in batch", project, date="2025-01-15")
    assert Path(record.path).name == "0005-serve-predictions-in-batch.md"
    assert Path(record.template) == project / DECISIONS_DIR / DECISION_TEMPLATE
    text = Path(record.path).read_text()
    post = frontmatter.loads(text)
    assert post["status"] == "proposed" and post["date"] == datetime.date(2025, 1, 15)
    assert headings(text, 1) == ["Serve predictions in batch"]
    for section in MADR_SECTIONS:
        assert section in headings(text, 2)


def test_falls_back_to_the_bundled_template(tmp_path: Path) -> None:
    project = log(tmp_path, "0000-use-madr.md", template=None)
    record = new_decision("Keep the bundled layout", project)
    assert Path(record.template) == BUNDLED_TEMPLATE
    text = Path(record.path).read_text()
    assert headings(text, 1) == ["Keep the bundled layout"]
    assert set(MADR_SECTIONS) <= set(headings(text, 2))


def test_template_without_front_matter_gets_one(tmp_path: Path) -> None:
    project = log(tmp_path, template="# [FILL: title]\n\n## Context and Problem Statement\n")
    text = Path(new_decision("Plain", project, date="2025-02-01").path).read_text()
    post = frontmatter.loads(text)
    assert (post["status"], post["date"]) == ("proposed", datetime.date(2025, 2, 1))
    assert headings(text, 1) == ["Plain"]


def test_never_overwrites(tmp_path: Path, monkeypatch, capsys) -> None:
    project = log(tmp_path, "0001-keep-me.md")
    monkeypatch.setattr(decisions, "next_number", lambda directory: 1)
    assert main(["decision", "new", "Keep me", "--project", str(project)]) == 1
    assert "exists" in capsys.readouterr().err
    assert (project / DECISIONS_DIR / "0001-keep-me.md").read_text() == "# 0001-keep-me.md\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "the title is empty"),
        (["日本語"], "no ASCII letter or digit"),
        (["Fine", "--status", "done"], "--status 'done'"),
        (["Fine", "--status", "superseded by 0003"], "superseded by ADR-NNNN"),
        (["Fine", "--date", "2025-02-30"], "--date '2025-02-30'"),
        (["Fine", "--date", "25-1-1"], "YYYY-MM-DD"),
        (["Fine", "--date", "20250101"], "YYYY-MM-DD"),
    ],
)
def test_bad_input_is_refused(tmp_path: Path, args: list[str], message: str, capsys) -> None:
    project = log(tmp_path)
    assert main(["decision", "new", *args, "--project", str(project)]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in (project / DECISIONS_DIR).iterdir()) == [DECISION_TEMPLATE]


def test_no_decision_log(tmp_path: Path, capsys) -> None:
    assert main(["decision", "new", "Anything", "--project", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"no {DECISIONS_DIR}/" in err and "mkdir -p" in err and "handover adopt" in err


def test_json_output(tmp_path: Path, monkeypatch, capsys) -> None:
    project = log(tmp_path, "0000-use-madr.md")
    monkeypatch.chdir(project)
    assert main(["decision", "new", "Use DuckDB", "--date", "2025-03-01", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {
        "path": str(Path(DECISIONS_DIR) / "0001-use-duckdb.md"),
        "number": "0001",
        "title": "Use DuckDB",
        "status": "proposed",
        "date": "2025-03-01",
        "template": str(Path(DECISIONS_DIR) / DECISION_TEMPLATE),
    }
    assert main(["decision", "new", "Use Parquet"]) == 0
    assert "Created docs/decisions/0002-use-parquet.md (ADR-0002" in capsys.readouterr().out
