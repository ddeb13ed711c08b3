"""Evidence the checks ask for by name, computed once per audited repository.

A fixture is a function of the audit context registered with `@fixture`; a check names it as
an argument of `check()`. A fixture that cannot produce its evidence raises `Unavailable` with
the reason, and every check that asked for it reports unknown with that reason; `Unreadable`
(evidence there but unreadable) and `Missing` make them fail instead. Fixtures for
DVC, MLflow and the handover documents live beside the checks that use them.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
import threading
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mlops_handover.audit.config import AuditConfig
from mlops_handover.audit.model import Unavailable, Unreadable
from mlops_handover.audit.readers import read_text
from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import run_git

#: Network calls (MLflow server, git remotes, GitHub API) give up after this many seconds.
NETWORK_TIMEOUT = 5.0

_FIXTURES: dict[str, Callable[[Context], Any]] = {}


def fixture(function: Callable[[Context], Any]) -> Callable[[Context], Any]:
    """Register `function` as the fixture named after it."""
    if function.__name__ in _FIXTURES:
        raise TypeError(f"fixture {function.__name__} is defined twice")
    _FIXTURES[function.__name__] = function
    return function


@dataclass(frozen=True)
class AuditOptions:
    #: No MLflow server or other network calls; local stores are still read.
    offline: bool = False
    #: Environment to read MLFLOW_TRACKING_URI and friends from (default: os.environ).
    environ: dict[str, str] | None = None


@dataclass
class Context:
    """One repository's audit: its root, options and configuration, and the fixture cache."""

    root: Path
    options: AuditOptions
    config: AuditConfig
    _values: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)

    @property
    def environ(self) -> dict[str, str]:
        return self.options.environ if self.options.environ is not None else dict(os.environ)

    def get(self, name: str) -> Any:
        """The fixture's value; raises Unavailable (cached too) when it cannot be had.

        Each fixture has its own lock, so checks running in threads compute it once while
        other fixtures are computed at the same time.
        """
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._values:
                try:
                    self._values[name] = _FIXTURES[name](self)
                except Unavailable as reason:
                    self._values[name] = reason
            value = self._values[name]
        if isinstance(value, Unavailable):
            raise value
        return value


def known_fixtures() -> frozenset[str]:
    return frozenset(_FIXTURES)


# --- the repository's files and git ------------------------------------------------------


def git_command(root: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    """Run git in `root` as on an untrusted repository (see `gitrepo`); Unavailable with
    git's message on failure."""
    try:
        result = run_git(
            root, *args, trusted=False, input=None if input is None else input.encode()
        )
    except HandoverError as error:
        raise Unavailable(str(error)) from None
    if check and result.returncode != 0:
        error = result.stderr.decode("utf-8", "replace").strip()
        raise Unavailable(f"git {' '.join(args[:2])} failed: {error}")
    return result.stdout.decode("utf-8", "replace")


class GitRepo:
    """The repository's git facts; `tracked` is what a fresh clone gets."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @cached_property
    def tracked(self) -> tuple[str, ...]:
        out = git_command(self.root, "ls-files", "-z", "--cached")
        # Sorted by git already; an unmerged path is listed once per stage.
        return tuple(dict.fromkeys(p for p in out.split("\0") if p))

    @cached_property
    def head(self) -> str | None:
        """The HEAD commit, None in a repository without commits."""
        out = git_command(self.root, "rev-parse", "--verify", "-q", "HEAD", check=False).strip()
        return out or None

    @cached_property
    def branch(self) -> str | None:
        out = git_command(self.root, "symbolic-ref", "-q", "--short", "HEAD", check=False)
        return out.strip() or None

    @cached_property
    def dirty(self) -> bool:
        return bool(git_command(self.root, "status", "--porcelain", "-uno").strip())

    @cached_property
    def remote_url(self) -> str | None:
        out = git_command(self.root, "remote", "get-url", "origin", check=False).strip()
        return out or None

    def commit_exists(self, sha: str) -> bool:
        """Whether `sha` names a commit in this repository's history."""
        if not sha or not all(c in "0123456789abcdefABCDEF" for c in sha):
            return False
        out = git_command(self.root, "cat-file", "-t", sha, check=False).strip()
        return out == "commit"

    def ignored(self, paths: list[str]) -> set[str]:
        """Which of `paths` git ignores (by .gitignore, info/exclude or the global excludes)."""
        if not paths:
            return set()
        out = git_command(
            self.root, "check-ignore", "--no-index", "--stdin", "-z",
            input="\0".join(paths) + "\0", check=False,
        )  # fmt: skip
        return {p for p in out.split("\0") if p}

    def last_change(self, paths: list[str]) -> str | None:
        """ISO commit date of the newest commit touching any of `paths`, None if never."""
        if self.head is None:
            return None
        out = git_command(self.root, "log", "-1", "--format=%cI", "--", *paths, check=False)
        return out.strip() or None


@fixture
def root(context: Context) -> Path:
    return context.root


@fixture
def config(context: Context) -> AuditConfig:
    return context.config


@fixture
def options(context: Context) -> AuditOptions:
    return context.options


@fixture
def git(context: Context) -> GitRepo:
    if not (context.root / ".git").exists():
        out = git_command(context.root, "rev-parse", "--show-toplevel", check=False).strip()
        if not out:
            raise Unavailable(f"{context.root} is not a git repository, so there is no history")
    return GitRepo(context.root)


_WALK_SKIP = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".tox"}


class ProjectFiles:
    """The files a fresh clone would have: git's tracked files, or the tree without git.

    Reading goes through `text`, `yaml` and `toml` (the safe reader, `readers.read_text`): a
    file that is there but cannot be read (permission denied, too large, not a regular file, not
    UTF-8) raises Unreadable, which fails its checks; a tracked file missing from the working
    tree or a malformed one raises Unavailable, which makes them unknown.
    """

    def __init__(self, root: Path, paths: tuple[str, ...], tracked: bool) -> None:
        self.root = root
        self.paths = tuple(sorted(paths))  # `under` bisects; git's order already is
        self.tracked = tracked
        self._set = frozenset(paths)
        self._text: dict[str, str] = {}

    def __contains__(self, path: str) -> bool:
        return path in self._set

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def glob(self, *patterns: str) -> list[str]:
        """Paths matching any of the glob patterns (see `glob_filter`)."""
        return glob_filter(self.paths, *patterns)

    def first(self, *paths: str) -> str | None:
        """The first of `paths` that is in the repository."""
        return next((p for p in paths if p in self._set), None)

    def under(self, directory: str) -> list[str]:
        """Paths below `directory`: `paths` is sorted, so two bisections find them."""
        prefix = directory.strip("/") + "/"
        lo = bisect.bisect_left(self.paths, prefix)
        hi = bisect.bisect_left(self.paths, prefix[:-1] + "0", lo)  # "0" sorts right after "/"
        return list(self.paths[lo:hi])

    def text(self, path: str) -> str:
        if path not in self._text:
            if path not in self._set:
                raise Unavailable(f"{path} is not in the repository")
            text = read_text(self.root / path, path)
            if text is None:  # tracked, but deleted from the working tree: absent
                raise Unavailable(f"{path} cannot be read: it is not in the working tree")
            self._text[path] = text
        return self._text[path]

    def read(self, path: str) -> str | None:
        """The text, or None when the file is absent (unreadable still raises Unreadable)."""
        return self.text(path) if path in self._set else None

    def yaml(self, path: str) -> Any:
        return load_yaml(self.text(path), path)

    def toml(self, path: str) -> dict[str, Any]:
        try:
            return tomllib.loads(self.text(path))
        except tomllib.TOMLDecodeError as error:
            raise Unreadable(f"{path} is not valid TOML: {error}") from None


def load_yaml(text: str, name: str) -> Any:
    """Safe-load YAML (libyaml when present); Unavailable naming `name` when malformed.

    PyYAML raises more than YAMLError: ValueError for an impossible date, RecursionError for
    deep nesting.
    """
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
        raise Unreadable(f"{name} is not valid YAML: {one_line(error)}") from None


def glob_filter(paths: Iterable[str], *patterns: str) -> list[str]:
    """The paths matching any of the glob patterns, matched from the right as
    PurePosixPath.match does (`*` and `?` stay within one path part)."""
    regex = _glob_regex(patterns)
    # A C-level suffix test first ("*.pkl" -> ".pkl"): 100,000 paths in ~10 ms.
    tails = tuple(re.split(r"[*?\[\]]", p)[-1] for p in patterns)
    if all(tails):
        return [p for p in paths if p.endswith(tails) and regex.search(p)]
    return [p for p in paths if regex.search(p)]


@functools.lru_cache(maxsize=256)
def _glob_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One compiled regex for the patterns: a regex per path is 100x cheaper than PurePath."""
    alternatives = []
    for pattern in patterns:
        out, i = [], 0
        while i < len(pattern):
            char = pattern[i]
            if char == "*":
                out.append("[^/]*")
            elif char == "?":
                out.append("[^/]")
            elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = re.escape(body[1:] if negate else body).replace("\\-", "-")
                out.append(f"[{'^/' if negate else ''}{body}]")
                i = end
            else:
                out.append(re.escape(char))
            i += 1
        alternatives.append("".join(out))
    return re.compile(f"(?:^|/)(?:{'|'.join(alternatives)})$")


def one_line(error: Exception) -> str:
    return " ".join(str(error).split())


@fixture
def files(context: Context) -> ProjectFiles:
    try:
        repo = context.get("git")
    except Unavailable:
        repo = None
    if repo is not None:
        try:
            return ProjectFiles(context.root, repo.tracked, tracked=True)
        except Unavailable:
            pass
    paths = []
    for directory, dirnames, filenames in os.walk(context.root):
        dirnames[:] = [d for d in dirnames if d not in _WALK_SKIP and d != "cache"]
        base = Path(directory).relative_to(context.root)
        paths.extend((base / name).as_posix() for name in filenames)
    return ProjectFiles(context.root, tuple(sorted(paths)), tracked=False)


@fixture
def pyproject(context: Context) -> dict[str, Any]:
    """pyproject.toml as a dict; {} when there is none."""
    project_files: ProjectFiles = context.get("files")
    if "pyproject.toml" not in project_files:
        return {}
    return project_files.toml("pyproject.toml")


@fixture
def answers(context: Context) -> dict[str, Any] | None:
    """`.copier-answers.yml` (the template link), None when the project was not generated."""
    project_files: ProjectFiles = context.get("files")
    if ".copier-answers.yml" not in project_files:
        return None
    data = project_files.yaml(".copier-answers.yml")
    if not isinstance(data, dict):
        raise Unreadable(".copier-answers.yml is not a mapping of answers")
    return data


@dataclass(frozen=True)
class Domains:
    """Whose infrastructure a URL or address belongs to: the client's allow-list, the vendor's
    deny-list (from the configuration, else the template answers)."""

    client: tuple[str, ...]
    vendor: tuple[str, ...]

    @staticmethod
    def host(text: str) -> str:
        """The host of a URL, the domain of an e-mail address, else the text itself (lower)."""
        from urllib.parse import urlsplit

        text = text.strip().lower()
        if "://" in text:
            return urlsplit(text).hostname or ""
        if "@" in text:
            return text.rsplit("@", 1)[1].strip("<>")
        return text

    @classmethod
    def matches(cls, text: str, entry: str) -> bool:
        """`entry` is a URL prefix (`s3://acme-ml/`) or a domain that the host ends with."""
        if "://" in entry:
            return text.strip().lower().startswith(entry.lower())
        host = cls.host(text)
        return host == entry or host.endswith("." + entry)

    def is_vendor(self, text: str) -> bool:
        return any(self.matches(text, d) for d in self.vendor)

    def is_client(self, text: str) -> bool:
        return any(self.matches(text, d) for d in self.client)


@fixture
def domains(context: Context) -> Domains:
    cfg = context.config
    client, vendor = list(cfg.client_domains), list(cfg.vendor_domains)
    try:
        data = context.get("answers") or {}
    except Unreadable:
        if client and vendor:  # configured: the answers are not needed
            data = {}
        else:
            raise
    except Unavailable:
        data = {}
    if not client and isinstance(data.get("client_email_domain"), str):
        client.append(data["client_email_domain"].lower())
    vendor_domain = data.get("vendor_email_domain")
    if not vendor and isinstance(vendor_domain, str) and vendor_domain:
        vendor.append(vendor_domain.lower())
    return Domains(tuple(d for d in client if d), tuple(d for d in vendor if d))


# --- CI configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class CiJob:
    name: str
    #: Shell lines of the job (`run:` of GitHub steps; script/before_script of GitLab jobs).
    commands: tuple[str, ...]
    #: `uses:` references of GitHub steps.
    uses: tuple[str, ...] = ()
    #: The job's own `permissions:` (GitHub), None when it does not set them.
    permissions: Any = None


@dataclass(frozen=True)
class CiWorkflow:
    """One CI file: GitHub Actions workflow or `.gitlab-ci.yml`, reduced to what checks need."""

    path: str
    provider: str  # github | gitlab
    #: Events that start it: push, pull_request, schedule, workflow_dispatch, merge_request...
    triggers: frozenset[str]
    jobs: tuple[CiJob, ...]
    #: Top-level `permissions:` (GitHub), None when absent.
    permissions: Any = None
    data: Any = None

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(c for job in self.jobs for c in job.commands)


def _github_triggers(on: Any) -> frozenset[str]:
    if isinstance(on, str):
        return frozenset([on])
    if isinstance(on, list):
        return frozenset(str(e) for e in on)
    if isinstance(on, dict):
        return frozenset(str(e) for e in on)
    return frozenset()


def _github_workflow(path: str, data: dict[str, Any]) -> CiWorkflow:
    # PyYAML reads the key `on` as True (YAML 1.1); accept both.
    on = data.get("on", data.get(True))
    jobs = []
    jobs_data = data.get("jobs")
    for name, job in (jobs_data if isinstance(jobs_data, dict) else {}).items():
        if not isinstance(job, dict):
            continue
        raw = job.get("steps")
        steps = [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
        jobs.append(
            CiJob(
                name=str(name),
                commands=tuple(str(s["run"]) for s in steps if "run" in s),
                uses=tuple(str(s["uses"]) for s in steps if "uses" in s)
                + ((str(job["uses"]),) if "uses" in job else ()),
                permissions=job.get("permissions"),
            )
        )
    return CiWorkflow(
        path, "github", _github_triggers(on), tuple(jobs), data.get("permissions"), data
    )


_GITLAB_KEYWORDS = {
    "stages", "variables", "default", "include", "workflow", "image", "services", "cache",
    "before_script", "after_script", "pages",
}  # fmt: skip


def _lines(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(line for item in value for line in _lines(item))
    return ()


def _gitlab_pipeline(path: str, data: dict[str, Any]) -> CiWorkflow:
    jobs, triggers = [], {"push"}
    text = repr(data)
    names = {"merge_request_event": "merge_request", "web": "manual"}
    for source in ("merge_request_event", "schedule", "web", "api", "trigger"):
        if source in text:
            triggers.add(names.get(source, source))
    default = data.get("default") if isinstance(data.get("default"), dict) else {}
    before = _lines(data.get("before_script") or default.get("before_script"))
    for name, job in data.items():
        if name in _GITLAB_KEYWORDS or str(name).startswith(".") or not isinstance(job, dict):
            continue
        commands = before + _lines(job.get("before_script")) + _lines(job.get("script"))
        jobs.append(CiJob(name=str(name), commands=commands))
    return CiWorkflow(path, "gitlab", frozenset(triggers), tuple(jobs), None, data)


@fixture
def ci(context: Context) -> tuple[CiWorkflow, ...]:
    """The CI files of the repository, parsed; a malformed one makes CI checks unknown."""
    project_files: ProjectFiles = context.get("files")
    workflows = []
    for path in project_files.under(".github/workflows"):
        if path.count("/") != 2 or not path.endswith((".yml", ".yaml")):
            continue
        data = project_files.yaml(path)
        if not isinstance(data, dict):
            raise Unavailable(f"{path} is not a workflow mapping")
        workflows.append(_github_workflow(path, data))
    if ".gitlab-ci.yml" in project_files:
        data = project_files.yaml(".gitlab-ci.yml")
        if not isinstance(data, dict):
            raise Unreadable(".gitlab-ci.yml is not a mapping")
        workflows.append(_gitlab_pipeline(".gitlab-ci.yml", data))
    return tuple(workflows)
