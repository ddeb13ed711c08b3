"""The user guide builds cleanly, and its question reference covers every question of copier.yml."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _text(page: str) -> str:
    """Visible text of an HTML page, entities decoded, whitespace collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL | re.IGNORECASE)
    page = re.sub(r"<[^>]+>", " ", page)
    return " ".join(html.unescape(page).split())


def _questions() -> dict[str, dict]:
    data = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    return {
        key: spec if isinstance(spec, dict) else {"default": spec}
        for key, spec in data.items()
        if not str(key).startswith("_")
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    )
    return out


def test_every_page_in_nav_is_built(site: Path) -> None:
    nav_pages = re.findall(
        r":\s*([\w/-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.M
    )
    assert nav_pages, "mkdocs.yml has no nav"
    for page in nav_pages:
        built = site / ("index.html" if page == "index.md" else page[:-3] + "/index.html")
        assert built.is_file(), f"{page} is in the nav but was not built"
    # The build hook is not published as a page or a static file.
    assert not (site / "hooks").exists()


def test_question_reference_covers_copier_yml(site: Path) -> None:
    questions = _questions()
    assert questions, "copier.yml has no questions"
    raw = (site / "questions" / "index.html").read_text(encoding="utf-8")
    text = _text(raw)
    assert "copier-questions" not in raw, "the marker was not replaced by the hook"
    assert f"defines {len(questions)} questions" in text

    missing = [key for key in questions if f'id="{key}"' not in raw]
    assert not missing, f"questions without a section on the questions page: {missing}"

    for key, spec in questions.items():
        help_text = " ".join(str(spec.get("help", "")).split())
        assert help_text, f"copier.yml question {key!r} has no help text"
        assert help_text in text, f"help text of {key!r} is missing from the questions page"
        for choice in _choice_values(spec):
            assert f"{choice}" in text, f"choice {choice!r} of {key!r} is not documented"
        if "when" in spec and spec["when"] is not False:
            assert " ".join(str(spec["when"]).split()) in text, f"`when` of {key!r} not shown"


def test_computed_questions_are_marked(site: Path) -> None:
    raw = (site / "questions" / "index.html").read_text(encoding="utf-8")
    sections = re.split(r'<h3 id="', raw)[1:]
    by_key = {section.split('"', 1)[0]: _text(section) for section in sections}
    for key, spec in _questions().items():
        if spec.get("when") is False:
            assert "never (computed)" in by_key[key], f"{key!r} is computed but not marked so"


def test_validation_message_format_is_documented(site: Path) -> None:
    text = _text((site / "questions" / "index.html").read_text(encoding="utf-8"))
    assert "Validation error for question 'package_name':" in text


def _choice_values(spec: dict) -> list[str]:
    choices = spec.get("choices") or []
    if isinstance(choices, dict):
        return [
            str(value.get("value") if isinstance(value, dict) else value)
            for value in choices.values()
        ]
    return [str(choice) for choice in choices]


# --- the audit's pages ----------------------------------------------------------------------


def test_check_reference_covers_every_check(site: Path) -> None:
    from mlops_handover.audit.model import all_checks, level_name

    checks = all_checks()
    site_url = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["site_url"]
    raw = (site / "checks" / "index.html").read_text(encoding="utf-8")
    assert "audit-checks" not in raw, "the marker was not replaced by the hook"
    sections = {
        match.group(1): _text(match.group(2))
        for match in re.finditer(r'<h3 id="([a-z]{2}\d{3})">(.*?)(?=<h[23] |\Z)', raw, re.DOTALL)
    }
    assert set(sections) == {check_id.lower() for check_id in checks}
    assert f"The audit has {len(checks)} checks" in _text(raw)
    for check_id, check in checks.items():
        # The reports link to Check.url(): its fragment is this section's anchor, and the page
        # is published where its base points.
        base, fragment = check.url().rsplit("#", 1)
        assert fragment == check_id.lower()
        assert base == site_url + "checks/", "Check.url() does not point at the published page"
        text = sections[fragment]
        assert f"{check_id}: {check.title().replace('`', '')}" in text  # code spans rendered
        assert check.pillar.value in text and check.severity.value in text
        assert level_name(check.level) in text
        assert ("passes only with a recorded sign-off" in text) == check.needs_attestation
        # The advice is Markdown: its first plain words must be on the page.
        words = re.findall(r"[A-Za-z]{4,}", check.advice())[:8]
        assert words, f"{check_id} has no advice"
        assert all(word in text for word in words), (check_id, words)


def test_audit_page_configuration_example_is_valid(site: Path) -> None:
    """The [tool.handover.audit] example on the audit page is accepted without a problem."""
    import tomllib

    from mlops_handover.audit import config as audit_config

    page = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", page, re.DOTALL)
    examples = [tomllib.loads(b) for b in blocks if "[tool.handover.audit]" in b]
    assert examples, "docs/audit.md has no [tool.handover.audit] example"
    for example in examples:
        config = audit_config.from_table(example["tool"]["handover"]["audit"])
        assert config.problems == []
    # Every key and threshold the configuration knows is documented.
    for key in [*audit_config.KEYS, *audit_config.THRESHOLDS]:
        assert f"`{key}`" in page, f"{key} is not documented on the audit page"
    # The schema of the JSON report is published next to the page.
    assert (site / "audit-report.schema.json").is_file()


def test_cli_page_documents_the_audit_commands(site: Path) -> None:
    text = _text((site / "cli" / "index.html").read_text(encoding="utf-8"))
    for command in ("handover audit", "handover checks", "handover explain"):
        assert command in text
    for option in ("--fail-under", "--offline", "--format", "--output", "--select", "--ignore"):
        assert option in text
