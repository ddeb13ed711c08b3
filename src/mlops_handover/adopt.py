"""`handover adopt PATH`: add the handover scaffolding to a repository the template did not make.

The answers come from what the repository already has (`detect`: git, DVC and its remote,
MLflow and its tracking URI, the CI provider, the package, the Python version, the licence);
`--data` wins over them, and every other question takes its default and is listed as assumed.
Copier renders the template into a temporary directory first, so its validators reject a bad
answer, detected or given, before anything is written. Then the files are placed into PATH one
by one, and no existing file is ever modified or deleted:

- a missing file is written;
- a file that exists with the same bytes is left alone, listed as already present;
- a file that exists with other bytes (or as a directory or symlink, or tracked but deleted in
  the working tree) is left alone, and the template's version is written beside it as a
  proposal: `README.md` -> `README.handover-proposed.md`, `.gitignore` ->
  `.gitignore.handover-proposed`, `LICENSE` -> `LICENSE.handover-proposed`, with `-2`, `-3`
  ... added when that name is taken too.

A proposal must not act on its own. GitHub runs every `*.yml`/`*.yaml` file in
`.github/workflows/` and GitLab offers every `*.md` in `.gitlab/merge_request_templates/`, so a
proposal there keeps its whole name and ends in the marker (`ci.yml.handover-proposed`).
Three kinds of files are proposed even when missing, because writing them would change how the
repository already behaves:

- the CI configuration (`.github/workflows/*`, `.gitlab-ci.yml`): the template's CI installs
  `requirements.lock` and runs the example pipeline, which adopt does not add, so it would fail
  on the next push;
- `pyproject.toml` where the dependencies are declared another way (`setup.py`, `setup.cfg`,
  `requirements*.txt`, `Pipfile`, `environment.yml`): the template's dependency list would
  contradict the project's, and pip would build from it instead of `setup.py`;
- `.gitattributes` while git holds files with CRLF line endings: its `eol=lf` would rewrite
  them in the next commit.

The scaffold is the template's output without the example pipeline, because adopt neither runs
nor initialises tools in someone else's project: it leaves out `src/<package_name>/` and
`tests/` (the example's code and tests), `dvc.yaml`, `params.yaml`, `requirements.lock`,
`.dvc/` and `.dvcignore`. `.copier-answers.yml` is always written (a repository that has one is
refused): it links the repository to the template, so `handover update` brings later template
versions. When the template has the (never asked) question `adopt_exclude`, adopt records in it
what the template must leave alone from then on: the left-out example files, every file it
proposed instead of writing, and the new files .gitignore hides. Copier renders none of them
again, so an update neither merges the template into the repository's own files nor adds example
files to its package and tests. The list is known only once the template is rendered, so the
template is rendered a second time for the answers file.

No file is written through a symlink or into a directory that is a symlink, nothing is
committed, and the run ends with an offline audit that counts the new files as committed.
"""

from __future__ import annotations

import json
import keyword
import os
import posixpath
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from mlops_handover.audit.dvc import DvcProject, is_local_url
from mlops_handover.audit.fixtures import ProjectFiles
from mlops_handover.audit.model import Unavailable
from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import git, require_repository
from mlops_handover.new import project_name_for
from mlops_handover.template import ANSWERS_FILE, copy_template, questions

MARKER = "handover-proposed"
#: Template output that belongs to the example pipeline (plus `src/<package_name>/`).
LEFT_OUT_FILES = frozenset({"dvc.yaml", "params.yaml", "requirements.lock", ".dvcignore"})
LEFT_OUT_DIRS = ("tests/", ".dvc/")
#: The question that records what the template leaves alone in an adopted repository.
ADOPT_EXCLUDE = "adopt_exclude"
#: Directories whose files a tool picks up by their extension.
PICKED_UP_BY_EXTENSION = (".github/workflows/", ".gitlab/merge_request_templates/")
#: Items of the audit shown as missing.
MISSING_SHOWN = 5
#: Larger files are not searched for MLflow use (notebooks with big outputs).
MAX_SCAN_BYTES = 20 * 1024 * 1024
#: An answer the user gives makes these detected answers meaningless.
DEPENDENT_ANSWERS = {
    "dvc_remote": ("dvc_remote_url", "dvc_s3_endpoint_url"),
    "mlflow_tracking": ("mlflow_tracking_uri",),
}

_IMPORTS_MLFLOW = re.compile(r"^\s*(?:import|from)\s+mlflow\b", re.MULTILINE)
_SET_TRACKING_URI = re.compile(
    r"""mlflow\.set_tracking_uri\(\s*(?:uri\s*=\s*)?[rRuU]?["']([^"']+)["']"""
)
_ENV_TRACKING_URI = re.compile(r"""\bMLFLOW_TRACKING_URI\s*[:=]\s*["']?([^\s"'#]+)""")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:[\\/])")
_OUTSIDE_REPO = re.compile(r"^(\.\./|/|~|[A-Za-z]:[\\/])")
DVC_SCHEMES = {"s3": "s3", "gs": "gcs", "azure": "azure", "ssh": "ssh"}
ENV_EXAMPLES = (
    "*.env.example", "*.env.sample", "*.env.template", "*.env.dist", "env.example", "example.env",
)  # fmt: skip
#: Besides requirements*.txt: where a project declares its dependencies or build without pyproject.
DEPENDENCY_FILES = ("setup.py", "setup.cfg", "Pipfile", "environment.yml", "environment.yaml")
LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "LICENCE.txt", "COPYING")
NOT_PACKAGES = frozenset({"src", "test", "tests", "docs", "scripts", "notebooks", "examples"})


# --- what the repository has ---------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A detected value and where it was seen."""

    value: Any
    source: str


@dataclass
class Detection:
    """Answers to template questions, and facts that answer none but say what is there."""

    answers: dict[str, Found] = field(default_factory=dict)
    facts: dict[str, Found] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        found = {**self.facts, **self.answers}
        return {name: {"value": f.value, "from": f.source} for name, f in found.items()}


def detect(project: Path, template_questions: Mapping[str, Mapping[str, Any]]) -> Detection:
    """What the repository has, as answers where a question asks for it (choices respected)."""
    files = ProjectFiles(project, _listed(project), tracked=True)
    pyproject = _toml(files, "pyproject.toml")
    found = Detection()
    _detect_git(project, found)
    _detect_dvc(project, files, found)
    _detect_mlflow(files, found)
    _detect_ci(files, found)
    _detect_names(project, files, pyproject, found)
    choices = {name: choice_values(spec) for name, spec in template_questions.items()}
    for name, value in (
        ("python_version", _python_version(files, pyproject, choices.get("python_version", []))),
        ("license", _license(files)),
    ):
        if value and value.value in choices.get(name, []):
            found.answers[name] = value
    return found


def choice_values(spec: Mapping[str, Any]) -> list[str]:
    """The values a Copier question accepts (its `choices`, in any of Copier's forms)."""
    choices = spec.get("choices") or []
    if isinstance(choices, Mapping):
        items = [c.get("value") if isinstance(c, Mapping) else c for c in choices.values()]
    else:
        items = [c[1] if isinstance(c, list | tuple) and len(c) == 2 else c for c in choices]
    return [str(item) for item in items]


def _listed(project: Path) -> tuple[str, ...]:
    """Tracked files and untracked ones git would add: what the project consists of."""
    out = git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return tuple(sorted({p for p in out.split("\0") if p}))


def _read(files: ProjectFiles, path: str) -> str | None:
    try:
        return files.read(path)
    except Unavailable:
        return None


def _toml(files: ProjectFiles, path: str) -> dict[str, Any]:
    try:
        return files.toml(path) if path in files else {}
    except Unavailable:
        return {}


def _git_or_empty(project: Path, *args: str) -> str:
    try:
        return git(project, *args)
    except HandoverError:
        return ""


def without_credentials(url: str) -> str:
    """`https://user:token@host/x` -> `https://host/x`: a secret must not reach the answers."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    if parts.scheme in ("http", "https") or ":" in userinfo:
        return urlunsplit(parts._replace(netloc=host))
    return url


def _detect_git(project: Path, found: Detection) -> None:
    remotes = _git_or_empty(project, "remote").split()
    name = "origin" if "origin" in remotes else next(iter(remotes), "")
    if name:
        url = _git_or_empty(project, "remote", "get-url", name)
        found.facts["git_remote"] = Found(without_credentials(url), f"git remote {name}")
        head = _git_or_empty(project, "symbolic-ref", "--short", f"refs/remotes/{name}/HEAD")
        if head:
            found.facts["default_branch"] = Found(head.removeprefix(f"{name}/"), f"{name}/HEAD")
            return
    if branch := _git_or_empty(project, "symbolic-ref", "--short", "HEAD"):
        found.facts["default_branch"] = Found(branch, "the current branch")


def _detect_dvc(project: Path, files: ProjectFiles, found: Detection) -> None:
    """DVC's default remote (`core.remote`, else the only remote) as dvc_remote and its URL."""
    if ".dvc/config" not in files:
        return
    found.facts["dvc"] = Found(True, ".dvc/config")
    if "dvc.yaml" in files:
        found.facts["dvc_pipeline"] = Found(True, "dvc.yaml")
    dvc = DvcProject(project, files)
    try:
        remotes, name = dvc.remotes, dvc.default_remote
    except Unavailable as reason:
        found.facts["dvc_config"] = Found(str(reason), ".dvc/config")
        return
    source = ".dvc/config core.remote"
    if name is None and len(remotes) == 1:
        name, source = next(iter(remotes)), ".dvc/config (its only remote)"
    if name not in remotes:
        return
    url = without_credentials(remotes[name])
    found.facts["dvc_default_remote"] = Found(f"{name}: {url}", source)
    answer = dvc_answer(url)
    if answer is None:  # a kind of storage the template does not offer, or inside the repo
        return
    kind, answer_url = answer
    where = f'.dvc/config remote "{name}"'
    found.answers["dvc_remote"] = Found(kind, where)
    found.answers["dvc_remote_url"] = Found(answer_url, where)
    if kind == "s3" and (endpoint := _remote_option(dvc, name, "endpointurl")):
        found.answers["dvc_s3_endpoint_url"] = Found(without_credentials(endpoint), where)


def dvc_answer(url: str) -> tuple[str, str] | None:
    """A DVC remote URL as the template's (dvc_remote, dvc_remote_url), None if it fits none.

    DVC resolves a relative local remote from `.dvc/`; the template's answer is relative to
    the repository root and must be outside it.
    """
    if is_local_url(url):
        path = url.removeprefix("file://")
        if not _ABSOLUTE.match(path):
            path = posixpath.normpath(posixpath.join(".dvc", path))
        return ("local", path) if _OUTSIDE_REPO.match(path) else None
    scheme = url.split("://", 1)[0].lower()
    return (DVC_SCHEMES[scheme], url) if scheme in DVC_SCHEMES else None


def _remote_option(dvc: DvcProject, remote: str, option: str) -> str | None:
    parser = dvc.config
    if parser is None:
        return None
    for section in parser.sections():
        if section.strip().strip("'").strip() == f'remote "{remote}"':
            value = parser.get(section, option, fallback="").strip().strip("'\"")
            return value or None
    return None


def _code(files: ProjectFiles, path: str) -> str:
    """The Python code of a `.py` file or of a notebook's code cells ('' when unreadable)."""
    try:
        if (files.root / path).stat().st_size > MAX_SCAN_BYTES:
            return ""
    except OSError:
        return ""
    text = _read(files, path) or ""
    if not path.endswith(".ipynb"):
        return text
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return ""
    sources = [c.get("source", "") for c in cells if c.get("cell_type") == "code"]
    return "\n".join("".join(s) if isinstance(s, list) else str(s) for s in sources)


def _tracking_uris(files: ProjectFiles, code: dict[str, str]) -> Iterator[Found]:
    """Tracking URIs the project names, most deliberate first: params.yaml, env examples, CI
    files, then `mlflow.set_tracking_uri(...)` in code."""
    if "params.yaml" in files:
        try:
            params = files.yaml("params.yaml")
        except Unavailable:
            params = None
        mlflow = params.get("mlflow") if isinstance(params, dict) else None
        if isinstance(mlflow, dict) and isinstance(mlflow.get("tracking_uri"), str):
            yield Found(mlflow["tracking_uri"], "params.yaml mlflow.tracking_uri")
    ci_files = [p for p in files if _ci_file(p)]
    for path in [*files.glob(*ENV_EXAMPLES), *ci_files]:
        for match in _ENV_TRACKING_URI.finditer(_read(files, path) or ""):
            yield Found(match.group(1), f"{path} MLFLOW_TRACKING_URI")
    for path, text in code.items():
        for match in _SET_TRACKING_URI.finditer(text):
            yield Found(match.group(1), f"{path} mlflow.set_tracking_uri")


def _detect_mlflow(files: ProjectFiles, found: Detection) -> None:
    """MLflow use, and the tracking URI: an http(s) server, or a local store."""
    code = {p: _code(files, p) for p in files.glob("*.py", "*.ipynb")}
    importing = next((p for p, text in code.items() if _IMPORTS_MLFLOW.search(text)), None)
    if importing:
        found.facts["mlflow"] = Found(True, f"{importing} imports mlflow")
    uris = [
        Found(without_credentials(u.value.strip()), u.source)
        for u in _tracking_uris(files, code)
        if u.value.strip() and u.value.strip()[0] not in "$<{"
    ]
    server = next((u for u in uris if u.value.startswith(("http://", "https://"))), None)
    if server:
        found.answers["mlflow_tracking"] = Found("server", server.source)
        found.answers["mlflow_tracking_uri"] = server
        return
    local = next((u for u in uris if _local_store(u.value)), None)
    if local:
        found.answers["mlflow_tracking"] = Found("local", local.source)
    if uris:
        found.facts["mlflow_store"] = local or uris[0]


def _local_store(uri: str) -> bool:
    """A tracking URI of one machine: a path, `file:` or `sqlite:`."""
    scheme = _SCHEME.match(uri)
    return scheme is None or scheme.group(1).lower() in ("file", "sqlite")


def _ci_file(path: str) -> bool:
    parts = path.split("/")
    workflow = len(parts) == 3 and parts[:2] == [".github", "workflows"]
    return (workflow and path.endswith((".yml", ".yaml"))) or path == ".gitlab-ci.yml"


def _detect_ci(files: ProjectFiles, found: Detection) -> None:
    workflows = [p for p in files if _ci_file(p) and p.startswith(".github/")]
    if workflows:
        found.answers["ci_provider"] = Found("github", workflows[0])
    elif ".gitlab-ci.yml" in files:
        found.answers["ci_provider"] = Found("gitlab", ".gitlab-ci.yml")
    else:
        found.answers["ci_provider"] = Found("none", "no .github/workflows/*.yml or .gitlab-ci.yml")


def identifier(name: str) -> str | None:
    """A distribution or directory name as a package name; None when it cannot be one."""
    value = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    valid = re.fullmatch(r"[a-z_][a-z0-9_]*", value) and not keyword.iskeyword(value)
    return value if valid and value not in {"true", "false", "none", "test", "tests"} else None


def _packages(files: ProjectFiles) -> tuple[list[str], str]:
    """The import packages: those under src/, else the top-level ones."""
    src, top = [], []
    for path in files:
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "src" and parts[2] == "__init__.py":
            src.append(parts[1])
        elif len(parts) == 2 and parts[1] == "__init__.py" and parts[0] not in NOT_PACKAGES:
            top.append(parts[0])
    return (src, "src/{}/__init__.py") if src else (top, "{}/__init__.py")


def _detect_names(
    project: Path, files: ProjectFiles, pyproject: Mapping[str, Any], found: Detection
) -> None:
    """The package (the single importable one, else pyproject's name) and the project name."""
    dist = (pyproject.get("project") or {}).get("name")
    dist = dist if isinstance(dist, str) and dist.strip() else None
    packages, where = _packages(files)
    if len(packages) == 1 and (name := identifier(packages[0])):
        found.answers["package_name"] = Found(name, where.format(packages[0]))
    elif dist and (name := identifier(dist)):
        found.answers["package_name"] = Found(name, "pyproject.toml [project].name")
    if dist:
        found.answers["project_name"] = Found(
            project_name_for(Path(dist)), "pyproject.toml [project].name"
        )
    else:
        name = project_name_for(project.resolve())
        found.answers["project_name"] = Found(name, "the directory name")


def _python_version(
    files: ProjectFiles, pyproject: Mapping[str, Any], choices: list[str]
) -> Found | None:
    """The lowest choice that `requires-python` allows, else `.python-version`'s X.Y."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    requires = (pyproject.get("project") or {}).get("requires-python")
    if isinstance(requires, str):
        try:
            allowed = SpecifierSet(requires)
            ordered = sorted(choices, key=Version)
        except (InvalidSpecifier, InvalidVersion):
            ordered = []
        for choice in ordered:
            if allowed.contains(choice):
                return Found(choice, f"pyproject.toml requires-python {requires!r}")
    text = (_read(files, ".python-version") or "").strip()
    if match := re.match(r"^(\d+\.\d+)", text):
        return Found(match.group(1), ".python-version")
    return None


def _license(files: ProjectFiles) -> Found | None:
    """The licence of the LICENSE file, when its text is clearly MIT, Apache-2.0 or proprietary."""
    path = files.first(*LICENSE_FILES)
    text = " ".join((_read(files, path) or "").lower().split()) if path else ""
    if not text:
        return None
    if "apache license" in text and "version 2.0" in text:
        return Found("Apache-2.0", path)
    mit = ("permission is hereby granted, free of charge", "this permission notice shall be")
    if all(phrase in text for phrase in mit):
        return Found("MIT", path)
    grants = ("permission", "redistribution", "licensed under", "gnu", "free software", "public")
    if "all rights reserved" in text and not any(g in text for g in grants):
        return Found("proprietary", path)
    return None


# --- rendering and placing ------------------------------------------------------------------


def render(
    source: str, dest: Path, answers: Mapping[str, Any], vcs_ref: str | None, found: Detection
) -> dict[str, Any]:
    """Render the template into `dest` (Copier's validators run first); the recorded answers."""
    from copier.errors import CopierError  # about a second: only once the repository is good

    try:
        copy_template(source, dest, answers, vcs_ref, defaults=True, skip_tasks=True)
    except (ValueError, CopierError) as error:
        message = str(error)
        blamed = [
            name
            for name, f in found.answers.items()
            if name in message and answers.get(name) == f.value
        ]
        if blamed:
            origins = "; ".join(f"{n} was detected from {found.answers[n].source}" for n in blamed)
            message += f" ({origins}: give the right value with --data {blamed[0]}=VALUE)"
        raise HandoverError(message, 2) from error
    return yaml.safe_load((dest / ANSWERS_FILE).read_text(encoding="utf-8")) or {}


@dataclass(frozen=True)
class Placement:
    """One scaffold file and where it goes: its own path, or a proposal beside it."""

    file: str
    path: str
    #: Why it is a proposal; None when the file is written at its own path.
    reason: str | None = None


def left_out(path: str, package: str) -> bool:
    """Whether a rendered file is part of the example pipeline, which adopt does not add."""
    return (
        path in LEFT_OUT_FILES
        or path.startswith((*LEFT_OUT_DIRS, f"src/{package}/"))
    )  # fmt: skip


def proposal_name(path: str, number: int = 1) -> str:
    """`README.md` -> `README.handover-proposed.md`; `ci.yml` in `.github/workflows/` ->
    `ci.yml.handover-proposed` (GitHub would run a `.yml`); `number` 2 -> `...-proposed-2...`."""
    marker = MARKER if number == 1 else f"{MARKER}-{number}"
    pure = PurePosixPath(path)
    if pure.suffix and not path.startswith(PICKED_UP_BY_EXTENSION):
        return str(pure.with_name(f"{pure.stem}.{marker}{pure.suffix}"))
    return f"{path}.{marker}"


def _why_not_written(
    path: str, project: Path, tracked: frozenset[str], crlf: Callable[[], bool]
) -> str | None:
    """Why a scaffold file that does not exist is proposed instead of written (None: written)."""
    if path.startswith(".github/workflows/") or path == ".gitlab-ci.yml":
        return (
            "it would run in CI: the template's CI installs requirements.lock and runs the "
            "example pipeline, which adopt does not add"
        )
    if path == "pyproject.toml" and (declared := _dependency_files(project)):
        return f"{declared[0]} declares the dependencies; the template's list would contradict it"
    if path == ".gitattributes" and crlf():
        return "git holds files with CRLF line endings, which its eol=lf would rewrite"
    if path in tracked:
        return "it is tracked by git and deleted in the working tree"
    return None


def _dependency_files(project: Path) -> list[str]:
    """The files in which the project already declares its dependencies or build."""
    names = [*DEPENDENCY_FILES, *sorted(p.name for p in project.glob("requirements*.txt"))]
    return [name for name in names if (project / name).is_file()]


def _same_file(target: Path, rendered: Path) -> bool:
    return (
        target.is_file()
        and not target.is_symlink()
        and target.stat().st_size == rendered.stat().st_size
        and target.read_bytes() == rendered.read_bytes()
    )


def _check_directories(project: Path, path: str) -> None:
    """Refuse to write through a symlink or where a file stands in for a directory."""
    for parent in reversed(PurePosixPath(path).parents[:-1]):
        directory = project / parent
        if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
            kind = "a symlink" if directory.is_symlink() else "not a directory"
            raise HandoverError(
                f"{directory} is {kind}, and the scaffold puts {path} in it: adopt never writes "
                "through a symlink or over a file, so nothing was written. Replace it with a "
                "directory (or move it away) and run `handover adopt` again.",
                2,
            )


def _free_proposal_name(project: Path, path: str, taken: frozenset[str] | set[str]) -> str:
    """The first proposal name for `path` that nothing has (on disk, in git, in this run)."""
    number = 1
    while os.path.lexists(project / proposal_name(path, number)) or (
        proposal_name(path, number) in taken
    ):
        number += 1
    return proposal_name(path, number)


def plan(rendered: Path, project: Path, package: str) -> tuple[list[Placement], list[str]]:
    """Where each scaffold file goes, and which are already present; raises before writing."""
    tracked = frozenset(p for p in git(project, "ls-files", "-z").split("\0") if p)
    crlf_answer: list[bool] = []

    def crlf() -> bool:
        if not crlf_answer:
            eol = git(project, "ls-files", "--eol")
            crlf_answer.append(bool(re.search(r"^i/(crlf|mixed)\s", eol, re.MULTILINE)))
        return crlf_answer[0]

    placements, present, taken = [], [], set()
    for source in sorted(p for p in rendered.rglob("*") if p.is_file()):
        path = source.relative_to(rendered).as_posix()
        if left_out(path, package):
            continue
        target = project / path
        if _same_file(target, source):
            present.append(path)
            continue
        if os.path.lexists(target):
            reason: str | None = "it exists and differs"
        else:
            reason = _why_not_written(path, project, tracked, crlf)
        if reason is None:
            placements.append(Placement(path, path))
            continue
        name = _free_proposal_name(project, path, tracked | taken)
        taken.add(name)
        placements.append(Placement(path, name, reason))
    for placement in placements:
        _check_directories(project, placement.path)
    return placements, present


def place(rendered: Path, project: Path, placements: list[Placement]) -> None:
    """Write the planned files; exclusive creation, so nothing that exists is ever replaced."""
    for placement in placements:
        source, target = rendered / placement.file, project / placement.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            out.write(source.read_bytes())
        shutil.copymode(source, target)


def ignored_paths(project: Path, paths: list[str]) -> list[str]:
    """The paths the repository's .gitignore hides (they need not exist yet)."""
    if not paths:
        return []
    # Exit 1 means that none is ignored, which gitrepo.git reports as an error.
    return sorted(filter(None, _git_or_empty(project, "check-ignore", "--", *paths).splitlines()))


def exclusions(package: str, placements: list[Placement], ignored: list[str]) -> list[str]:
    """What the template must leave alone from now on, as Copier exclude patterns: the example
    pipeline adopt left out, every file it proposed instead of writing, and the files it wrote
    that .gitignore hides (never committed, an update would delete them). Recorded as the
    `adopt_exclude` answer, they keep `handover update` from merging the template into the
    repository's own files or adding example files to its package and tests."""
    left_out_paths = [*LEFT_OUT_FILES, *(d.rstrip("/") for d in LEFT_OUT_DIRS), f"src/{package}"]
    proposed = [p.file for p in placements if p.reason is not None]
    paths = [*left_out_paths, *proposed, *ignored]
    return sorted({"/" + re.sub(r"([*?\[\\])", r"\\\1", p) for p in paths})


# --- the audit ------------------------------------------------------------------------------


@contextmanager
def index_with(project: Path, paths: list[str]) -> Iterator[None]:
    """Point git at a copy of the index with `paths` added, while the block runs.

    The audit reads the tracked files from the index, so it then counts the new files as the
    next commit would, while the real index is untouched. GIT_INDEX_FILE is set process-wide
    for the duration.
    """
    real = Path(git(project, "rev-parse", "--path-format=absolute", "--git-path", "index"))
    saved = os.environ.get("GIT_INDEX_FILE")
    with tempfile.TemporaryDirectory(prefix="handover-adopt-index-") as tmp:
        index = Path(tmp) / "index"
        if real.is_file():
            shutil.copyfile(real, index)
        os.environ["GIT_INDEX_FILE"] = str(index)
        try:
            if paths:
                git(project, "add", "--", *paths)
            yield
        finally:
            if saved is None:
                os.environ.pop("GIT_INDEX_FILE", None)
            else:
                os.environ["GIT_INDEX_FILE"] = saved


@dataclass
class Readiness:
    """The audit's level name and the checks to fix first (or why the audit could not run)."""

    level: str | None
    missing: list[dict[str, str]]
    error: str | None = None


def readiness(project: Path) -> Readiness:
    """The offline audit's level and what to fix first: highest severity, lowest level, fails
    before partials."""
    from mlops_handover.audit.engine import audit
    from mlops_handover.audit.fixtures import AuditOptions
    from mlops_handover.audit.model import Outcome, Severity, level_name
    from mlops_handover.audit.reports import TO_FIX

    report = audit(project, AuditOptions(offline=True))
    if report.error:
        return Readiness(None, [], report.error)
    severities = list(Severity)
    to_fix = sorted(
        (r for r in report.results if r.outcome in TO_FIX),
        key=lambda r: (
            severities.index(r.check.severity),
            r.check.level,
            r.outcome is Outcome.PARTIAL,
            r.check.id(),
        ),
    )
    missing = [
        {
            "id": r.check.id(),
            "title": r.check.title(),
            "severity": r.check.severity.value,
            "outcome": r.outcome.value,
            "message": r.result.message,
        }
        for r in to_fix[:MISSING_SHOWN]
    ]
    return Readiness(level_name(report.level), missing)


# --- the command ----------------------------------------------------------------------------


@dataclass
class AdoptResult:
    """What `handover adopt` did; the CLI prints `summary()` or `to_json()`."""

    path: str
    template: str
    template_version: str
    #: name -> {"value", "from"}: answers and facts found in the repository.
    detected: dict[str, dict[str, Any]]
    #: The answers recorded in .copier-answers.yml (without Copier's `_` keys).
    answers: dict[str, Any]
    #: Answers given with --data.
    given: list[str]
    #: Answers neither given nor detected: the questions' defaults.
    assumed: list[str]
    written: list[str]
    #: [{"file", "proposal", "reason"}]: scaffold files written beside, under another name.
    proposed: list[dict[str, str]]
    #: Scaffold files the repository already has, byte for byte.
    present: list[str]
    #: New files that the repository's .gitignore hides from `git add`.
    ignored: list[str]
    level: str | None
    missing: list[dict[str, str]]
    audit_error: str | None
    seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def summary(self) -> str:
        lines = [f"Adopted {self.path} (template version {self.template_version})."]
        if self.detected:
            lines += ["", "Found in the repository:"]
            lines += [
                f"  {name} = {_short(d['value'])}  ({d['from']})"
                for name, d in self.detected.items()
            ]
        if self.given:
            lines += ["", "Given with --data:"]
            lines += [f"  {name} = {_short(self.answers.get(name))}" for name in self.given]
        if self.assumed:
            lines += ["", "Assumed, the questions' defaults (check them; see docs/adopt.md):"]
            lines += [f"  {name} = {_short(self.answers[name])}" for name in self.assumed]
        lines += ["", f"Written ({len(self.written)}, not committed):"]
        lines += [f"  {path}" for path in self.written]
        if self.proposed:
            lines += ["", f"Proposed beside ({len(self.proposed)}; no existing file was changed):"]
            lines += [f"  {p['proposal']}  ({p['file']}: {p['reason']})" for p in self.proposed]
        if self.present:
            lines += ["", f"Already there, identical: {', '.join(self.present)}"]
        if self.ignored:
            lines += ["", f"Hidden by .gitignore, so not committed: {', '.join(self.ignored)}"]
        lines.append("")
        if self.audit_error:
            lines.append(f"The audit could not run: {self.audit_error}")
        else:
            lines.append(f"Audit (offline, the new files counted as committed): {self.level}")
            lines += [
                f"  {m['id']} ({m['severity']}, {m['outcome']}) {m['title']}\n"
                f"        {_short(m['message'], 160)}"
                for m in self.missing
            ]
        lines += [
            "",
            "Next:",
            "  1. Review each proposal, merge what you want into your own file by hand, then "
            "delete the proposal.",
            "  2. Commit the new files (adopt committed nothing): git add them, only them if "
            "other changes are in progress.",
            "  3. From then on `handover update` brings template changes, and `handover audit` "
            "with `handover explain ID` says what to do next.",
        ]
        return "\n".join(lines)


def _short(value: Any, limit: int = 72) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def adopt_project(
    path: str | os.PathLike[str],
    data: Mapping[str, str],
    *,
    template: str,
    vcs_ref: str | None,
    progress: Callable[[str], None] = lambda message: None,
) -> AdoptResult:
    """Add the scaffolding to the git repository at `path`; see the module docstring."""
    started = time.monotonic()
    project = Path(path).absolute()
    require_repository(project, "adopt")
    if os.path.lexists(project / ANSWERS_FILE) or git(project, "ls-files", "--", ANSWERS_FILE):
        raise HandoverError(
            f"{project} is already linked to the template ({ANSWERS_FILE} is there): use "
            "`handover update` to bring it to the current template version.",
            2,
        )
    progress(f"Detecting what {project} has (git, DVC, MLflow, CI, package)")
    template_questions = questions(template)
    found = detect(project, template_questions)
    detected = {name: f.value for name, f in found.answers.items()}
    for name, dependents in DEPENDENT_ANSWERS.items():
        if name in data:
            for dependent in dependents:
                detected.pop(dependent, None)
    answers_in = {**detected, **data}
    with tempfile.TemporaryDirectory(prefix="handover-adopt-") as tmp:
        rendered = Path(tmp) / "scaffold"
        progress(f"Rendering the template {template} into a temporary directory")
        recorded = render(template, rendered, answers_in, vcs_ref, found)
        answers = {k: v for k, v in recorded.items() if not k.startswith("_")}
        package = str(answers.get("package_name", ""))
        placements, present = plan(rendered, project, package)
        ignored = ignored_paths(project, [p.path for p in placements])
        # A template whose questions cannot be read here (a git URL) may have it too.
        asks = ADOPT_EXCLUDE in template_questions or not template_questions
        if asks and ADOPT_EXCLUDE not in data:
            progress("Recording what the template leaves alone (adopt_exclude)")
            keep = {**answers_in, ADOPT_EXCLUDE: exclusions(package, placements, ignored)}
            recorded = render(template, Path(tmp) / "answers", keep, vcs_ref, found)
            shutil.copyfile(Path(tmp) / "answers" / ANSWERS_FILE, rendered / ANSWERS_FILE)
            answers = {k: v for k, v in recorded.items() if not k.startswith("_")}
        progress(f"Placing the scaffold into {project}")
        place(rendered, project, placements)
    progress(f"Auditing {project} (offline)")
    with index_with(project, [p.path for p in placements if p.path not in ignored]):
        ready = readiness(project)
    return AdoptResult(
        path=str(project),
        template=template,
        template_version=str(recorded.get("_commit", "")),
        detected=found.to_dict(),
        answers=answers,
        given=[name for name in answers if name in data],
        assumed=[
            name
            for name in answers
            if name not in data and name not in detected and name != ADOPT_EXCLUDE
        ],
        written=[p.path for p in placements if p.reason is None],
        proposed=[
            {"file": p.file, "proposal": p.path, "reason": p.reason}
            for p in placements
            if p.reason is not None
        ],
        present=present,
        ignored=ignored,
        level=ready.level,
        missing=ready.missing,
        audit_error=ready.error,
        seconds=round(time.monotonic() - started, 2),
    )
