"""A template repository with release history, for update tests and the update benchmark.

`build_history(dest)` commits three template versions to a fresh git repository, without a
single tag, as a clone of this repository is: each release is the commit that changes
`__version__` in src/mlops_handover/__init__.py (mlops_handover.releases), and an ordinary
commit between two releases changes that file without changing the version.

- 0.1.0: this working tree's template as 0.1 had it: the weekly review template at
  `docs/handover/weekly-review-template.md`, linked from the handover README, and no migration;
- then a commit that is not a release (the package docstring, same version);
- 0.2.0: this working tree's template as it is (the review template moved to
  `docs/handover/reviews/template.md` by the 0.2.0 migration);
- 0.2.1: 0.2.0 plus small template changes in files users also edit (the CI workflow, the
  training code, .gitignore) and one new file, so an update has something to merge.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import TEMPLATE_PARTS as PARTS
from conftest import copy_part
from mlops_handover.releases import VERSION_FILE

REVIEW_OLD = "template/docs/handover/weekly-review-template.md.jinja"
REVIEW_NEW = "template/docs/handover/reviews/{% if weekly_reviews %}template.md{% endif %}.jinja"
HANDOVER_README = "template/docs/handover/README.md.jinja"
CI = "template/{% if ci_provider == 'github' %}.github{% endif %}/workflows/ci.yml.jinja"
TRAIN = "template/src/{{package_name}}/train.py"
#: What v0.2.1 adds, and the file it is added to.
V021_CI_LINE = "# Template 0.2.1: CI also runs on tags."
V021_GITIGNORE = "# Template 0.2.1: editor swap files\n*.swp\n"
V021_NEW_FILE = "template/docs/handover/glossary.md"
#: The release tags Copier sees (the rule's, in a throw-away clone), oldest first.
RELEASES = ("v0.1.0", "v0.2.0", "v0.2.1")


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=Template", "-c", "user.email=template@example.invalid"]
    subprocess.run(["git", *ident, *args], cwd=repo, env=env, check=True, capture_output=True)


def _snapshot(repo: Path) -> None:
    """Replace the repository's template parts with this working tree's."""
    for part in PARTS:
        target = repo / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        copy_part(part, repo)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path}: {old!r} not found; update tests/template_history.py"
    path.write_text(text.replace(old, new), encoding="utf-8")


def as_v010(repo: Path) -> None:
    """Undo what 0.2.0 changed: the review template's place, its links, the migration."""
    (repo / REVIEW_NEW).rename(repo / REVIEW_OLD)
    (repo / REVIEW_NEW).parent.rmdir()
    readme = repo / HANDOVER_README
    _replace(
        readme,
        "[reviews/template.md](reviews/template.md)",
        "[weekly-review-template.md](weekly-review-template.md)",
    )
    config = repo / "copier.yml"
    text = config.read_text(encoding="utf-8")
    start = text.index("_migrations:")
    end = text.index("\n\n", start)
    config.write_text(text[:start] + text[end + 2 :], encoding="utf-8")
    _replace(config, "  - docs/handover/reviews/*.md\n", "")


def as_v021(repo: Path) -> None:
    """Small template changes on top of 0.2.0, in files a user also edits."""
    _replace(repo / CI, "name: CI\n", f"{V021_CI_LINE}\nname: CI\n")
    with (repo / "template/.gitignore").open("a", encoding="utf-8") as handle:
        handle.write(V021_GITIGNORE)
    (repo / V021_NEW_FILE).write_text("# Glossary\n\n- champion: the model version in use.\n")


def set_version(repo: Path, version: str) -> None:
    """Make `version` the package's `__version__` (a release once committed)."""
    path = repo / VERSION_FILE
    text, found = re.subn(
        r"^__version__ = .*$", f'__version__ = "{version}"', path.read_text(), flags=re.M
    )
    assert found == 1, f"{path}: no __version__ line"
    path.write_text(text)


def not_a_release(repo: Path) -> None:
    """Change the version file, not the version: a commit the rule must not take for one."""
    path = repo / VERSION_FILE
    path.write_text(path.read_text().replace('"""', '"""(Between releases.) ', 1))


def build_history(dest: Path) -> Path:
    """A tagless template repository at `dest`: releases 0.1.0, 0.2.0 and 0.2.1 (HEAD)."""
    dest.mkdir(parents=True)
    _git(dest, "init", "-q", "-b", "main")
    _snapshot(dest)
    as_v010(dest)
    steps: tuple[tuple[str, str | None, Callable[[Path], None] | None], ...] = (
        ("template 0.1.0", "0.1.0", None),
        ("docs: the package docstring", None, not_a_release),
        ("template 0.2.0", "0.2.0", _snapshot),
        ("template 0.2.1", "0.2.1", as_v021),
    )
    for message, version, change in steps:
        if change:
            change(dest)
        if version:
            set_version(dest, version)
        _git(dest, "add", "-A")
        _git(dest, "commit", "-qm", message)
    return dest
