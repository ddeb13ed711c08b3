"""The release workflow, .github/workflows/release.yml, checked with the real tools and run.

A release is the commit at which `__version__` changes on main; the repository is published
without tags (issue 15). actionlint and zizmor check the workflow; the structure tests hold its
triggers and permissions (only the publish job may mint an OIDC token, and it needs the tests);
the version job's script runs on small git histories; and the slow test runs the build and test
jobs' scripts locally, in order, on a copy of this working tree: the sdist and the wheel build,
install with pip, `uv tool` and from the sdist, and `handover new` runs from the wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from github_steps import JobRun, action, run_job
from test_ci_files import run, tool, zizmor

from conftest import BIN, ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
INIT = "src/mlops_handover/__init__.py"
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
ZERO_SHA = "0" * 40


def _user_cache(variable: str, name: str) -> str:
    if value := os.environ.get(variable):
        return value
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / name)


#: The caches of whoever runs the tests, read at import, before the fixtures move HOME: the
#: slow test's installs then reuse what earlier runs downloaded.
CACHES = {
    "UV_CACHE_DIR": _user_cache("UV_CACHE_DIR", "uv"),
    "PIP_CACHE_DIR": _user_cache("PIP_CACHE_DIR", "pip"),
}


@cache
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def jobs() -> dict[str, Any]:
    return workflow()["jobs"]


def steps(job: str) -> list[dict[str, Any]]:
    return jobs()[job]["steps"]


# --- the tools ------------------------------------------------------------------------------


def test_actionlint_passes() -> None:
    result = run(tool("actionlint"), "-no-color", str(WORKFLOW), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_finds_nothing(persona: str) -> None:
    """Nothing even at the auditor persona, the strictest: a publishing workflow is a target."""
    result = zizmor(WORKFLOW, ROOT, persona)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


# --- triggers, permissions, structure -------------------------------------------------------


def test_triggers_are_a_version_change_on_main_and_a_dispatch() -> None:
    triggers = workflow()[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"push", "workflow_dispatch"}
    # Branches and the version file only: a tag never starts a release.
    assert triggers["push"] == {"branches": ["main"], "paths": [INIT]}
    assert (ROOT / INIT).is_file()
    assert workflow()["concurrency"]["cancel-in-progress"] is False


def test_only_the_publish_job_can_mint_an_id_token() -> None:
    assert workflow()["permissions"] == {}
    assert {name: job["permissions"] for name, job in jobs().items()} == {
        "version": {"contents": "read"},
        "build": {"contents": "read"},
        "test": {},
        "publish": {"id-token": "write"},
    }


def test_publish_needs_the_tests_and_uses_trusted_publishing_only() -> None:
    publish = jobs()["publish"]
    assert "test" in publish["needs"]
    assert jobs()["test"]["needs"] == ["version", "build"]
    assert publish["environment"]["name"] == "pypi"
    assert publish["if"] == "github.ref == 'refs/heads/main'"
    uses = [action(step) for step in publish["steps"]]
    assert uses == ["actions/download-artifact", "pypa/gh-action-pypi-publish"]
    # No password or token input: the action takes the OIDC route.
    assert "with" not in publish["steps"][-1]
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "secrets." not in text and "github.token" not in text


def test_no_tag_and_no_github_release_is_made_or_read() -> None:
    scripts = "\n".join(step.get("run", "") for job in jobs().values() for step in job["steps"])
    for forbidden in ("git tag", "git push", "refs/tags", "gh release", "describe --tags"):
        assert forbidden not in scripts, forbidden
    used = {action(step) for job in jobs().values() for step in job["steps"]} - {""}
    assert used == {
        "actions/checkout",
        "actions/setup-python",
        "astral-sh/setup-uv",
        "actions/upload-artifact",
        "actions/download-artifact",
        "pypa/gh-action-pypi-publish",
    }


def test_every_action_is_pinned_and_no_expression_reaches_a_script() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    uses_lines = [line.strip() for line in text.splitlines() if re.match(r"\s*-?\s*uses:", line)]
    assert uses_lines
    for line in uses_lines:
        assert re.fullmatch(r"-?\s*uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), (
            f"not pinned to a full commit SHA with a # vX.Y.Z comment: {line}"
        )
    for job in jobs().values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step["name"]
            if action(step) == "actions/checkout":
                assert step["with"]["persist-credentials"] is False
            if action(step) == "astral-sh/setup-uv":
                # A cache restored into a publishing workflow could change what is published.
                assert step["with"]["enable-cache"] is False
            assert not action(step).startswith("actions/cache")


def test_the_distributions_are_built_once_and_the_tested_ones_published() -> None:
    builds = [
        (name, step["run"])
        for name, job in jobs().items()
        for step in job["steps"]
        if re.search(r"\buv build\b|-m build\b", step.get("run", ""))
    ]
    assert [name for name, _ in builds] == ["build"], builds
    assert jobs()["build"]["if"] == "needs.version.outputs.release == 'true'"
    checkout = steps("build")[0]
    assert checkout["with"]["ref"] == "${{ needs.version.outputs.commit }}"
    upload = next(s for s in steps("build") if action(s) == "actions/upload-artifact")
    for job in ("test", "publish"):
        assert "actions/checkout" not in {action(s) for s in steps(job)}, job
        download = next(s for s in steps(job) if action(s) == "actions/download-artifact")
        assert download["with"]["name"] == upload["with"]["name"]
        assert download["with"]["path"] == upload["with"]["path"] == "dist/"
    tests = "\n".join(step.get("run", "") for step in steps("test"))
    for command in (
        "twine check --strict",
        "python -m venv",
        '-py3-none-any.whl[generate]"',
        "uv tool install",
        '.tar.gz"',
        "--version",
        "new demo --defaults",
        "audit --offline",
    ):
        assert command in tests, command


# --- the version job's decision -------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(repo: Path, message: str, version: str | None = None, changelog: bool = True) -> str:
    """Commit a change; with `version`, set `__version__` (and its CHANGELOG section)."""
    init = repo / INIT
    init.parent.mkdir(parents=True, exist_ok=True)
    if version:
        init.write_text(f'"""Package."""\n\n__version__ = "{version}"\n', encoding="utf-8")
        if changelog:
            log = repo / "CHANGELOG.md"
            old = log.read_text(encoding="utf-8") if log.exists() else "# Changelog\n"
            log.write_text(f"{old}\n## {version} - 2026-12-01\n\n- {message}\n", encoding="utf-8")
    else:
        (repo / "notes.txt").write_text(message + "\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def version_job(repo: Path, tmp_path: Path, event: str, before: str = "") -> JobRun:
    """The version job in `repo` (its checkout), for a push after `before` or a dispatch."""
    context = {"github.event_name": event, "github.event.before": before}
    runner = tmp_path / f"runner-{len(list(tmp_path.glob('runner-*')))}"
    return run_job(workflow(), "version", cwd=repo, work=runner, env=os.environ, context=context)


def decide(repo: Path, tmp_path: Path, event: str, before: str = "") -> dict[str, str]:
    result = version_job(repo, tmp_path, event, before)
    assert result.ok, result.report()
    return {**result.outputs["decide"], "summary": result.summary}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    return repo


def test_a_push_releases_only_when_the_version_changes(repo: Path, tmp_path: Path) -> None:
    first = commit(repo, "first", version="0.1.0")
    bump = commit(repo, "release 0.2.0", version="0.2.0")
    result = decide(repo, tmp_path, "push", before=first)
    assert (result["release"], result["version"], result["commit"]) == ("true", "0.2.0", bump)
    assert "Releasing mlops-handover 0.2.0" in result["summary"]
    # The version file changes but not the version (a docstring): no release.
    (repo / INIT).write_text('"""The package."""\n\n__version__ = "0.2.0"\n', encoding="utf-8")
    git(repo, "commit", "-qam", "docstring")
    other = commit(repo, "more")
    result = decide(repo, tmp_path, "push", before=bump)
    assert result["release"] == "false" and result["commit"] == bump
    assert "No release" in result["summary"]
    # A dispatch re-releases the current version, from the commit that set it.
    result = decide(repo, tmp_path, "workflow_dispatch")
    assert (result["release"], result["version"], result["commit"]) == ("true", "0.2.0", bump)
    assert git(repo, "rev-parse", "HEAD") == other


def test_the_release_commit_is_the_bump_not_the_head(repo: Path, tmp_path: Path) -> None:
    first = commit(repo, "first", version="0.1.0")
    bump = commit(repo, "release 0.2.0", version="0.2.0")
    commit(repo, "after the release, in the same push")
    result = decide(repo, tmp_path, "push", before=first)
    assert (result["release"], result["commit"]) == ("true", bump)
    # A forced push (its previous head unknown) releases only when its last commit bumps.
    assert decide(repo, tmp_path, "push", before=ZERO_SHA)["release"] == "false"
    # A branch merged with a merge commit: the merge is the release commit on main.
    git(repo, "checkout", "-qb", "next")
    commit(repo, "release 0.3.0", version="0.3.0")
    git(repo, "checkout", "-q", "main")
    before = commit(repo, "meanwhile on main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge next", "next")
    merge = git(repo, "rev-parse", "HEAD")
    result = decide(repo, tmp_path, "push", before=before)
    assert (result["release"], result["version"], result["commit"]) == ("true", "0.3.0", merge)
    assert decide(repo, tmp_path, "push", before=ZERO_SHA)["release"] == "true"


@pytest.mark.parametrize(
    ("history", "changelog", "error"),
    [
        (["0.1.0", "0.2.0"], False, "No CHANGELOG section"),
        (["0.1.0", "0.0.9"], True, "Version not new"),
        # A version already released, after one that went back (its push failed).
        (["0.1.0", "0.2.0", "0.1.5", "0.2.0"], True, "Version not new"),
        (["0.1.0", "0.2.0rc1"], True, "Bad version"),
    ],
)
def test_a_bad_release_fails_before_anything_is_built(
    repo: Path, tmp_path: Path, history: list[str], changelog: bool, error: str
) -> None:
    for version in history[:-1]:
        before = commit(repo, f"release {version}", version=version)
    commit(repo, "bump", version=history[-1], changelog=changelog)
    result = version_job(repo, tmp_path, "push", before=before)
    assert [step.returncode for step in result.steps] == [1]
    assert f"::error title={error}::" in result.steps[0].output
    assert result.outputs["decide"] == {}


# --- the build and test jobs, run locally ---------------------------------------------------


def copy_checkout(dest: Path) -> Path:
    """The release commit as a commit of this working tree would be: the tracked and the new
    (not ignored) files with their current contents, copied (others edit the tree while the
    tests run), committed on top of HEAD's history, which the build bundles into the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is gone
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    ident = ["-c", "user.name=Release Test", "-c", "user.email=release@example.invalid"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["fetch", "-q", "--no-tags", str(ROOT), "HEAD"],  # reads this repository, writes dest
        ["update-ref", "refs/heads/main", "FETCH_HEAD"],
        ["add", "-A"],
        [*ident, "commit", "-q", "--allow-empty", "-m", "The working tree"],
    ):
        subprocess.run(["git", *args], cwd=dest, check=True, timeout=120)
    return dest


def run_release_job(
    name: str, *, workspace: Path, env: Mapping[str, str], context: Mapping[str, str],
    artifacts: dict[str, Path], runner: Path,
) -> JobRun:  # fmt: skip
    """Run a job's steps in order, its actions replaced by what they do here."""

    def uses(step: Mapping[str, Any]) -> None:
        options = step.get("with") or {}
        match action(step):
            case "actions/checkout":
                assert (workspace / "pyproject.toml").is_file(), "the copy is the checkout"
            case "actions/setup-python" | "astral-sh/setup-uv":
                pass  # PATH holds a bare venv of this interpreter and this environment's uv
            case "actions/upload-artifact":
                artifacts[options["name"]] = workspace / options["path"]
            case "actions/download-artifact":
                shutil.copytree(artifacts[options["name"]], workspace / options["path"])
            case other:
                pytest.fail(f"{name} uses {other}: teach this test what it does locally")

    result = run_job(
        workflow(), name, cwd=workspace, work=runner, env=env, context=context, uses=uses,
        timeout=600,
    )  # fmt: skip
    assert result.ok, result.report()
    return result


@pytest.mark.slow
def test_build_and_test_jobs_run_locally(tmp_path: Path, no_git_identity: None) -> None:
    """The build job's and the test job's scripts, in order, as on the runner.

    The checkout is a copy of this working tree; setup-python is a bare venv of this
    interpreter, so the project's editable `handover` is nowhere on PATH; setup-uv is this
    environment's uv; the artifact is the dist folder, copied from one job's workspace to the
    other's. Git has no identity, as on a runner.
    """
    checkout = copy_checkout(tmp_path / "checkout")
    version = VERSION_LINE.search((checkout / INIT).read_text(encoding="utf-8"))[1]
    python = tmp_path / "setup-python"
    subprocess.run([sys.executable, "-m", "venv", str(python)], check=True, timeout=120)
    uv_bin = tmp_path / "setup-uv"
    uv_bin.mkdir()
    for name in ("uv", "uvx"):
        (uv_bin / name).symlink_to(tool(name))
    path = [p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN]
    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV"}}
    env |= CACHES | {k: str(v) for k, v in workflow()["env"].items()}
    env["PATH"] = os.pathsep.join([str(python / "bin"), str(uv_bin), *path])
    context = {"needs.version.outputs.version": version}
    artifacts: dict[str, Path] = {}

    run_release_job(
        "build",
        workspace=checkout,
        env=env,
        context=context,
        artifacts=artifacts,
        runner=tmp_path / "build-runner",
    )
    built = sorted(p.name for p in artifacts["dist"].iterdir() if not p.name.startswith("."))
    assert built == [f"mlops_handover-{version}{end}" for end in ("-py3-none-any.whl", ".tar.gz")]

    workspace = tmp_path / "test-workspace"
    workspace.mkdir()
    runner = tmp_path / "test-runner"
    summary = run_release_job(
        "test", workspace=workspace, env=env, context=context, artifacts=artifacts, runner=runner
    ).summary
    assert f"mlops-handover {version}:" in summary
    demo = runner / "temp" / "demo"
    assert (demo / "dvc.lock").is_file() and (demo / "mlflow.db").is_file()
