"""Operations checks (OP303, OP304, OP306, CQ401, CQ402, CQ403, OW605) on real repositories."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from audit_repos import check_result, commit, git, make_repo, write_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_handover.audit.model import Outcome, Result

RUNBOOK = """# Runbook

## Monitoring and alerts

The drift check runs nightly and alerts the on-call rota in the #ml-alerts channel.
"""

PYPROJECT = """[project]
name = "churn"
version = "0.1.0"
dependencies = ["pandas"]

[tool.ruff]
line-length = 100
"""

PRECOMMIT = """repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.17.0
    hooks:
      - id: ruff-check
      - id: ruff-format
"""

WORKFLOW = """name: CI
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1
      - run: ruff check .
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1
      - run: python -m pytest
"""

DEPENDABOT = """version: 2
updates:
  - package-ecosystem: pip
    directory: /
    schedule:
      interval: weekly
  - package-ecosystem: github-actions
    directory: /
    schedule:
      interval: weekly
"""

_counter = itertools.count()


def repo(tmp_path: Path, files: dict[str, str | bytes], **kwargs) -> Path:
    return make_repo(tmp_path / f"repo{next(_counter)}", files, **kwargs)


def result_of(tmp_path: Path, check: str, files: dict[str, str | bytes], **kwargs) -> Result:
    return check_result(repo(tmp_path, files, **kwargs), check).result


# --- OP303 ---------------------------------------------------------------------------------


def test_op303_passes_with_drift_params_and_alert_routing(tmp_path: Path) -> None:
    result = result_of(
        tmp_path,
        "OP303",
        {"params.yaml": "drift:\n  psi_threshold: 0.25\n", "docs/runbook.md": RUNBOOK},
    )
    assert result.outcome is Outcome.PASS, result
    assert "drift:" in result.message and "params.yaml" in result.evidence


def test_op303_passes_with_a_monitoring_library(tmp_path: Path) -> None:
    files = {"src/m/watch.py": "from evidently import Report\n", "RUNBOOK.md": RUNBOOK}
    assert result_of(tmp_path, "OP303", files).outcome is Outcome.PASS


def test_op303_partial_without_alert_routing(tmp_path: Path) -> None:
    files = {"params.yaml": "drift:\n  bins: 5\n", "docs/runbook.md": "# Runbook\n\nRetrain.\n"}
    result = result_of(tmp_path, "OP303", files)
    assert result.outcome is Outcome.PARTIAL and result.score == 0.5
    assert result.locations == (("docs/runbook.md", None),)


def test_op303_fails_without_monitoring(tmp_path: Path) -> None:
    result = result_of(tmp_path, "OP303", {"params.yaml": "train:\n  C: 1\n", "README.md": "x"})
    assert result.outcome is Outcome.FAIL
    assert "no drift or monitoring configuration" in result.message
    assert "no runbook" in result.message


def test_op303_malformed_params_fails(tmp_path: Path) -> None:
    result = result_of(tmp_path, "OP303", {"params.yaml": "drift: [unclosed\n"})
    assert result.outcome is Outcome.FAIL
    assert "params.yaml is not valid YAML" in result.message


# --- OP304 ---------------------------------------------------------------------------------


def test_op304_passes_with_pandera(tmp_path: Path) -> None:
    files = {"src/m/schema.py": "import pandera as pa\n\nSCHEMA = pa.DataFrameSchema({})\n"}
    result = result_of(tmp_path, "OP304", files)
    assert result.outcome is Outcome.PASS and "pandera" in result.message


def test_op304_passes_with_column_assertions_in_tests(tmp_path: Path) -> None:
    test = "def test_raw_data_schema(frame):\n    assert list(frame.columns) == ['a', 'target']\n"
    result = result_of(tmp_path, "OP304", {"src/m/a.py": "x = 1\n", "tests/test_data.py": test})
    assert result.outcome is Outcome.PASS
    assert "tests/test_data.py:1" in result.message


def test_op304_schema_file_unused_is_partial(tmp_path: Path) -> None:
    files = {"src/m/a.py": "x = 1\n", "data/schema.yaml": "columns: [a, b]\n"}
    result = result_of(tmp_path, "OP304", files)
    assert result.outcome is Outcome.PARTIAL
    assert result.locations == (("data/schema.yaml", None),)


def test_op304_schema_file_used_by_the_pipeline_passes(tmp_path: Path) -> None:
    files = {
        "src/m/a.py": "x = 1\n",
        "data/schema.yaml": "columns: [a, b]\n",
        "dvc.yaml": "stages:\n  validate:\n    cmd: python -m m.validate data/schema.yaml\n",
    }
    assert result_of(tmp_path, "OP304", files).outcome is Outcome.PASS


def test_op304_fails_without_schema(tmp_path: Path) -> None:
    files = {
        "src/m/train.py": "import pandas as pd\n",
        "tests/test_train.py": "def test_x():\n    assert 1\n",
        "docs/handover/signoffs.schema.json": "{}",
    }
    result = result_of(tmp_path, "OP304", files)
    assert result.outcome is Outcome.FAIL
    assert result.locations == (("tests/test_train.py", None),)


def test_op304_without_python_is_not_applicable(tmp_path: Path) -> None:
    assert result_of(tmp_path, "OP304", {"README.md": "x"}).outcome is Outcome.NOT_APPLICABLE


# --- OP306 ---------------------------------------------------------------------------------


def test_op306_passes_with_dependabot_for_pip_and_actions(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": PYPROJECT,
        ".github/workflows/ci.yml": WORKFLOW,
        ".github/dependabot.yml": DEPENDABOT,
    }
    result = result_of(tmp_path, "OP306", files)
    assert result.outcome is Outcome.PASS, result
    assert result.evidence == (".github/dependabot.yml",)


def test_op306_partial_when_actions_are_not_updated(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": PYPROJECT,
        ".github/workflows/ci.yml": WORKFLOW,
        ".github/dependabot.yml": DEPENDABOT.split("  - package-ecosystem: github-actions")[0],
    }
    result = result_of(tmp_path, "OP306", files)
    assert result.outcome is Outcome.PARTIAL and result.score == 0.5
    assert "github-actions" in result.message


def test_op306_passes_with_renovate_defaults_and_json5(tmp_path: Path) -> None:
    json5 = '{\n  // weekly\n  extends: ["config:recommended"],\n}\n'
    files = {"pyproject.toml": PYPROJECT, "renovate.json5": json5}
    assert result_of(tmp_path, "OP306", files).outcome is Outcome.PASS
    files = {"pyproject.toml": PYPROJECT, "renovate.json": '{"extends": ["config:base"]}'}
    assert result_of(tmp_path, "OP306", files).outcome is Outcome.PASS


def test_op306_renovate_limited_to_other_managers_fails(tmp_path: Path) -> None:
    files = {"pyproject.toml": PYPROJECT, "renovate.json": '{"enabledManagers": ["npm"]}'}
    assert result_of(tmp_path, "OP306", files).outcome is Outcome.FAIL


def test_op306_fails_without_configuration(tmp_path: Path) -> None:
    result = result_of(tmp_path, "OP306", {"pyproject.toml": PYPROJECT})
    assert result.outcome is Outcome.FAIL
    assert result.locations == ((".github/dependabot.yml", None),)


def test_op306_malformed_dependabot_fails(tmp_path: Path) -> None:
    files = {"pyproject.toml": PYPROJECT, ".github/dependabot.yml": "updates: {pip\n"}
    assert result_of(tmp_path, "OP306", files).outcome is Outcome.FAIL


def test_op306_not_applicable_without_manifests(tmp_path: Path) -> None:
    assert result_of(tmp_path, "OP306", {"README.md": "x"}).outcome is Outcome.NOT_APPLICABLE


# --- CQ401 ---------------------------------------------------------------------------------


def test_cq401_passes_with_pull_request_tests_and_lint(tmp_path: Path) -> None:
    result = result_of(tmp_path, "CQ401", {".github/workflows/ci.yml": WORKFLOW})
    assert result.outcome is Outcome.PASS, result


def test_cq401_follows_local_reusable_workflows(tmp_path: Path) -> None:
    caller = "on: [pull_request]\njobs:\n  checks:\n    uses: ./.github/workflows/checks.yml\n"
    called = (
        "on: workflow_call\njobs:\n  t:\n    runs-on: x\n    steps:\n"
        "      - run: pytest\n      - uses: pre-commit/action@abc\n"
    )
    files = {".github/workflows/pr.yml": caller, ".github/workflows/checks.yml": called}
    assert result_of(tmp_path, "CQ401", files).outcome is Outcome.PASS


def test_cq401_gitlab_merge_requests(tmp_path: Path) -> None:
    gitlab = (
        'workflow:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == "merge_request_event"\n'
        "test:\n  script:\n    - python -m pytest\n    - ruff check .\n"
    )
    assert result_of(tmp_path, "CQ401", {".gitlab-ci.yml": gitlab}).outcome is Outcome.PASS
    only_main = gitlab.replace("merge_request_event", "push")
    result = result_of(tmp_path, "CQ401", {".gitlab-ci.yml": only_main})
    assert result.outcome is Outcome.PARTIAL and result.score == 0.25


def test_cq401_partial_without_linter(tmp_path: Path) -> None:
    workflow = WORKFLOW.replace("ruff check .", "echo lint")
    result = result_of(tmp_path, "CQ401", {".github/workflows/ci.yml": workflow})
    assert result.outcome is Outcome.PARTIAL and "a linter" in result.message
    assert result.locations == ((".github/workflows/ci.yml", 8),)


def test_cq401_push_only_is_partial(tmp_path: Path) -> None:
    workflow = WORKFLOW.replace("  pull_request:\n", "")
    result = result_of(tmp_path, "CQ401", {".github/workflows/ci.yml": workflow})
    assert result.outcome is Outcome.PARTIAL
    assert result.locations == ((".github/workflows/ci.yml", 2),)


def test_cq401_fails_without_ci(tmp_path: Path) -> None:
    result = result_of(tmp_path, "CQ401", {"README.md": "x"})
    assert result.outcome is Outcome.FAIL and "no CI configuration" in result.message


def test_cq401_fails_when_pull_requests_run_nothing(tmp_path: Path) -> None:
    workflow = "on: pull_request\njobs:\n  x:\n    runs-on: y\n    steps:\n      - run: echo hi\n"
    result = result_of(tmp_path, "CQ401", {".github/workflows/ci.yml": workflow})
    assert result.outcome is Outcome.FAIL


@pytest.mark.parametrize(
    "workflow",
    ["on: push\njobs: [1, 2]\n", "on: 5\njobs: 3\n", "on: push\njobs: {a: {steps: 3}}\n"],
)
def test_cq401_jobs_not_a_mapping_is_not_an_internal_error(tmp_path: Path, workflow: str) -> None:
    result = result_of(tmp_path, "CQ401", {".github/workflows/ci.yml": workflow})
    assert "internal error" not in result.message, result.message


# --- CQ402 ---------------------------------------------------------------------------------


def test_cq402_passes_with_enough_tests_importing_the_package(tmp_path: Path) -> None:
    files = {
        "src/churn/__init__.py": "",
        "src/churn/train.py": "x = 1\n",
        "src/churn/evaluate.py": "x = 1\n",
        "tests/test_train.py": "from churn import train\n",
    }
    result = result_of(tmp_path, "CQ402", files)
    assert result.outcome is Outcome.PASS, result
    assert "1 test file for 2 source files" in result.message


def test_cq402_flat_layout(tmp_path: Path) -> None:
    files = {
        "churn/__init__.py": "",
        "churn/train.py": "x = 1\n",
        "lib/sub/__init__.py": "",
        "tests/test_train.py": "import churn.train\n",
    }
    assert result_of(tmp_path, "CQ402", files).outcome is Outcome.PASS


def test_cq402_partial_with_too_few_tests(tmp_path: Path) -> None:
    files = {f"src/churn/m{i}.py": "x = 1\n" for i in range(10)}
    files["tests/test_one.py"] = "from churn import m0\n"
    result = result_of(tmp_path, "CQ402", files)
    assert result.outcome is Outcome.PARTIAL
    assert result.score == pytest.approx((0.1 / 0.25 + 1) / 2)


def test_cq402_partial_when_tests_do_not_import_the_package(tmp_path: Path) -> None:
    files = {"src/churn/train.py": "x = 1\n", "tests/test_x.py": "def test_x():\n    pass\n"}
    result = result_of(tmp_path, "CQ402", files)
    assert result.outcome is Outcome.PARTIAL and "no test imports" in result.message


def test_cq402_fails_without_tests(tmp_path: Path) -> None:
    result = result_of(tmp_path, "CQ402", {"src/churn/train.py": "x = 1\n"})
    assert result.outcome is Outcome.FAIL
    assert result.locations == (("src/churn/train.py", None),)


def test_cq402_threshold_from_config(tmp_path: Path) -> None:
    files = {f"src/churn/m{i}.py": "x = 1\n" for i in range(10)}
    files["tests/test_one.py"] = "from churn import m0\n"
    files["pyproject.toml"] = "[tool.handover.audit.thresholds]\ntest-ratio = 0.1\n"
    assert result_of(tmp_path, "CQ402", files).outcome is Outcome.PASS


def test_cq402_not_applicable_without_code(tmp_path: Path) -> None:
    assert result_of(tmp_path, "CQ402", {"README.md": "x"}).outcome is Outcome.NOT_APPLICABLE


# --- CQ403 ---------------------------------------------------------------------------------


def test_cq403_passes_with_ruff_and_pre_commit(tmp_path: Path) -> None:
    files = {"pyproject.toml": PYPROJECT, ".pre-commit-config.yaml": PRECOMMIT}
    result = result_of(tmp_path, "CQ403", files)
    assert result.outcome is Outcome.PASS, result
    assert "[tool.ruff] in pyproject.toml" in result.message


def test_cq403_linter_hook_counts_as_linter(tmp_path: Path) -> None:
    files = {".pre-commit-config.yaml": PRECOMMIT}
    assert result_of(tmp_path, "CQ403", files).outcome is Outcome.PASS


def test_cq403_partial_without_pre_commit(tmp_path: Path) -> None:
    files = {"setup.cfg": "[flake8]\nmax-line-length = 100\n"}
    result = result_of(tmp_path, "CQ403", files)
    assert result.outcome is Outcome.PARTIAL and "[flake8] in setup.cfg" in result.message
    assert result.locations == ((".pre-commit-config.yaml", None),)


def test_cq403_fails_without_either(tmp_path: Path) -> None:
    result = result_of(tmp_path, "CQ403", {"pyproject.toml": '[project]\nname = "x"\n'})
    assert result.outcome is Outcome.FAIL


def test_cq403_malformed_pre_commit_fails(tmp_path: Path) -> None:
    files = {"pyproject.toml": PYPROJECT, ".pre-commit-config.yaml": "repos: [\n"}
    result = result_of(tmp_path, "CQ403", files)
    assert result.outcome is Outcome.FAIL and ".pre-commit-config.yaml" in result.message


# --- OW605 ---------------------------------------------------------------------------------

CLIENT_CONFIG = '[tool.handover.audit]\nclient-domains = ["client.example"]\n'


def test_ow605_passes_with_two_recent_client_authors(tmp_path: Path) -> None:
    path = repo(tmp_path, {"pyproject.toml": CLIENT_CONFIG}, author="Ann <ann@client.example>")
    write_files(path, {"a.txt": "a"})
    commit(path, "second", author="Bob <bob@ml.client.example>")
    commit(path, "vendor", author="Vic <vic@vendor.example>")
    result = check_result(path, "OW605").result
    assert result.outcome is Outcome.PASS, result
    assert "2 client authors" in result.message and "1 other" in result.message


def test_ow605_old_commits_do_not_count(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "old", {"pyproject.toml": CLIENT_CONFIG}, commit_files=False)
    commit(path, "old", author="Ann <ann@client.example>", date="2001-01-01T00:00:00Z")
    write_files(path, {"a.txt": "a"})
    commit(path, "new", author="Bob <bob@client.example>")
    result = check_result(path, "OW605").result
    assert result.outcome is Outcome.PARTIAL and result.score == 0.5
    assert "bob@client.example" in result.message and "ann@" not in result.message


def test_ow605_fails_with_vendor_authors_only(tmp_path: Path) -> None:
    path = repo(tmp_path, {"pyproject.toml": CLIENT_CONFIG}, author="Vic <vic@vendor.example>")
    result = check_result(path, "OW605").result
    assert result.outcome is Outcome.FAIL and "0 client authors" in result.message


def test_ow605_domains_from_copier_answers(tmp_path: Path) -> None:
    answers = "_src_path: gh:x/y\nclient_email_domain: client.example\n"
    path = repo(tmp_path, {".copier-answers.yml": answers}, author="Ann <ann@client.example>")
    assert check_result(path, "OW605").result.outcome is Outcome.PARTIAL


def test_ow605_unknown_without_domains_or_git(tmp_path: Path) -> None:
    result = result_of(tmp_path, "OW605", {"a.txt": "a"})
    assert result.outcome is Outcome.UNKNOWN and "client-domains" in result.message
    path = repo(tmp_path, {"pyproject.toml": CLIENT_CONFIG}, git_init=False)
    assert check_result(path, "OW605").result.outcome is Outcome.UNKNOWN


def test_ow605_shallow_clone_is_unknown(tmp_path: Path) -> None:
    origin = repo(tmp_path, {"pyproject.toml": CLIENT_CONFIG}, author="Ann <ann@client.example>")
    write_files(origin, {"a.txt": "a"})
    commit(origin, "second", author="Bob <bob@client.example>")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(clone))
    result = check_result(clone, "OW605").result
    assert result.outcome is Outcome.UNKNOWN and "fetch-depth: 0" in result.message


# --- the generated project -----------------------------------------------------------------


@pytest.mark.parametrize("ci_provider", ["github", "gitlab"])
def test_generated_project_passes_operations_checks(render, ci_provider: str) -> None:
    project = render({"ci_provider": ci_provider}, name=f"generated-{ci_provider}")
    git(project, "init", "-q", "-b", "main")
    commit(project, "generated", author="Client ML Owner <ml-owner@acme.example>")
    # OP306: Dependabot on GitHub, renovate.json elsewhere.
    checks = ["CQ401", "CQ402", "CQ403", "OP303", "OP304", "OP306"]
    outcomes = {check: check_result(project, check).result for check in checks}
    assert all(r.outcome is Outcome.PASS for r in outcomes.values()), outcomes


# --- fuzzing: malformed files never escape as exceptions ---------------------------------

FUZZ_TARGETS = {
    "OP303": ["params.yaml", "docs/runbook.md"],
    "OP304": ["tests/test_data.py", "data/schema.yaml"],
    "OP306": [".github/dependabot.yml", "renovate.json", "renovate.json5"],
    "CQ401": [".github/workflows/ci.yml", ".gitlab-ci.yml"],
    "CQ403": [".pre-commit-config.yaml", "setup.cfg", "pyproject.toml"],
}
YAMLISH = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["on", "jobs", "updates", "repos", "steps", "run",
                                           "package-ecosystem", "hooks", "id", "drift",
                                           "enabledManagers", "script", "workflow", "uses"]),
                          inner, max_size=4),
        max_leaves=12,
    ).map(lambda value: __import__("json").dumps(value)),
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = {path: "" for paths in FUZZ_TARGETS.values() for path in paths}
    files["src/m/a.py"] = "x = 1\n"
    return make_repo(tmp_path_factory.mktemp("fuzz"), files)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.sampled_from([(c, p) for c, paths in FUZZ_TARGETS.items() for p in paths]),
    content=YAMLISH,
)
def test_parsers_never_raise(fuzz_repo: Path, target: tuple[str, str], content) -> None:
    check, path = target
    file = fuzz_repo / path
    if isinstance(content, bytes):
        file.write_bytes(content)
    else:
        file.write_text(content, encoding="utf-8", errors="surrogatepass")
    try:
        item = check_result(fuzz_repo, check)
    finally:
        file.write_text("")
    assert isinstance(item.result, Result)
    assert "internal error" not in item.result.message, item.result.message
