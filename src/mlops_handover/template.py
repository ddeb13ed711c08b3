"""Where the Copier template lives and which questions it asks.

Reading the questions needs only PyYAML, so the CLI can check `--data` keys without importing
Copier (about a second).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
#: Where Copier records a project's answers and its template link (`_src_path`, `_commit`).
ANSWERS_FILE = ".copier-answers.yml"


def template_source() -> str:
    """The template to generate from.

    `HANDOVER_TEMPLATE` (a path or git URL) wins; otherwise the checkout this package is
    installed from (an editable install: its git tags are the template versions), otherwise
    the copy bundled in the wheel.
    """
    if env := os.environ.get("HANDOVER_TEMPLATE"):
        return env
    checkout = PACKAGE_DIR.parent.parent
    if (checkout / "copier.yml").is_file() and (checkout / "template").is_dir():
        return str(checkout)
    return str(PACKAGE_DIR / "_template")


@cache
def questions(source: str | None = None) -> dict[str, dict]:
    """Questions of a local template, in the order Copier asks them (settings `_*` left out)."""
    path = Path(source or template_source()) / "copier.yml"
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
    """Whether `_commit` is the template's newest release tag (`git ls-remote --tags`, 5 s).

    A local template path is read even offline; a remote one only online.
    """
    url = _source_url(src.strip())
    if not url or url.startswith("-"):
        return TemplateFreshness("unchecked", f"freshness not checked (unreachable: {src!r})")
    local = is_local(url)
    if offline and not local:
        return TemplateFreshness("unchecked", "freshness not checked (offline)")
    if local and not os.path.exists(url):
        return TemplateFreshness("unchecked", f"freshness not checked (unreachable: {src})")
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": f"ssh -o BatchMode=yes -o ConnectTimeout={int(timeout)}",
        "LC_ALL": "C",
        # an answers file is not trusted: no `ext::` or other command-running transports
        "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
    }
    try:
        result = subprocess.run(
            ["git", "ls-remote", "--tags", url],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return TemplateFreshness("unchecked", f"freshness not checked (unreachable: {src})")
    if result.returncode != 0:
        return TemplateFreshness("unchecked", f"freshness not checked (unreachable: {src})")
    tags: dict[str, str] = {}  # tag -> commit (peeled when annotated)
    for line in result.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith("refs/tags/"):
            continue
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            tags[name[:-3]] = sha
        else:
            tags.setdefault(name, sha)
    versions = {tag: v for tag in tags if (v := _version(tag)) is not None and not v.is_prerelease}
    if not versions:
        return TemplateFreshness(
            "unchecked", "freshness not checked (the template has no release tags)"
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
            "unchecked", f"freshness not checked (_commit {commit} is not a release tag)", latest
        )
    if current < versions[latest]:
        return TemplateFreshness(
            "behind", f"generated from {commit}, the latest is {latest}", latest
        )
    return TemplateFreshness("current", f"generated from {commit}, the latest release", latest)
