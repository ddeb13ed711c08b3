"""Shared fixtures: an isolated git/Copier environment and a clean snapshot of the template.

Tests generate from a git snapshot of the working tree (committed once per session) rather
than the checkout itself: Copier then clones a clean repository, as it would a released
template, and does not copy a dirty tree for every render.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: What the template is made of; copier.yml reads the version from the package's __init__.py.
TEMPLATE_PARTS = ("copier.yml", "template", "hooks", "includes", "src/mlops_handover/__init__.py")
TEST_ENV = {
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def tool(name: str) -> str:
    """An executable installed next to this interpreter (ruff, dvc, actionlint, ...)."""
    path = BIN / name
    return str(path) if path.exists() else name


def run(
    *args: str | os.PathLike[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure show its output in the assertion message."""
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=dict(env) if env else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def handover_new(
    template_repo: Path, dest: Path, *extra: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """The installed `handover new DEST --defaults`, from the test snapshot of the template."""
    return run(
        tool("handover"),
        "new",
        dest,
        "--defaults",
        "--template",
        template_repo,
        "--vcs-ref",
        "HEAD",
        *extra,
        cwd=dest.parent,
        env=os.environ,
        check=check,
    )


def project_env(project: Path) -> dict[str, str]:
    """Environment that runs a generated project's own tools with this interpreter's packages."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["PYTHONPATH"] = str(project / "src")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def isolate(home: Path, patch: pytest.MonkeyPatch) -> None:
    """No user git config, Copier settings or tracking URI leaks in: HOME is `home`."""
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test Runner\n\temail = runner@acme.example\n"
        "[init]\n\tdefaultBranch = main\n[core]\n\tautocrlf = input\n"
    )
    settings = home / "copier-settings.yml"
    settings.write_text("{}\n")
    patch.setenv("HOME", str(home))
    patch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    patch.setenv("COPIER_SETTINGS_PATH", str(settings))
    for key, value in TEST_ENV.items():
        patch.setenv(key, value)
    for key in ("MLFLOW_TRACKING_URI", "HANDOVER_TEMPLATE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"):
        patch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs isolated from the user's settings."""
    isolate(tmp_path_factory.mktemp("home"), monkeypatch)


@contextmanager
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`isolated_env` for module-scoped fixtures, which function-scoped fixtures cannot serve."""
    with pytest.MonkeyPatch.context() as patch:
        isolate(tmp_path_factory.mktemp("home"), patch)
        yield


@pytest.fixture
def no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user.name/email anywhere, as on a fresh CI runner."""
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("EMAIL", "")


def copy_part(part: str, dest: Path) -> None:
    """Copy one of TEMPLATE_PARTS from this working tree into `dest`, at the same path."""
    src, target = ROOT / part, dest / part
    target.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(src, target)


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree's template parts, committed in a fresh git repository."""
    repo = tmp_path_factory.mktemp("template-repo")
    for part in TEMPLATE_PARTS:
        copy_part(part, repo)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=Template", "-c", "user.email=template@example.invalid"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        [*ident, "commit", "-qm", "snapshot"],
    ):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return repo


def copy_template(
    template_repo: Path, dest: Path, data: Mapping[str, Any] | None = None, **kwargs: Any
) -> Path:
    """`copier copy --defaults --trust` from the snapshot; `skip_tasks=True` renders only."""
    import copier

    copier.run_copy(
        str(template_repo),
        str(dest),
        data=dict(data or {}),
        defaults=True,
        vcs_ref="HEAD",
        unsafe=True,
        quiet=True,
        **kwargs,
    )
    return dest


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding this checkout's wheel: a stand-in for the package index in tests."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    run(tool("uv"), "build", "--wheel", "--quiet", "--out-dir", folder, cwd=ROOT)
    assert len(list(folder.glob("mlops_handover-*.whl"))) == 1
    return folder


@pytest.fixture
def render(template_repo: Path, tmp_path: Path):
    """Render the template (no post-copy task) with the given answers; returns the project."""

    def _render(data: Mapping[str, Any] | None = None, name: str = "project") -> Path:
        return copy_template(template_repo, tmp_path / name, data, skip_tasks=True)

    return _render


@pytest.fixture
def generate(template_repo: Path, tmp_path: Path):
    """Generate a project with the post-copy task (git, DVC, example data, first commit)."""

    def _generate(data: Mapping[str, Any] | None = None, name: str = "project") -> Path:
        return copy_template(template_repo, tmp_path / name, data)

    return _generate


def iter_files(project: Path) -> Iterator[Path]:
    """Files of a generated project, without git's and DVC's internals."""
    for path in sorted(project.rglob("*")):
        parts = path.relative_to(project).parts
        if path.is_file() and parts[0] not in {".git"} and parts[:2] != (".dvc", "cache"):
            yield path
