"""Real repositories for audit tests: files written, committed with real git, then audited.

`make_repo(tmp_path, {"path": "text" or b"bytes"})` builds one; `check_result(path, "RP101")`
runs one check through the engine (fixtures, unknown-on-error and waivers included), so a test
sees exactly what `handover audit` would report.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlops_handover.audit import config as audit_config
from mlops_handover.audit.engine import Report, audit, run_check
from mlops_handover.audit.fixtures import AuditOptions, Context
from mlops_handover.audit.model import CheckResult, Outcome, all_checks


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout.strip()


def write_files(repo: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def commit(
    repo: Path,
    message: str = "change",
    author: str = "Client Dev <dev@client.example>",
    date: str | None = None,
) -> str:
    """Commit everything (git add -A) as `author`; returns the new commit's SHA."""
    name, email = author.rsplit(" <", 1)
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email.rstrip(">"),
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email.rstrip(">"),
    }
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD")


def make_repo(
    path: Path,
    files: Mapping[str, str | bytes] | None = None,
    *,
    git_init: bool = True,
    commit_files: bool = True,
    author: str = "Client Dev <dev@client.example>",
) -> Path:
    """A directory with `files`; a git repository with one commit of them unless told not."""
    path.mkdir(parents=True, exist_ok=True)
    write_files(path, files or {})
    if git_init:
        git(path, "init", "-q", "-b", "main")
        if commit_files:
            commit(path, "initial", author=author)
    return path


def check_result(
    path: Path, check_id: str, *, offline: bool = True, environ: dict[str, str] | None = None
) -> CheckResult:
    """Run one check on the repository at `path`, as the audit would."""
    check = all_checks()[check_id]
    config = audit_config.load(path.resolve())
    context = Context(
        root=path.resolve(),
        options=AuditOptions(offline=offline, environ=environ if environ is not None else {}),
        config=config,
    )
    item = run_check(check, context)
    if check_id in config.waivers:
        item.waiver = config.waivers[check_id]
    return item


def outcome(path: Path, check_id: str, **kwargs) -> Outcome:
    return check_result(path, check_id, **kwargs).outcome


def full_audit(
    path: Path, *, offline: bool = True, environ: dict[str, str] | None = None
) -> Report:
    return audit(
        path, AuditOptions(offline=offline, environ=environ if environ is not None else {})
    )
