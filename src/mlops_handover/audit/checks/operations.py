"""Checks on operations: CI, tests, linters, dependency updates, monitoring, data schemas and the
people who commit.

Everything here is read from tracked files and git history; nothing runs the project's code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from mlops_handover.audit.config import AuditConfig
from mlops_handover.audit.fixtures import (
    CiWorkflow,
    Context,
    Domains,
    GitRepo,
    ProjectFiles,
    fixture,
    git_command,
    glob_filter,
)
from mlops_handover.audit.model import (
    Check,
    Pillar,
    Result,
    Severity,
    Unavailable,
    Unreadable,
    failed,
    not_applicable,
    partial,
    passed,
    plural,
    unknown,
)
from mlops_handover.audit.readers import read_bytes

RUNBOOKS = (
    "docs/runbook.md",
    "RUNBOOK.md",
    "docs/RUNBOOK.md",
    "runbook.md",
    "docs/runbook/index.md",
)

# --- shared helpers ------------------------------------------------------------------------

_TEST_DIRS = {"tests", "test", "testing"}
_NOT_PACKAGES = {"tests", "test", "docs", "doc", "scripts", "examples", "bench", "benchmarks"}
_CONFIG_SUFFIXES = (".yml", ".yaml", ".json", ".json5", ".toml")
_CONFIG_DIRS = {"monitoring", "schemas", "expectations"}


@dataclass(frozen=True)
class Layout:
    """The tracked files the operations checks look at, sorted in one pass over the tree (a
    repository may track 100,000 files; each check then scans only its short list)."""

    #: Every Python file.
    python: tuple[str, ...]
    #: test_*.py and *_test.py files.
    tests: tuple[str, ...]
    #: YAML/JSON/TOML files and anything in a monitoring/, schemas/ or expectations/ folder.
    configs: tuple[str, ...]
    #: Files at the repository root.
    top: tuple[str, ...]


@fixture
def ops_layout(context: Context) -> Layout:
    files: ProjectFiles = context.get("files")
    python, tests, configs, top = [], [], [], []
    for path in files:
        head, _, name = path.rpartition("/")
        if not head:
            top.append(path)
        if name.endswith(".py"):
            python.append(path)
            if name.startswith("test_") or name.endswith("_test.py"):
                tests.append(path)
        elif name.endswith(_CONFIG_SUFFIXES) or head.rpartition("/")[2] in _CONFIG_DIRS:
            configs.append(path)
    return Layout(tuple(python), tuple(tests), tuple(configs), tuple(top))


def _is_test_file(path: str) -> bool:
    name = path.rpartition("/")[2]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _in_test_dir(path: str) -> bool:
    return any(part in _TEST_DIRS for part in path.split("/")[:-1])


def _python_sources(layout: Layout) -> tuple[list[str], list[str]]:
    """The project's own Python modules (not tests) and its package names.

    `src/` layout when there is one; otherwise top-level packages (directories with an
    `__init__.py`) other than tests, docs and scripts.
    """
    src = [p for p in layout.python if p.startswith("src/")]
    if src:
        sources = src
        packages = sorted({p.split("/")[1].removesuffix(".py") for p in src})
    else:
        packages = sorted(
            {
                p.split("/")[0]
                for p in layout.python
                if p.count("/") == 1 and p.endswith("/__init__.py")
                if p.split("/")[0] not in _NOT_PACKAGES and not p.startswith(".")
            }
        )
        sources = [p for p in layout.python if p.split("/", 1)[0] in packages]
    sources = [
        p
        for p in sources
        if not _is_test_file(p)
        and not _in_test_dir(p)
        and p.rpartition("/")[2] not in ("__init__.py", "conftest.py")
    ]
    return sources, [p for p in packages if p.isidentifier()]


def _read(files: ProjectFiles, path: str) -> str:
    """A tracked file's text; '' when it is absent from the working tree. Unreadable (not
    UTF-8, permission denied, too large) propagates and fails the check with the reason."""
    try:
        return files.read(path) or ""
    except Unreadable:
        raise
    except Unavailable:
        return ""


def _python_files(layout: Layout, limit: int = 500) -> list[str]:
    """Python files to read, the project's own first (src/, tests/, packages), at most `limit`."""
    first = [p for p in layout.python if p.startswith(("src/", "tests/", "test/")) or "/" not in p]
    chosen = set(first)
    rest = [p for p in layout.python if p not in chosen] if len(first) < limit else []
    return (first + rest)[:limit]


def _line_of(text: str, pattern: str) -> int | None:
    """1-based line of the first match of `pattern` (a regex) in `text`, None if none."""
    match = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


# --- OP303 monitoring ----------------------------------------------------------------------

_MONITORING_LIBRARIES = (
    "evidently", "whylogs", "nannyml", "alibi_detect", "deepchecks", "frouros", "prometheus_client",
)  # fmt: skip
_MONITORING_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+(" + "|".join(_MONITORING_LIBRARIES) + r")\b", re.MULTILINE
)
_MONITORING_FILES = (
    "monitoring.yaml", "monitoring.yml", "monitoring.json", "monitoring.toml", "monitoring/*",
    "alert*.yml", "alert*.yaml", "alertmanager*.yml", "prometheus*.yml", "*alert*rules*.y*ml",
    "evidently*.y*ml", "drift.yaml", "drift.yml",
)  # fmt: skip
_ALERT_WORDS = re.compile(r"\b(alert\w*|on[- ]?call|pager\w*)", re.IGNORECASE)
_ROUTING_WORDS = re.compile(
    r"\b(on[- ]?call|pager\w*|opsgenie|escalat\w*|notif\w*|slack|channel|who to call|"
    r"contacts?|rota|e-?mail)\b",
    re.IGNORECASE,
)


def _params_sections(files: ProjectFiles) -> tuple[str | None, set[str], str | None]:
    """(params file, its top-level keys, why it could not be read)."""
    path = files.first("params.yaml", "params.yml")
    if path is None:
        return None, set(), None
    try:
        data = files.yaml(path)
    except Unreadable:
        raise
    except Unavailable as reason:
        return path, set(), str(reason)
    if not isinstance(data, dict):
        return path, set(), None
    return path, {str(k) for k, v in data.items() if isinstance(v, dict) and v}, None


class OP303(Check):
    """Monitoring is defined and its alerts reach someone

    After the handover nobody from the vendor watches the model. The repository must say what
    is monitored (data drift, prediction quality) and the runbook must say who gets the alert
    and what they do. Fix: keep a drift or monitoring configuration in the repository (a
    `drift:` or `monitoring:` section in `params.yaml`, a `monitoring.yaml`, or code using
    Evidently, whylogs or NannyML), and give the runbook (`docs/runbook.md`) a section on
    alerts: which check raises them, where they are sent (on-call rota, channel, pager) and the
    first steps. Whether the alerts really fire is for the TRN-09 sign-off.
    """

    pillar = Pillar.OPERATE
    severity = Severity.MEDIUM
    level = 3

    def check(self, files: ProjectFiles, ops_layout: Layout) -> Result:
        layout = ops_layout
        evidence, found = [], []
        params, sections, params_error = _params_sections(files)
        for section in ("drift", "monitoring"):
            if section in sections:
                found.append(f"`{section}:` in {params}")
                evidence.append(str(params))
        configs = [
            p for p in glob_filter(layout.configs, *_MONITORING_FILES) if not p.startswith("docs/")
        ]
        if configs:
            found.append(f"monitoring configuration {', '.join(configs[:3])}")
            evidence.extend(configs[:3])
        for path in _python_files(layout):
            match = _MONITORING_IMPORT.search(_read(files, path))
            if match:
                found.append(f"{match.group(1)} used in {path}")
                evidence.append(path)
                break
        modules = [
            p
            for p in glob_filter(layout.python, "drift.py", "monitoring.py", "monitor.py")
            if not _in_test_dir(p) and not _is_test_file(p)
        ]
        if modules:
            found.append(f"monitoring code {', '.join(modules[:2])}")
            evidence.extend(modules[:2])

        runbook = files.first(*RUNBOOKS)
        routed, runbook_note = False, "no runbook (docs/runbook.md)"
        if runbook is not None:
            text = _read(files, runbook)
            alerts, routing = _ALERT_WORDS.search(text), _ROUTING_WORDS.search(text)
            routed = bool(alerts and routing)
            evidence.append(runbook)
            if routed:
                runbook_note = f"{runbook} documents alerts and who receives them"
            elif alerts:
                runbook_note = f"{runbook} mentions alerts but not where they go (on-call, channel)"
            else:
                runbook_note = f"{runbook} says nothing about alerts or monitoring"
        configured = bool(found)
        what = "; ".join(dict.fromkeys(found)) if found else "no drift or monitoring configuration"
        evidence = list(dict.fromkeys(evidence))
        if configured and routed:
            return passed(f"{what}; {runbook_note}", *evidence)
        if not configured and params_error:
            return unknown(f"{params_error}; {runbook_note}", *evidence)
        where = (
            (runbook or "docs/runbook.md", None) if configured else (params or "params.yaml", None)
        )
        if configured or routed:
            return partial(0.5, f"{what}; {runbook_note}", *evidence, locations=(where,))
        return failed(f"{what}; {runbook_note}", *evidence, locations=(where,))


# --- OP304 data schema ---------------------------------------------------------------------

_SCHEMA_LIBRARIES = (
    "pandera", "great_expectations", "gx", "frictionless", "tensorflow_data_validation",
    "deepchecks", "pointblank", "dataframely", "patito", "soda",
)  # fmt: skip
_SCHEMA_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+(" + "|".join(_SCHEMA_LIBRARIES) + r")\b", re.MULTILINE
)
_SCHEMA_FILES = (
    "great_expectations.yml", "*.expectations.json", "expectations/*.json", "datapackage.json",
    "schema.yaml", "schema.yml", "schema.json", "*.schema.yaml", "*.schema.yml", "*.schema.json",
    "*_schema.yaml", "*_schema.yml", "*_schema.json", "schemas/*",
)  # fmt: skip
#: Schemas that describe documents or CI, not data.
_NOT_DATA_SCHEMA = re.compile(r"^(docs?/|\.github/|\.gitlab/)|signoffs\.schema\.json$")
_TEST_COLUMN_CHECK = re.compile(
    r"def test_\w*(schema|column|dtype)\w*|assert\b[^\n]*\.(columns|dtypes|dtype)\b"
)
_CODE_COLUMN_CHECK = re.compile(r"\bnot\s+in\s+[\w.\[\]\"']+\.columns\b|\.columns\s*[!=]=")


class OP304(Check):
    """The data schema is enforced by tests or the pipeline

    A model fails silently when a column is renamed, retyped or starts to hold missing values.
    The expected schema must be written down and checked every time data comes in, so the
    client notices a changed source before it reaches the model. Fix: declare the schema with
    pandera or Great Expectations (or a schema file read by a validation step), and run the
    validation in the pipeline's first stage and in a test, for example
    `tests/test_data.py::test_raw_data_schema` asserting the columns and their types.
    """

    pillar = Pillar.OPERATE
    severity = Severity.MEDIUM
    level = 3

    def check(self, files: ProjectFiles, ops_layout: Layout) -> Result:
        layout = ops_layout
        python = _python_files(layout)
        if not python:
            return not_applicable("no Python code in the repository")
        texts = {p: _read(files, p) for p in python}
        for path, text in texts.items():
            match = _SCHEMA_IMPORT.search(text)
            if match:
                return passed(f"{match.group(1)} validates data in {path}", path)
        for path in layout.tests:
            match = _TEST_COLUMN_CHECK.search(texts.get(path, ""))
            if match:
                line = texts[path].count("\n", 0, match.start()) + 1
                return passed(f"tests check the data's columns or types ({path}:{line})", path)
        for path, text in texts.items():
            if _is_test_file(path):
                continue
            match = _CODE_COLUMN_CHECK.search(text)
            if match:
                line = text.count("\n", 0, match.start()) + 1
                return passed(f"the pipeline checks the data's columns ({path}:{line})", path)
        schemas = [
            p for p in glob_filter(layout.configs, *_SCHEMA_FILES) if not _NOT_DATA_SCHEMA.search(p)
        ]
        if schemas:
            users = [*texts.values(), _read(files, "dvc.yaml")]
            used = [s for s in schemas if any(PurePosixPath(s).name in t for t in users)]
            if used:
                return passed(f"schema file {used[0]} is read by the code or pipeline", *used)
            return partial(
                0.5,
                f"schema file {schemas[0]} exists but no test or pipeline stage reads it",
                *schemas,
                locations=((schemas[0], None),),
            )
        where = next(iter(layout.tests), None) or "dvc.yaml"
        return failed(
            "no data schema found: no pandera/Great Expectations validation, schema file or "
            "test asserting the columns",
            *python[:1],
            locations=((where, None),),
        )


# --- OP306 dependency updates --------------------------------------------------------------

DEPENDABOT = (".github/dependabot.yml", ".github/dependabot.yaml")
RENOVATE = (
    "renovate.json", "renovate.json5", ".renovaterc", ".renovaterc.json", ".renovaterc.json5",
    ".github/renovate.json", ".github/renovate.json5", ".gitlab/renovate.json",
    ".gitlab/renovate.json5",
)  # fmt: skip
_PYTHON_MANIFESTS = (
    "pyproject.toml", "setup.py", "setup.cfg", "Pipfile", "requirements*.txt", "requirements*.in",
    "requirements*.lock", "uv.lock", "poetry.lock", "pdm.lock",
)  # fmt: skip
_DEPENDABOT_PYTHON = {"pip", "uv", "pipenv", "poetry", "conda"}
_RENOVATE_PYTHON = {
    "pep621", "pep723", "pip_requirements", "pip-compile", "pip_setup", "pipenv", "poetry",
    "setup-cfg", "pixi",
}  # fmt: skip


def _needed_ecosystems(layout: Layout) -> dict[str, str]:
    """Ecosystem -> the file that makes it needed."""
    needed = {}
    python = glob_filter(layout.top, *_PYTHON_MANIFESTS)
    if python:
        needed["python"] = python[0]
    workflows = [
        p
        for p in layout.configs
        if p.startswith(".github/workflows/")
        and p.count("/") == 2
        and p.endswith((".yml", ".yaml"))
    ]
    if workflows:
        needed["github-actions"] = workflows[0]
    return needed


def _dependabot(files: ProjectFiles, path: str) -> set[str]:
    data = files.yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("updates"), list):
        raise Unavailable(f"{path} has no `updates:` list")
    covered = set()
    for entry in data["updates"]:
        if not isinstance(entry, dict):
            continue
        ecosystem = str(entry.get("package-ecosystem", "")).strip().lower()
        if ecosystem in _DEPENDABOT_PYTHON:
            covered.add("python")
        elif ecosystem == "github-actions":
            covered.add("github-actions")
    return covered


def _renovate(files: ProjectFiles, path: str) -> set[str]:
    text = files.text(path)
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None  # JSON5 (comments, trailing commas): read the keys that matter by pattern
    everything = {"python", "github-actions"}
    if isinstance(data, dict):
        if data.get("enabled") is False:
            return set()
        managers = data.get("enabledManagers")
        if not managers:
            return everything
        if not isinstance(managers, list):
            raise Unreadable(f"{path}: enabledManagers is not a list")
        names = {str(m) for m in managers}
    elif data is None:
        if re.search(r"""["']?enabled["']?\s*:\s*false""", text) and not re.search(
            r"packageRules", text
        ):
            return set()
        match = re.search(r"""["']?enabledManagers["']?\s*:\s*\[([^\]]*)\]""", text)
        if not match:
            return everything
        names = set(re.findall(r"""["']([\w.-]+)["']""", match.group(1)))
    else:
        raise Unavailable(f"{path} is not a JSON object")
    covered = set()
    if names & _RENOVATE_PYTHON:
        covered.add("python")
    if "github-actions" in names:
        covered.add("github-actions")
    return covered


class OP306(Check):
    """Dependency updates are automated (Dependabot or Renovate)

    Pinned dependencies and actions go stale: security fixes never arrive unless something
    proposes the update. After the handover that must not depend on a vendor engineer
    remembering. Fix: add `.github/dependabot.yml` with an entry for `pip` (or `uv`) and one
    for `github-actions`, each with a `schedule` (for example `interval: weekly`), or a
    `renovate.json` (`{"extends": ["config:recommended"]}`) with the Renovate app installed;
    on GitLab, Renovate is the option.
    """

    pillar = Pillar.OPERATE
    severity = Severity.MEDIUM
    level = 3

    def check(self, files: ProjectFiles, ops_layout: Layout) -> Result:
        layout = ops_layout
        needed = _needed_ecosystems(layout)
        if not needed:
            return not_applicable("no Python dependency manifest and no GitHub workflows")
        covered: set[str] = set()
        evidence, problems = [], []
        for paths, reader in ((DEPENDABOT, _dependabot), (RENOVATE, _renovate)):
            for path in paths:
                if path not in files:
                    continue
                evidence.append(path)
                try:
                    covered |= reader(files, path)
                except Unreadable:
                    raise
                except Unavailable as reason:
                    problems.append(str(reason))
        got = sorted(set(needed) & covered)
        missing = sorted(set(needed) - covered)
        if not missing:
            verb = "updates" if len(evidence) == 1 else "update"
            return passed(f"{' and '.join(evidence)} {verb} {', '.join(got)}", *evidence)
        if problems:
            return unknown("; ".join(problems), *evidence)
        config = evidence[0] if evidence else DEPENDABOT[0]
        if not evidence:
            return failed(
                "no Dependabot or Renovate configuration (.github/dependabot.yml, renovate.json)",
                *needed.values(),
                locations=((config, None),),
            )
        because = ", ".join(f"{e} (for {needed[e]})" for e in missing)
        message = f"{', '.join(evidence)} does not update {because}"
        if got:
            return partial(len(got) / len(needed), message, *evidence, locations=((config, None),))
        return failed(message, *evidence, locations=((config, None),))


# --- CQ401 CI tests every change -----------------------------------------------------------

_TEST_COMMAND = re.compile(
    r"\b(pytest|py\.test|unittest|tox|nox|hatch\s+(run\s+)?test|make\s+test|poe\s+test|"
    r"just\s+test)\b"
)
_LINT_COMMAND = re.compile(
    r"\b(ruff|flake8|pflake8|pylint|mypy|pyright|pre-commit\s+run|prek\s+run|make\s+lint|"
    r"(tox|nox)\s+-[es]\s*lint|hatch\s+(run\s+)?lint|handover\s+audit)\b"
)
_LINT_ACTIONS = (
    "pre-commit/action", "astral-sh/ruff-action", "chartboost/ruff-action",
    "pre-commit-ci/lite-action", "py-actions/flake8", "jpetrucciani/ruff-check",
    "jpetrucciani/mypy-check", "tsuyoshicho/action-mypy", "reviewdog/action-flake8",
)  # fmt: skip
_CHANGE_TRIGGERS = {"pull_request", "merge_request", "merge_group"}


def _workflow_steps(
    workflow: CiWorkflow, by_path: dict[str, CiWorkflow], depth: int = 0
) -> tuple[list[str], list[str]]:
    """Commands and `uses:` of a workflow, following local reusable workflows (./...)."""
    commands, uses = list(workflow.commands), [u for job in workflow.jobs for u in job.uses]
    if depth < 3:
        for ref in list(uses):
            local = ref.removeprefix("./").split("@")[0]
            if ref.startswith("./") and local in by_path:
                more_commands, more_uses = _workflow_steps(by_path[local], by_path, depth + 1)
                commands += more_commands
                uses += more_uses
    return commands, uses


def _runs(workflow: CiWorkflow, by_path: dict[str, CiWorkflow]) -> tuple[bool, bool]:
    """(runs tests, runs a linter)."""
    commands, uses = _workflow_steps(workflow, by_path)
    text = "\n".join(commands)
    tests = bool(_TEST_COMMAND.search(text))
    lint = bool(_LINT_COMMAND.search(text)) or any(
        u.lower().startswith(a) for u in uses for a in _LINT_ACTIONS
    )
    return tests, lint


def _tests_changes(workflow: CiWorkflow) -> bool:
    if workflow.triggers & _CHANGE_TRIGGERS:
        return True
    # GitLab without `workflow:` rules runs a branch pipeline for every push to every branch.
    return (
        workflow.provider == "gitlab"
        and isinstance(workflow.data, dict)
        and "workflow" not in workflow.data
    )


class CQ401(Check):
    """CI runs the tests and a linter on every pull request

    A client team that changes the code needs CI to tell them what they broke before it is
    merged, not after. Fix: a GitHub Actions workflow `on: pull_request` (GitLab: a pipeline
    with `rules: - if: $CI_PIPELINE_SOURCE == "merge_request_event"`) with a job that runs
    `python -m pytest` and one that runs `ruff check .` (or `pre-commit run --all-files`), and
    make both required status checks of the default branch.
    """

    pillar = Pillar.OPERATE
    severity = Severity.HIGH
    level = 3

    def check(self, ci: tuple[CiWorkflow, ...], files: ProjectFiles) -> Result:
        if not ci:
            return failed(
                "no CI configuration (.github/workflows/*.yml or .gitlab-ci.yml)",
                locations=((".github/workflows/ci.yml", None),),
            )
        by_path = {w.path: w for w in ci}
        on_change = [w for w in ci if _tests_changes(w)]
        tests = [w.path for w in on_change if _runs(w, by_path)[0]]
        lint = [w.path for w in on_change if _runs(w, by_path)[1]]
        evidence = [w.path for w in ci]
        if tests and lint:
            where = sorted(set(tests) | set(lint))
            verb = "runs" if len(where) == 1 else "run"
            return passed(f"{', '.join(where)} {verb} tests and a linter on every change", *where)
        if not on_change:
            other = [w for w in ci if any(_runs(w, by_path))]
            message = f"no workflow runs on pull requests ({', '.join(evidence)})"
            line = _line_of(_read(files, ci[0].path), r"^[\"']?on[\"']?\s*:")
            location = ((ci[0].path, line),)
            if other:
                return partial(
                    0.25,
                    f"{message}; {other[0].path} runs checks only after changes land",
                    *evidence,
                    locations=location,
                )
            return failed(message, *evidence, locations=location)
        lacking = " and ".join(
            what for what, found in (("tests (pytest)", tests), ("a linter (ruff)", lint))
            if not found
        )  # fmt: skip
        message = (
            f"the pull-request workflows ({', '.join(w.path for w in on_change)}) run no {lacking}"
        )
        location = ((on_change[0].path, _line_of(_read(files, on_change[0].path), r"^jobs\s*:")),)
        if tests or lint:
            return partial(0.5, message, *evidence, locations=location)
        return failed(message, *evidence, locations=location)


# --- CQ402 tests cover the code ------------------------------------------------------------


class CQ402(Check):
    """Tests cover the ML code

    The client will change the feature code, the training and the evaluation; tests are how
    they find out what a change broke. Fix: keep tests in `tests/`, at least one test file for
    every four source files (the `test-ratio` threshold), importing the package, for example
    `tests/test_training.py` training on a small sample and `tests/test_data.py` checking the
    split; run them in CI (`python -m pytest`).
    """

    pillar = Pillar.OPERATE
    severity = Severity.MEDIUM
    level = 3

    def check(self, files: ProjectFiles, ops_layout: Layout, config: AuditConfig) -> Result:
        sources, packages = _python_sources(ops_layout)
        if not sources:
            return not_applicable("no Python source files (src/ or a top-level package)")
        tests = list(ops_layout.tests)
        if not tests:
            return failed(
                f"no test files (tests/test_*.py) for {plural(len(sources), 'source file')}",
                *sources[:3],
                locations=((sources[0], None),),
            )
        threshold = config.threshold("test-ratio")
        ratio = len(tests) / len(sources)
        importing = []
        if packages:
            pattern = re.compile(
                r"^\s*(?:from|import)\s+(?:" + "|".join(map(re.escape, packages)) + r")\b",
                re.MULTILINE,
            )
            conftests = glob_filter(ops_layout.python, "conftest.py")
            # The first importer is enough: top-level tests/ first, so a large repository is
            # not read file by file.
            ordered = sorted([*conftests, *tests], key=lambda p: not p.startswith("tests/"))
            first = next((p for p in ordered if pattern.search(_read(files, p))), None)
            importing = [first] if first else []
        counted = (
            f"{plural(len(tests), 'test file')} for {plural(len(sources), 'source file')} "
            f"(ratio {ratio:.2f}, threshold {threshold:g})"
        )
        imports_ok = bool(importing) or not packages
        ratio_score = min(1.0, ratio / threshold) if threshold > 0 else 1.0
        if ratio_score >= 1.0 and imports_ok:
            note = f"; {importing[0]} imports {', '.join(packages)}" if importing else ""
            return passed(counted + note, *dict.fromkeys([*importing[:1], *tests[:3]]))
        problems = []
        if ratio_score < 1.0:
            problems.append("too few tests")
        if not imports_ok:
            problems.append(f"no test imports the package ({', '.join(packages)})")
        score = (ratio_score + (1.0 if imports_ok else 0.0)) / 2
        return partial(
            score, f"{counted}: {'; '.join(problems)}", *tests[:3], locations=((tests[0], None),)
        )


# --- CQ403 linters and pre-commit ----------------------------------------------------------

_LINTER_FILES = (
    "ruff.toml", ".ruff.toml", ".flake8", "mypy.ini", ".mypy.ini", ".pylintrc", "pylintrc",
    "pyrightconfig.json",
)  # fmt: skip
_LINTER_TOOLS = ("ruff", "flake8", "mypy", "pylint", "pyright")
_LINTER_SECTIONS = re.compile(r"^\[(flake8|mypy|pylint[^\]]*)\]", re.MULTILINE)
_LINTER_HOOKS = {"ruff", "ruff-check", "flake8", "mypy", "pylint", "pyright"}


class CQ403(Check):
    """Linters and pre-commit hooks are configured

    Linters catch the mistakes a reviewer misses, and pre-commit runs them before every
    commit, so the client's engineers get the same feedback the vendor's had. Fix: configure
    Ruff (or flake8/mypy) in `pyproject.toml` (`[tool.ruff]`, `[tool.ruff.lint]`) and add a
    `.pre-commit-config.yaml` with the `ruff-check` and `ruff-format` hooks of
    `astral-sh/ruff-pre-commit`; then `pre-commit install`.
    """

    pillar = Pillar.OPERATE
    severity = Severity.LOW
    level = 3

    def check(self, files: ProjectFiles, pyproject: dict[str, Any]) -> Result:
        linters = []
        tool = pyproject.get("tool") if isinstance(pyproject.get("tool"), dict) else {}
        linters += [f"[tool.{t}] in pyproject.toml" for t in _LINTER_TOOLS if t in tool]
        linters += [p for p in _LINTER_FILES if p in files]
        for path in ("setup.cfg", "tox.ini"):
            if path in files:
                linters += [
                    f"[{m}] in {path}" for m in _LINTER_SECTIONS.findall(_read(files, path))
                ]
        hooks: list[str] = []
        precommit = ".pre-commit-config.yaml"
        if precommit in files:
            data = files.yaml(precommit)
            repos = data.get("repos") if isinstance(data, dict) else None
            if not isinstance(repos, list):
                raise Unavailable(f"{precommit} has no `repos:` list")
            for repo in repos:
                if isinstance(repo, dict) and isinstance(repo.get("hooks"), list):
                    hooks += [
                        str(h.get("id"))
                        for h in repo["hooks"]
                        if isinstance(h, dict) and h.get("id")
                    ]
            linters += [f"{h} hook" for h in hooks if h in _LINTER_HOOKS]
        linters = list(dict.fromkeys(linters))
        evidence = [e for e in ("pyproject.toml", precommit, *_LINTER_FILES) if e in files]
        has_hooks = bool(hooks)
        parts = [
            f"linters: {', '.join(linters[:4])}" if linters else "no linter configuration",
            f"{precommit} with {plural(len(hooks), 'hook')}"
            if has_hooks
            else (f"{precommit} has no hooks" if precommit in files else f"no {precommit}"),
        ]
        message = "; ".join(parts)
        if linters and has_hooks:
            return passed(message, *evidence)
        location = ((precommit if not has_hooks else "pyproject.toml", None),)
        if linters or has_hooks:
            return partial(0.5, message, *evidence, locations=location)
        return failed(message, *evidence, locations=location)


# --- CQ404 unresolved merges -------------------------------------------------------------------

#: A conflict marker line, as git and Copier write them (`<<<<<<< before updating`).
_MARKER = re.compile(rb"^(?:<{7}|>{7})(?: |$)", re.MULTILINE)
#: A fenced code block in Markdown: documentation may show markers as an example.
_FENCE = re.compile(rb"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
#: Files are scanned up to this size; a conflict in a larger one is not looked for.
_MARKER_SCAN_BYTES = 1 << 20


class CQ404(Check):
    """No unfinished merge is in the repository

    A conflict marker (a line starting `<<<<<<<` or `>>>>>>>`) or a `*.rej` file is a merge or a
    template update nobody finished: the file holds two versions side by side, or a change that
    was never applied, and the code or configuration does not work as written. `copier update`
    exits 0 when it leaves them. Fix: in each file listed, keep what is needed between the
    markers and delete them; apply each `*.rej` by hand and delete it; commit. Then add
    pre-commit hooks that refuse both: `check-merge-conflict` from `pre-commit-hooks`, and a
    local hook with `files: '\\.rej$'` and `language: fail`.
    """

    pillar = Pillar.OPERATE
    severity = Severity.HIGH
    level = 2

    def check(self, files: ProjectFiles) -> Result:
        rejected = files.glob("*.rej")
        marked, unread = [], 0
        for path in files:
            try:
                data = read_bytes(files.root / path, path, _MARKER_SCAN_BYTES)
            except Unreadable:
                unread += 1  # too large, not a regular file: not a finding either way
                continue
            if data and path.endswith(".md"):
                data = _FENCE.sub(b"", data)
            if data and _MARKER.search(data):
                marked.append(path)
        scanned = f"{plural(len(files) - unread, 'file')} scanned" + (
            f", {unread} not read (larger than 1 MB or not a regular file)" if unread else ""
        )
        if not rejected and not marked:
            return passed(f"no conflict markers and no *.rej files ({scanned})")
        found = [
            *(f"{p} (conflict markers)" for p in marked),
            *(f"{p} (rejected)" for p in rejected),
        ]
        return failed(
            f"{plural(len(found), 'unfinished merge')}: {', '.join(found[:5])}"
            + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            + f" ({scanned})",
            *[*marked, *rejected][:10],
            locations=tuple((p, None) for p in [*marked, *rejected][:10]),
        )


# --- OW605 bus factor ----------------------------------------------------------------------


def _shallow(git: GitRepo) -> bool:
    dot_git = git.root / ".git"
    if dot_git.is_dir():  # the common case, without another git process
        return (dot_git / "shallow").is_file()
    out = git_command(git.root, "rev-parse", "--is-shallow-repository", check=False)
    return out.strip() == "true"


class OW605(Check):
    """Knowledge is spread over several client engineers (bus factor)

    If one person, or only the vendor, has been changing the code, the knowledge leaves with
    them. Before the handover at least `bus-factor-authors` people with client e-mail
    addresses should have committed in the last `bus-factor-days` days (pair on real changes
    during the transition). The client's domains come from `client-domains` in
    `[tool.handover.audit]` or `client_email_domain` in `.copier-answers.yml`; map old
    addresses with a `.mailmap`. In CI, check out the full history (`fetch-depth: 0`).
    """

    pillar = Pillar.OWN
    severity = Severity.MEDIUM
    level = 4

    def check(self, git: GitRepo, domains: Domains, config: AuditConfig) -> Result:
        if not domains.client:
            return unknown(
                "no client domains configured: set client-domains in [tool.handover.audit] "
                "(pyproject.toml) or client_email_domain in .copier-answers.yml"
            )
        if git.head is None:
            return unknown("the repository has no commits yet")
        if _shallow(git):
            return unknown(
                "shallow clone: the history is cut, so authors cannot be counted "
                "(CI: actions/checkout with fetch-depth: 0; GitLab: GIT_DEPTH: 0)"
            )
        days = int(config.threshold("bus-factor-days"))
        wanted = max(1, int(config.threshold("bus-factor-authors")))
        out = git_command(
            git.root, "log", "HEAD", f"--since={days}.days.ago", "--format=%aE", "--use-mailmap"
        )
        authors = sorted({line.strip().lower() for line in out.splitlines() if line.strip()})
        client = [a for a in authors if domains.is_client(a)]
        others = len(authors) - len(client)
        source = f"git log --since={days}.days.ago (HEAD {git.head[:12]})"
        found = (
            f"{plural(len(client), 'client author')} in the last {days} days"
            + (f" ({', '.join(client[:5])})" if client else "")
            + (f", {others} other" if others else "")
            + f"; {wanted} needed (client domains: {', '.join(domains.client)})"
        )
        if len(client) >= wanted:
            return passed(found, source)
        if client:
            return partial(len(client) / wanted, found, source)
        return failed(found, source)
