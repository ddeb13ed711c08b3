"""Template versions without git tags: a release is the commit at which `__version__` changes.

This repository is published as its main branch only, so a clone has no tags, and nothing a
user runs may depend on one (issue 15). Copier needs tags all the same: `copy` and `update` take
the newest PEP 440 tag, `_commit` is `git describe --tags`, and migrations run by the versions
it reads from them. So the tags are made from the rule, and never stored in the user's
repository: in a throw-away clone of a checkout (`tagged_clone`), and in the git bundle of the
release history that a wheel carries (`write_history`, called by hatch_build.py).

Only the standard library, `packaging` and git: the build hook imports this module in the
build environment.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import git

#: The file whose `__version__` is the version of the CLI and of the template (copier.yml
#: reads it too).
VERSION_FILE = "src/mlops_handover/__init__.py"
VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)
#: The name of the history bundle, in a wheel's `mlops_handover/_template/` and an sdist's root.
HISTORY = "history.bundle"


def _git(repo: Path, *args: str) -> str:
    """git as on a fresh machine (the hardened runner's untrusted mode): no user or system
    configuration changes what is cloned, tagged or bundled, and nothing of the template
    repository runs."""
    return git(repo, *args, trusted=False)


@dataclass(frozen=True)
class Release:
    version: Version
    commit: str

    @property
    def tag(self) -> str:
        return f"v{self.version}"


def _version(text: str) -> Version | None:
    match = VERSION.search(text)
    try:
        return Version(match.group(1)) if match else None
    except InvalidVersion:
        return None


def is_shallow(repo: Path) -> bool:
    return _git(repo, "rev-parse", "--is-shallow-repository") == "true"


def find_releases(repo: Path, rev: str = "HEAD") -> list[Release]:
    """The release commits on the first-parent history of `rev` in `repo`, oldest first.

    Each commit that changed VERSION_FILE is read at that commit; the first to carry a version
    higher than every one before it is that version's release. A version that goes back or
    repeats (a revert, an old branch merged) is not a new release. A shallow clone is refused:
    its oldest commit would pass for the release of the version it carries.
    """
    if is_shallow(repo):
        raise HandoverError(
            f"{repo} is a shallow clone, so its releases cannot be told: fetch the whole "
            "history (`git fetch --unshallow`)."
        )
    changes = _git(
        repo, "log", "--first-parent", "--reverse", "--format=%H", rev, "--", VERSION_FILE
    )
    releases: list[Release] = []
    for commit in changes.split():
        try:
            version = _version(_git(repo, "show", f"{commit}:{VERSION_FILE}"))
        except HandoverError:  # this commit deleted the file
            continue
        if version is not None and (not releases or version > releases[-1].version):
            releases.append(Release(version, commit))
    return releases


def tag_releases(repo: Path) -> list[str]:
    """Tag each release of HEAD `vX.Y.Z` (lightweight) in `repo`, a throw-away clone; a tag
    that already exists is kept as it is. Returns the release tags, oldest first."""
    existing = set(_git(repo, "tag", "--list").split())
    tags: list[str] = []
    for release in find_releases(repo):
        if release.tag not in existing:
            _git(repo, "tag", release.tag, release.commit)
        tags.append(release.tag)
    return tags


def is_checkout(path: Path) -> bool:
    """Whether `path` is the top of a git working tree (Copier reads only those with git)."""
    try:
        top = _git(path, "rev-parse", "--show-toplevel")
    except (HandoverError, OSError):
        return False
    return Path(top).resolve() == path.resolve()


@contextmanager
def tagged_clone(checkout: Path) -> Iterator[Path]:
    """A throw-away clone of `checkout` with its releases tagged, for Copier to read.

    Its working tree is the checkout's, uncommitted changes included, so Copier treats them as
    it would in the checkout itself: rendering HEAD, it adds them as a draft commit (and warns);
    a release is always the committed one.
    """
    with tempfile.TemporaryDirectory(prefix="handover-template-") as tmp:
        clone = Path(tmp) / checkout.name
        _git(Path(tmp), "clone", "--quiet", "--", str(checkout), str(clone))
        tag_releases(clone)
        if _git(checkout, "status", "--porcelain"):
            _git(clone, f"--work-tree={checkout}", "add", "--all")
            _git(clone, "checkout-index", "--all", "--force")
            _git(clone, "clean", "-fdq")  # what the checkout deleted
        yield clone


def write_history(checkout: Path, bundle: Path) -> list[str]:
    """Write `checkout`'s history up to HEAD to the git bundle `bundle`, with HEAD and a
    `vX.Y.Z` tag per release as its refs. Returns the tags.

    Commits only: uncommitted changes belong to no version (hatch_build.py warns about them).
    A shallow clone (a CI checkout, say) cannot tell its releases: its bundle holds HEAD alone,
    no tag, so a project generated from such a build records a bare commit (and hatch_build.py
    says so); a release is built from the whole history.
    """
    if is_shallow(checkout):
        _git(checkout, "bundle", "create", str(bundle), "HEAD")
        return []
    with tempfile.TemporaryDirectory(prefix="handover-history-") as tmp:
        clone = Path(tmp) / "history.git"
        _git(Path(tmp), "clone", "--quiet", "--bare", "--", str(checkout), str(clone))
        tags = tag_releases(clone)
        _git(clone, "bundle", "create", str(bundle), "HEAD", *(f"refs/tags/{t}" for t in tags))
    return tags
