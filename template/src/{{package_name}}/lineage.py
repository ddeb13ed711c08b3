"""Where a model comes from: the git commit, the DVC data versions, and the main-line rule.

Every registered version records the commit it was trained at and the DVC md5 of its data, so
the registry alone answers "where from?". The evaluate stage moves `champion` only for a model
the default branch's history reproduces (`off_main_line`).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from .settings import PARAMS_FILE, load_yaml

DVC_FILE, LOCK_FILE = Path("dvc.yaml"), Path("dvc.lock")
#: The branch `handover new` creates, then git's former default: see `default_branch`.
MAIN_BRANCHES = ("main", "master")
#: dvc.yaml's `${data.train}`: a key of params.yaml.
INTERPOLATION = re.compile(r"\$\{\s*([\w.-]+)\s*\}")


def git(*args: str, cwd: str | Path | None = None) -> str | None:
    """A git command's output, stripped; None when it fails or git is not installed."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def project_root() -> Path:
    """The real repository root: DVC_ROOT (set by DVC, also in temp runs), git, else cwd."""
    if root := os.environ.get("DVC_ROOT"):
        return Path(root).resolve()
    top = git("rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else Path.cwd().resolve()


def file_md5(path: str | Path) -> str:
    """MD5 of the file's bytes: the hash DVC 3 records in .dvc files and dvc.lock."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_md5(data_path: str | Path) -> str | None:
    """The md5 that `<data_path>.dvc` records, i.e. the data version committed to git."""
    dvc_file = Path(f"{data_path}.dvc")
    if not dvc_file.exists():
        return None
    outs = load_yaml(dvc_file).get("outs") or [{}]
    return outs[0].get("md5")


def tags(train_path: Path, raw_path: Path) -> dict[str, str]:
    """The lineage of a training run: its data by DVC md5, the commit, the DVC experiment."""
    found = {"dvc.train_data.path": str(train_path), "dvc.train_data.md5": file_md5(train_path)}
    if raw_md5 := dvc_md5(raw_path):
        found |= {"dvc.raw_data.path": str(raw_path), "dvc.raw_data.md5": raw_md5}
    # DVC sets these in `dvc exp run`; the git commit of such a run is the experiment's baseline.
    for variable in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV"):
        if value := os.environ.get(variable):
            found[f"dvc.{variable.lower().removeprefix('dvc_')}"] = value
    if commit := git("rev-parse", "HEAD"):
        # MLflow derives the commit from the entry script's repository, which is not this one
        # when the package is installed elsewhere or run from another tool's venv: use ours.
        found["mlflow.source.git.commit"] = commit
    return found


def default_branch(root: str | Path = ".") -> str | None:
    """The repository's main line: origin/HEAD's target in a clone, else `main`, else `master`.

    A repository made by `handover new` has no remote yet and its first commit is on `main`;
    None when no branch qualifies (then `git remote set-head origin --auto` sets one).
    """
    if ref := git("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD", cwd=root):
        return ref.removeprefix("origin/")
    for branch in MAIN_BRANCHES:
        if git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=root) is not None:
            return branch
    return None


def resolve(text: str, params: dict[str, Any]) -> str:
    """dvc.yaml's `${a.b}` replaced by params.yaml's value at a.b."""

    def value(match: re.Match[str]) -> str:
        found: Any = params
        for key in match.group(1).split("."):
            found = found.get(key) if isinstance(found, dict) else None
        return match.group(0) if found is None else str(found)

    return INTERPOLATION.sub(value, text)


def pipeline_writes(root: str | Path = ".") -> set[str]:
    """What `dvc repro` itself writes: dvc.lock, the outs, metrics and plots of dvc.yaml's
    stages, and the .gitignore DVC keeps next to each cached one (paths relative to `root`)."""
    root, written = Path(root), {LOCK_FILE.as_posix()}
    if not (root / DVC_FILE).exists():
        return written
    params = load_yaml(root / PARAMS_FILE) if (root / PARAMS_FILE).exists() else {}
    for stage in (load_yaml(root / DVC_FILE).get("stages") or {}).values():
        for key in ("outs", "metrics", "plots"):
            for item in stage.get(key) or []:
                name, options = next(iter(item.items())) if isinstance(item, dict) else (item, {})
                path = Path(os.path.normpath(Path(stage.get("wdir", ".")) / resolve(name, params)))
                written.add(path.as_posix())
                if (options or {}).get("cache", True):
                    written.add((path.parent / ".gitignore").as_posix())
    return written


def uncommitted_changes(root: str | Path = ".") -> list[str] | None:
    """Tracked files that differ from HEAD, staged or not, except what `dvc repro` writes;
    None when there is no commit to compare with."""
    prefix = git("rev-parse", "--show-prefix", cwd=root)
    changed = git("diff", "--name-only", "--no-renames", "-z", "HEAD", "--", cwd=root)
    if prefix is None or changed is None:
        return None
    written = pipeline_writes(root)
    paths = [p.removeprefix(prefix) for p in changed.split("\0") if p]
    return [p for p in paths if not any(p == w or p.startswith(f"{w}/") for w in written)]


def off_main_line(root: str | Path | None = None) -> str | None:
    """Why a pipeline run here must not move `champion`, or None when it may.

    `champion` is what serves, so the evaluate stage moves it only for a model that a commit
    of the default branch describes. A run is off the main line when it is a DVC experiment
    (DVC sets DVC_EXP_NAME in `dvc exp run`, `--temp` and `--queue`), when HEAD is detached or
    on another branch, or when tracked files differ from HEAD other than what `dvc repro`
    writes (untracked files do not count). Such a run still trains, registers and gates its
    version; a person promotes it with `registry promote`. The reason follows "not promoted: ".
    """
    if experiment := os.environ.get("DVC_EXP_NAME"):
        return f"DVC experiment {experiment!r} is a try, not the main line"
    root = project_root() if root is None else Path(root)
    branch = git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root)
    if branch is None:
        if git("rev-parse", "--git-dir", cwd=root) is None:
            return "not a git repository, so no commit describes this model"
        return "HEAD is detached, not on the default branch"
    main = default_branch(root)
    if main is None:
        return "no default branch (no origin/HEAD, no main or master branch)"
    if branch != main:
        return f"branch {branch!r} is not the default branch {main!r}"
    changed = uncommitted_changes(root)
    if changed is None:
        return "no commit yet"
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"uncommitted changes to {', '.join(changed[:3])}{more}"
    return None
