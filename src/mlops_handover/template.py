"""Where the Copier template lives and which questions it asks.

Reading the questions needs only PyYAML, so the CLI can check `--data` keys without importing
Copier (about a second).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePath
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
#: Where a wheel puts the template (pyproject.toml's force-include) and its release history,
#: a git bundle (hatch_build.py).
BUNDLED_TEMPLATE = PACKAGE_DIR / "_template"
#: Where Copier records a project's answers and its template link (`_src_path`, `_commit`).
ANSWERS_FILE = ".copier-answers.yml"


def template_source() -> str:
    """The template to generate from.

    `HANDOVER_TEMPLATE` (a path or git URL) wins; otherwise the checkout this package is
    installed from (an editable install), otherwise the copy bundled in the wheel.
    """
    if env := os.environ.get("HANDOVER_TEMPLATE"):
        return env
    checkout = PACKAGE_DIR.parent.parent
    if (checkout / "copier.yml").is_file() and (checkout / "template").is_dir():
        return str(checkout)
    return str(BUNDLED_TEMPLATE)


def installed_history() -> Path:
    """The release history bundle of this installed wheel (absent from an editable install)."""
    from mlops_handover.releases import HISTORY

    return BUNDLED_TEMPLATE / HISTORY


def resolve_source(src: str) -> str:
    """`src`, or this install's history bundle when `src` names an installed mlops-handover's
    template: its `mlops_handover/_template` folder or the bundle in it, this install's or one
    since upgraded, reinstalled elsewhere or removed. A project generated from a wheel records
    the bundle's path, and that path means "the installed mlops-handover's history"."""
    from mlops_handover.releases import HISTORY

    parts = PurePath(src).parts
    folder = ("mlops_handover", "_template")
    history = installed_history()
    names_install = parts[-2:] == folder or parts[-3:] == (*folder, HISTORY)
    if is_local(src) and names_install and history.is_file():
        return str(history)
    return src


@dataclass(frozen=True)
class TemplateSource:
    """A template as Copier reads it and as a project records it in `_src_path`."""

    read: str
    record: str
    #: The version to take when none is asked for; None: Copier's newest release tag.
    ref: str | None = None


@contextmanager
def copier_source(src: str) -> Iterator[TemplateSource]:
    """The template `src` names, with release tags Copier can read (mlops_handover.releases).

    - An installed mlops-handover's template: this install's history bundle, which has the
      tags, at its HEAD by default: the commit the installed CLI was built from.
    - A local checkout: a throw-away clone with the release tags; the project records the
      checkout's absolute path, not the clone's.
    - Anything else (a git URL, a folder without git, another bundle): as it is.
    """
    from mlops_handover.releases import is_checkout, is_shallow, tagged_clone

    src = resolve_source(src)
    path = Path(src).expanduser()
    if src == str(installed_history()):
        yield TemplateSource(src, src, "HEAD")
    elif not (is_local(src) and path.is_dir() and is_checkout(path)):
        yield TemplateSource(src, src)
    elif is_shallow(path):
        print(
            f"warning: {path} is a shallow clone, so its releases cannot be told: the template "
            "is its HEAD, recorded as a bare commit that a later update cannot start from "
            "(`git fetch --unshallow` there first to generate at a release).",
            file=sys.stderr,
        )
        yield TemplateSource(str(path.absolute()), str(path.absolute()), "HEAD")
    else:
        with tagged_clone(path) as clone:
            yield TemplateSource(str(clone), str(path.absolute()))


def copy_template(
    src: str, dest: Path, data: Mapping[str, Any], vcs_ref: str | None, **options: Any
) -> None:
    """`copier.run_copy` (trusted, quiet) from `src` through `copier_source`; the project
    records the stable source, not a throw-away clone Copier read."""
    import copier  # about a second: only once the inputs are known to be good

    with copier_source(src) as template:
        copier.run_copy(
            template.read,
            str(dest),
            data=dict(data),
            vcs_ref=vcs_ref or template.ref,
            unsafe=True,
            quiet=True,
            **options,
        )
    _record_source(dest, template.record)


def _record_source(project: Path, src: str) -> None:
    """Have the answers file record `src` as `_src_path`, in the post-copy task's first commit
    when it is there (Copier wrote the source it read)."""
    path = project / ANSWERS_FILE
    if not path.is_file():
        return
    if (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("_src_path") == src:
        return
    set_src_path(project, src)
    if (project / ".git").exists():
        from mlops_handover.gitrepo import amend

        amend(project, ANSWERS_FILE)


def set_src_path(project: Path, src: str) -> None:
    """Rewrite `_src_path` in the answers file (a value folded over lines included), every
    other byte as it is."""
    path = project / ANSWERS_FILE
    line = yaml.safe_dump({"_src_path": src}, width=float("inf")).rstrip("\n")
    text = re.sub(
        r"^_src_path:.*(?:\n[ \t]+.*)*",
        lambda _: line,
        path.read_text(encoding="utf-8"),
        count=1,
        flags=re.MULTILINE,
    )
    path.write_text(text, encoding="utf-8")


@cache
def questions(source: str | None = None) -> dict[str, dict]:
    """Questions of a local template, in the order Copier asks them (settings `_*` left out).

    For this install's history bundle, those of the template bundled beside it.
    """
    root = Path(resolve_source(source or template_source()))
    path = (root.parent if root == installed_history() else root) / "copier.yml"
    if not path.is_file():
        return {}
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        name: spec if isinstance(spec, dict) else {"default": spec}
        for name, spec in config.items()
        if not name.startswith("_")
    }


@dataclass
class TemplateFreshness:
    #: current | behind | unchecked
    state: str
    note: str
    latest: str | None = None


def _source_url(src: str) -> str:
    """Copier's `gh:` / `gl:` shorthands as URLs; anything else as it is."""
    for prefix, host in (("gh:", "https://github.com/"), ("gl:", "https://gitlab.com/")):
        if src.startswith(prefix):
            return host + src[len(prefix) :]
    return src


def is_local(src: str) -> bool:
    """A path rather than a URL (scheme://...) or an scp-like `user@host:path`."""
    return not re.match(r"^[a-z][a-z0-9+.-]*://", src) and not re.match(r"^[^/]+@[^:]+:", src)


def _version(tag: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(tag)
    except InvalidVersion:
        return None


def template_freshness(
    src: str, commit: str, offline: bool = False, timeout: float = 5
) -> TemplateFreshness:
    """Whether `_commit` is the template's newest release.

    The releases are the template's tags (`git ls-remote --tags`, 5 s) and, for a local
    checkout, its release commits by the rule (mlops_handover.releases; a tag of the same name
    wins). A local template is read even offline, a remote one only online.
    """
    url = _source_url(src.strip())
    if not url or url.startswith("-"):
        return TemplateFreshness("unchecked", f"freshness not checked (unreachable: {src!r})")
    local = is_local(url)
    if local:
        url = os.path.abspath(resolve_source(url))  # git runs in a directory of its own
    if offline and not local:
        return TemplateFreshness("unchecked", "freshness not checked (offline)")
    if local and not os.path.exists(url):
        return TemplateFreshness("unchecked", f"freshness not checked (unreachable: {src})")
    from mlops_handover.errors import HandoverError
    from mlops_handover.gitrepo import run_git

    env = {
        "GIT_SSH_COMMAND": f"ssh -o BatchMode=yes -o ConnectTimeout={int(timeout)}",
        "LC_ALL": "C",
    }
    # An answers file is not trusted: hardened git (no `ext::` transport, no hooks), run
    # outside of any repository (see `gitrepo`), and `--` so that the URL is never an option.
    try:
        result = run_git(None, "ls-remote", "--tags", "--", url, env=env, timeout=timeout)
    except HandoverError:
        return TemplateFreshness("unchecked", f"freshness not checked (unreachable: {src})")
    if result.returncode != 0:
        return TemplateFreshness("unchecked", f"freshness not checked (unreachable: {src})")
    tags: dict[str, str] = {}  # tag -> commit (peeled when annotated)
    for line in os.fsdecode(result.stdout).splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith("refs/tags/"):
            continue
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            tags[name[:-3]] = sha
        else:
            tags.setdefault(name, sha)
    if local and os.path.isdir(url):
        from mlops_handover.errors import HandoverError
        from mlops_handover.releases import find_releases

        try:
            releases = find_releases(Path(url))
        except HandoverError as error:
            return TemplateFreshness("unchecked", f"freshness not checked ({error})")
        for release in releases:
            tags.setdefault(release.tag, release.commit)
    versions = {tag: v for tag in tags if (v := _version(tag)) is not None and not v.is_prerelease}
    if not versions:
        return TemplateFreshness(
            "unchecked", "freshness not checked (the template has no releases)"
        )
    latest = max(versions, key=versions.get)
    # Copier writes `_commit` as a tag, `tag-N-gSHA` (git describe) or a bare SHA.
    base = re.sub(r"-\d+-g[0-9a-f]+$", "", commit)
    current = _version(base) if base in tags or base != commit else None
    if current is None:
        by_sha = [t for t, sha in tags.items() if commit and sha.startswith(commit.lower())]
        current = max((versions[t] for t in by_sha if t in versions), default=None)
    if current is None:
        return TemplateFreshness(
            "unchecked", f"freshness not checked (_commit {commit} is not a release)", latest
        )
    if current < versions[latest]:
        return TemplateFreshness(
            "behind", f"generated from {commit}, the latest is {latest}", latest
        )
    return TemplateFreshness("current", f"generated from {commit}, the latest release", latest)
