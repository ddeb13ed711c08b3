"""Git plumbing shared by the commands that work on a project: run git, guard the working tree.

`handover update` and `handover adopt` refuse to start on a path that is not a git repository
(and `update` on a dirty tree), so that everything they change is what `git status` shows.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlops_handover.errors import HandoverError


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run git in `repo` (`env` added to the environment); its error output becomes a
    HandoverError."""
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    if result.returncode != 0:
        raise HandoverError(f"`git {' '.join(args)}` failed in {repo}: {result.stderr.strip()}")
    return result.stdout.rstrip()


def require_repository(path: Path, command: str) -> Path:
    """The top level of the git repository at `path`; a clear error (exit 2) otherwise."""
    if not path.exists():
        raise HandoverError(f"{path} does not exist: give the path of a git repository.", 2)
    if not path.is_dir():
        raise HandoverError(f"{path} is not a directory: give the path of a git repository.", 2)
    result = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise HandoverError(
            f"{path} is not a git repository: `handover {command}` works on git repositories, "
            "so that every change it makes shows in `git status` (run `git init` and commit "
            "the files first).",
            2,
        )
    return Path(result.stdout.strip())


def status(repo: Path) -> list[dict[str, str]]:
    """Changed, staged and untracked (not ignored) paths with their `git status` code ("M",
    "??", "UU" ...); a rename is its deletion and its addition."""
    out = git(repo, "status", "--porcelain", "--untracked-files=all", "--no-renames")
    return [{"status": line[:2].strip(), "path": line[3:]} for line in out.splitlines() if line]


def _identity(repo: Path) -> list[str]:
    """No options when git knows who commits; else the last commit's author, as `-c` options.

    The same question hooks/post_copy.py asks before the first commit.
    """
    known = all(
        subprocess.run(["git", "var", ident], cwd=repo, capture_output=True).returncode == 0
        for ident in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
    )
    if known:
        return []
    name, email = git(repo, "log", "-1", "--format=%an%n%ae").splitlines()
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]


def commit_all(repo: Path, message: str) -> None:
    """Commit everything; without a git identity, reuse the last commit's author."""
    git(repo, "add", "--all")
    if not git(repo, "status", "--porcelain"):
        return
    git(repo, *_identity(repo), "commit", "--quiet", "--no-verify", "-m", message)


def amend(repo: Path, path: str) -> None:
    """Fold the change of `path` into the last commit, when there is one and it tracks `path`."""
    if not git(repo, "ls-files", "--", path) or not git(repo, "status", "--porcelain", "--", path):
        return
    options = ["--quiet", "--no-verify", "--amend", "--no-edit"]
    git(repo, *_identity(repo), "commit", *options, "--", path)
