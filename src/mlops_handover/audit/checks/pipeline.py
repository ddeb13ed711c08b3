"""Reproduce and retrain: the environment, the DVC pipeline and how a client reruns it.

Evidence: the tracked files (manifests, lock files, Dockerfiles, README, CI), `.dvc/config`,
`dvc.yaml` and `dvc.lock` through the `dvc` fixture (audit/dvc.py), and git for what is
ignored. Nothing here runs DVC, pip or the project's code.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_handover.audit.dvc import DvcProject, StageSpec, is_local_url
from mlops_handover.audit.fixtures import CiWorkflow, GitRepo, ProjectFiles
from mlops_handover.audit.model import (
    Check,
    Pillar,
    Result,
    Severity,
    Unavailable,
    Unreadable,
    failed,
    not_applicable,
    partial,
    passed,
    unknown,
)

# --- dependency manifests and lock files ------------------------------------------------------

_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
#: pip's comments: from a `#` at the start of a line or after a blank.
_COMMENT = re.compile(r"(^|\s)#.*")
#: A bare URL (git+https://..., file:///...), which names no project before pip fetches it.
_SCHEME_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Tools that belong in a dev/test group, not in what the model needs at run time.
DEV_TOOLS = frozenset(
    {
        "pytest", "coverage", "ruff", "flake8", "black", "mypy", "pylint", "isort",
        "pre-commit", "tox", "nox", "hypothesis", "bandit", "autopep8", "yapf", "pyright",
        "pycodestyle", "pydocstyle", "pyflakes", "codespell", "ipykernel", "jupyterlab",
        "notebook", "nbstripout", "commitizen", "bump-my-version", "twine",
    }
)  # fmt: skip
#: How many files the source scans read at most (the audit must stay fast on huge trees).
MAX_SOURCE_FILES = 3000
MAX_SOURCE_BYTES = 1 << 20

_INDEXES: weakref.WeakKeyDictionary[ProjectFiles, _Index] = weakref.WeakKeyDictionary()
_DOCKERFILE = re.compile(r"(Dockerfile|Containerfile)(\.[\w.-]+)?|[\w.-]+\.(dockerfile|Dockerfile)")


@dataclass
class _Index:
    """The file lists these checks look at, from one pass over the repository's files."""

    top: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    python: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    dockerfiles: list[str] = field(default_factory=list)
    thresholds: list[str] = field(default_factory=list)


_NOT_SOURCE_DIRS = frozenset({"test", "tests", "testing", "doc", "docs", "example", "examples"})


def _not_source(path: str, name: str) -> bool:
    """Tests, docs, examples and hidden directories: not the project's own code."""
    if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return True
    if "/" not in path:
        return False
    return any(part in _NOT_SOURCE_DIRS or part.startswith(".") for part in path.split("/")[:-1])


def _index(files: ProjectFiles) -> _Index:
    """One pass over (possibly 100,000) paths with cheap string tests, cached per audit."""
    cached = _INDEXES.get(files)
    if cached is not None:
        return cached
    index = _Index()
    for path in files:
        name = path.rsplit("/", 1)[-1]
        lower = name.lower()
        top = "/" not in path
        if top:
            index.top.append(path)
        if lower.endswith((".txt", ".lock", ".in")) and (
            (top and (lower.startswith("requirements") or lower == "constraints.txt"))
            or path.startswith("requirements/")
        ):
            index.requirements.append(path)
        if name.endswith(".py"):
            if name.startswith("test_") or name.endswith("_test.py"):
                index.tests.append(path)
            if not _not_source(path, name):
                index.python.append(path)
        elif ("ocker" in name or "ontainer" in name) and _DOCKERFILE.fullmatch(name):
            index.dockerfiles.append(path)
        if lower.endswith((".yaml", ".yml", ".json", ".toml")) and any(
            word in lower for word in ("acceptance", "threshold", "quality_gate", "quality-gate")
        ):
            index.thresholds.append(path)
    _INDEXES[files] = index
    return index


def normalize(name: str) -> str:
    """PEP 503 normalised project name."""
    from packaging.utils import canonicalize_name  # ~10 ms: on first use

    return canonicalize_name(name)


@dataclass(frozen=True)
class Requirement:
    name: str
    pinned: bool
    line: int
    text: str
    marker: bool = False


def requirement(spec: str, line: int = 0) -> Requirement | None:
    """A PEP 508 requirement string reduced to its name, whether it pins one version, and
    whether it has an environment marker; None when it is not a requirement (a comment, an
    option, a path or a bare URL). A line pip cannot read counts as not pinned."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Parsed  # ~30 ms: on first use

    text = _COMMENT.sub("", spec).strip()
    if not text or text.startswith(("-", ".", "/")) or _SCHEME_START.match(text):
        return None
    try:
        parsed = Parsed(text)
    except InvalidRequirement:
        match = _NAME.match(text)
        return Requirement(normalize(match.group(1)), False, line, text) if match else None
    specifiers = list(parsed.specifier)
    pinned = bool(parsed.url) or (
        len(specifiers) == 1
        and specifiers[0].operator in ("==", "===")
        and not specifiers[0].version.endswith("*")
    )
    return Requirement(normalize(parsed.name), pinned, line, text, parsed.marker is not None)


def parse_requirements(text: str) -> tuple[list[Requirement], list[str]]:
    """Requirements of a pip requirements file and its `-r/-c` includes (not followed)."""
    requirements, includes = [], []
    logical, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not logical:
            start = number
        line = raw.rstrip()
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        entry = re.split(r"\s--hash[=\s]", logical, maxsplit=1)[0].strip()
        logical = ""
        if entry.startswith(("-r ", "-c ", "--requirement", "--constraint")):
            includes.append(entry.split(None, 1)[-1].lstrip("=").strip())
            continue
        item = requirement(entry, start)
        if item is not None:
            requirements.append(item)
    return requirements, includes


def _tool_header(text: str) -> str | None:
    """Which tool generated a requirements file, from its header comment."""
    head = "\n".join(text.splitlines()[:6]).lower()
    if "autogenerated by uv" in head or "uv pip compile" in head or "uv export" in head:
        return "uv"
    if "pip-compile" in head or "autogenerated by pip" in head:
        return "pip-tools"
    if "poetry export" in head:
        return "poetry"
    if "pdm export" in head:
        return "pdm"
    return None


def _requirement_files(files: ProjectFiles) -> list[str]:
    return _index(files).requirements


@dataclass(frozen=True)
class LockFile:
    path: str
    tool: str
    names: frozenset[str]


def _toml_packages(files: ProjectFiles, path: str, key: str) -> frozenset[str]:
    data = files.toml(path)
    packages = data.get(key) or []
    if not isinstance(packages, list):
        raise Unreadable(f"{path}: `{key}` is not a list of packages")
    return frozenset(
        normalize(p["name"])
        for p in packages
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    )


def find_locks(files: ProjectFiles) -> tuple[list[LockFile], list[str]]:
    """Tracked lock files, and complaints about requirements files that pin only partly."""
    locks, notes = [], []
    for path, tool in (("uv.lock", "uv"), ("poetry.lock", "poetry"), ("pdm.lock", "pdm")):
        if path in files:
            locks.append(LockFile(path, tool, _toml_packages(files, path, "package")))
    for path in _index(files).top:
        if re.fullmatch(r"pylock(\.[^.]+)?\.toml", path):
            locks.append(LockFile(path, "pylock", _toml_packages(files, path, "packages")))
    if "Pipfile.lock" in files:
        try:
            data = json.loads(files.text("Pipfile.lock"))
        except ValueError as error:
            raise Unreadable(f"Pipfile.lock is not valid JSON: {error}") from None
        names = set()
        for section in ("default", "develop"):
            group = data.get(section) if isinstance(data, dict) else None
            if isinstance(group, dict):
                names.update(normalize(str(n)) for n in group)
        locks.append(LockFile("Pipfile.lock", "pipenv", frozenset(names)))
    for path in ("conda-lock.yml", "conda-lock.yaml"):
        if path in files:
            data = files.yaml(path)
            packages = data.get("package") if isinstance(data, dict) else None
            if not isinstance(packages, list):
                raise Unreadable(f"{path}: `package` is not a list")
            names = {
                normalize(str(p["name"]))
                for p in packages
                if isinstance(p, dict) and p.get("name") is not None
            }
            locks.append(LockFile(path, "conda-lock", frozenset(names)))
    for path in _requirement_files(files):
        if path.endswith(".in"):
            continue
        text = files.text(path)
        requirements, _ = parse_requirements(text)
        if not requirements:
            continue
        loose = [r for r in requirements if not r.pinned]
        if loose:
            sample = ", ".join(r.text for r in loose[:3])
            notes.append(f"{path} leaves {len(loose)} requirement(s) unpinned ({sample})")
            continue
        tool = _tool_header(text) or "pip"
        locks.append(LockFile(path, tool, frozenset(r.name for r in requirements)))
    return locks, notes


@dataclass(frozen=True)
class Manifest:
    path: str
    runtime: tuple[Requirement, ...]


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def find_manifest(files: ProjectFiles, pyproject: dict[str, Any]) -> Manifest | None:
    """The direct runtime dependencies and where they are declared."""
    project = pyproject.get("project")
    if isinstance(project, dict) and isinstance(project.get("dependencies"), list):
        reqs = [requirement(s) for s in _strings(project["dependencies"])]
        return Manifest("pyproject.toml", tuple(r for r in reqs if r))
    poetry = (
        (pyproject.get("tool") or {}).get("poetry")
        if isinstance(pyproject.get("tool"), dict)
        else None
    )
    if isinstance(poetry, dict) and isinstance(poetry.get("dependencies"), dict):
        names = [n for n in poetry["dependencies"] if isinstance(n, str) and n.lower() != "python"]
        return Manifest(
            "pyproject.toml", tuple(Requirement(normalize(n), False, 0, n) for n in names)
        )
    if "Pipfile" in files:
        data = files.toml("Pipfile")
        packages = data.get("packages") if isinstance(data.get("packages"), dict) else {}
        return Manifest(
            "Pipfile", tuple(Requirement(normalize(str(n)), False, 0, str(n)) for n in packages)
        )
    for path in _requirement_files(files):
        if path.endswith(".in") and not re.search(r"dev|test|lint|doc", path.lower()):
            requirements, _ = parse_requirements(files.text(path))
            return Manifest(path, tuple(requirements))
    return None


def _managers(files: ProjectFiles, pyproject: dict[str, Any]) -> dict[str, list[str]]:
    """Dependency managers in use -> the files that show it."""
    found: dict[str, list[str]] = {}

    def add(tool: str, path: str) -> None:
        found.setdefault(tool, []).append(path)

    for path, tool in (
        ("uv.lock", "uv"), ("poetry.lock", "poetry"), ("pdm.lock", "pdm"),
        ("Pipfile", "pipenv"), ("Pipfile.lock", "pipenv"), ("environment.yml", "conda"),
        ("environment.yaml", "conda"), ("conda-lock.yml", "conda"),
    ):  # fmt: skip
        if path in files:
            add(tool, path)
    tool_table = pyproject.get("tool") if isinstance(pyproject.get("tool"), dict) else {}
    poetry = tool_table.get("poetry")
    if isinstance(poetry, dict) and "dependencies" in poetry:
        add("poetry", "pyproject.toml [tool.poetry.dependencies]")
    for path in _requirement_files(files):
        add(_tool_header(files.text(path)) or "pip", path)
    return found


def _runtime_dev_tools(files: ProjectFiles, pyproject: dict[str, Any]) -> list[tuple[str, str]]:
    """(tool, where) for dev/test tools declared as runtime dependencies."""
    hits = []
    manifest = find_manifest(files, pyproject)
    if manifest is not None:
        hits += [(r.name, manifest.path) for r in manifest.runtime if _is_dev_tool(r.name)]
    for path in _requirement_files(files):
        name = path.rsplit("/", 1)[-1].lower()
        text = files.text(path)
        if re.search(r"dev|test|lint|doc|ci", name) or _tool_header(text) or path.endswith(".lock"):
            continue
        if manifest is not None and path == manifest.path:
            continue
        requirements, _ = parse_requirements(text)
        hits += [(r.name, path) for r in requirements if _is_dev_tool(r.name)]
    return hits


def _is_dev_tool(name: str) -> bool:
    return name in DEV_TOOLS or name.startswith(("pytest-", "flake8-", "types-", "mypy-"))


class RP101(Check):
    """Dependencies are locked in a committed lock file that matches the manifest

    Reproducing a model needs the exact versions it was trained with: a range such as
    `scikit-learn>=1.5` installs something else next month. Commit a lock file that pins every
    package, and keep it in step with the direct dependencies of `pyproject.toml`:

    - uv: `uv lock` (commit `uv.lock`), or `uv pip compile pyproject.toml -o requirements.lock`;
    - Poetry: `poetry lock` (commit `poetry.lock`); PDM: `pdm lock`;
    - pip-tools: `pip-compile -o requirements.txt pyproject.toml`.

    Regenerate the lock whenever a dependency is added to the manifest.
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.CRITICAL
    level = 1

    def check(self, files: ProjectFiles, pyproject: dict[str, Any], root: Path) -> Result:
        locks, notes = find_locks(files)
        manifest = find_manifest(files, pyproject)
        where = manifest.path if manifest else "pyproject.toml"
        if not locks:
            untracked = [
                p for p in ("uv.lock", "poetry.lock", "pdm.lock", "requirements.lock")
                if (root / p).is_file()
            ]  # fmt: skip
            detail = "; ".join(notes)
            if untracked:
                detail = "; ".join([*notes, f"{', '.join(untracked)} exist(s) but not committed"])
            return failed(
                "no lock file pins the dependencies" + (f": {detail}" if detail else ""),
                *(n.split(" ", 1)[0] for n in notes),
                locations=((where, None),),
            )
        locked = frozenset().union(*(lock.names for lock in locks))
        lock_names = ", ".join(lock.path for lock in locks)
        if manifest is None:
            return passed(
                f"{lock_names} pin(s) {len(locked)} packages (no manifest to compare with)",
                *(lock.path for lock in locks),
            )
        direct = [r for r in manifest.runtime if not r.marker]
        missing = sorted({r.name for r in direct} - locked)
        if missing:
            return failed(
                f"{lock_names} lack(s) {len(missing)} direct dependenc"
                f"{'y' if len(missing) == 1 else 'ies'} of {manifest.path}: "
                f"{', '.join(missing[:8])}; regenerate the lock",
                manifest.path,
                *(lock.path for lock in locks),
                locations=((locks[0].path, None),),
            )
        return passed(
            f"{lock_names} pin(s) all {len(direct)} direct dependencies of {manifest.path}",
            manifest.path,
            *(lock.path for lock in locks),
        )


class RP102(Check):
    """One dependency manager, with development tools kept out of the runtime dependencies

    Two managers (say `poetry.lock` next to a hand-written `requirements.txt`) drift apart, and
    nobody knows which one production uses. Test and lint tools among the runtime
    dependencies end up in every deployment. Keep one source of truth and put pytest, ruff,
    mypy and friends in a dev group: `[project.optional-dependencies] dev = [...]` or
    `[dependency-groups] dev = [...]` (uv: `uv add --dev pytest`; Poetry: `poetry add --group
    dev pytest`). A requirements file generated by the same tool (for example `uv export`) is
    fine.
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.LOW
    level = 1

    def check(self, files: ProjectFiles, pyproject: dict[str, Any]) -> Result:
        managers = _managers(files, pyproject)
        manifest = find_manifest(files, pyproject)
        if not managers and manifest is None:
            return not_applicable("no dependency manifest or lock file found (see RP101)")
        problems, locations = [], []
        if len(managers) > 1:
            listed = "; ".join(f"{tool}: {', '.join(paths)}" for tool, paths in managers.items())
            problems.append(f"{len(managers)} dependency managers ({listed})")
            locations += [(paths[0].split(" ")[0], None) for paths in managers.values()]
        dev = _runtime_dev_tools(files, pyproject)
        if dev:
            tools = ", ".join(sorted({f"{name} ({path})" for name, path in dev}))
            problems.append(f"development tools among the runtime dependencies: {tools}")
            locations += [(path, None) for _, path in dev[:1]]
        evidence = sorted({p.split(" ")[0] for paths in managers.values() for p in paths})
        if manifest is not None and manifest.path not in evidence:
            evidence.insert(0, manifest.path)
        if not problems:
            tool = next(iter(managers), "pip")
            return passed(
                f"one dependency manager ({tool}); no development tool among the runtime "
                "dependencies",
                *evidence,
            )
        if len(problems) == 1:
            return partial(0.5, problems[0], *evidence, locations=tuple(locations))
        return failed("; ".join(problems), *evidence, locations=tuple(locations))


# --- Python version and images ----------------------------------------------------------------

_VERSION = re.compile(r"\b3\.\d{1,2}\b|\b3\b")


def _find_key(data: Any, key: str, budget: int = 20_000) -> list[Any]:
    """Every value of `key` anywhere in nested YAML data (aliases visited once, bounded)."""
    found, stack, seen = [], [data], set()
    while stack and budget > 0:
        budget -= 1
        item = stack.pop()
        if not isinstance(item, (dict, list)) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            found += [v for k, v in item.items() if k == key]
            stack.extend(item.values())
        else:
            stack.extend(item)
    return found


def _dockerfiles(files: ProjectFiles) -> list[str]:
    return _index(files).dockerfiles[:50]


def docker_from_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line, image, pinned by digest) for every FROM of a Dockerfile."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    result = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.strip().split()
        if not words or words[0].startswith("#"):
            continue
        instruction = words[0].upper()
        if instruction == "ARG" and len(words) > 1 and not result:
            name, _, default = words[1].partition("=")
            args[name] = default.strip("\"'")
        elif instruction == "FROM":
            rest = [w for w in words[1:] if not w.startswith("--")]
            if not rest:
                continue
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), rest[0])
            alias = rest[2].lower() if len(rest) >= 3 and rest[1].lower() == "as" else None
            pinned = (
                image.lower() == "scratch"
                or image.lower() in stages
                or bool(re.search(r"@sha256:[0-9a-f]{64}$", image))
            )
            result.append((number, image, pinned))
            if alias:
                stages.add(alias)
    return result


class RP103(Check):
    """The Python version is pinned, and container images by digest

    A model trained under Python 3.11 may not load under 3.13. Name the version: `requires-python`
    in `pyproject.toml`, a `.python-version` file (`uv python pin 3.11`, pyenv), or the
    `python-version` CI sets up. A Dockerfile's `FROM python:3.11` tag moves when the image
    is rebuilt; pin it by digest, `FROM python:3.11-slim@sha256:<digest>` (`docker buildx
    imagetools inspect python:3.11-slim` prints it), and let Dependabot or Renovate update it.
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.MEDIUM
    level = 1

    def check(self, files: ProjectFiles, pyproject: dict[str, Any]) -> Result:
        sources = []
        project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else {}
        if isinstance(project.get("requires-python"), str) and _VERSION.search(
            project["requires-python"]
        ):
            sources.append(f"pyproject.toml requires-python {project['requires-python']}")
        poetry = (
            (pyproject.get("tool") or {}).get("poetry")
            if isinstance(pyproject.get("tool"), dict)
            else None
        )
        if isinstance(poetry, dict) and isinstance(poetry.get("dependencies"), dict):
            python = poetry["dependencies"].get("python")
            if isinstance(python, str) and _VERSION.search(python):
                sources.append(f"pyproject.toml [tool.poetry.dependencies] python {python}")
        for path in (".python-version", "runtime.txt"):
            text = files.read(path)
            if text and _VERSION.search(text):
                sources.append(f"{path} {text.strip().splitlines()[0]}")
        for path in files.under(".github/workflows"):
            if path.count("/") != 2 or not path.endswith((".yml", ".yaml")):
                continue
            try:
                data = files.yaml(path)
            except Unavailable:
                continue
            values = _find_key(data, "python-version")
            if any(_VERSION.search(str(v)) for v in values):
                sources.append(f"{path} python-version")
        if ".gitlab-ci.yml" in files:
            try:
                images = _find_key(files.yaml(".gitlab-ci.yml"), "image")
            except Unavailable:
                images = []
            if any(re.search(r"python:3\.\d+", str(i)) for i in images):
                sources.append(".gitlab-ci.yml image python:3.x")
        froms = []
        for path in _dockerfiles(files):
            for line, image, pinned in docker_from_lines(files.text(path)):
                froms.append((path, line, image, pinned))
                if re.search(r"python:3\.\d+", image):
                    sources.append(f"{path} FROM {image}")
        evidence = sorted({s.split(" ")[0] for s in sources} | {f[0] for f in froms})
        python_ok = bool(sources)
        python_msg = (
            f"Python pinned by {sources[0]}" if python_ok else "the Python version is not pinned"
        )
        unpinned = [f for f in froms if not f[3]]
        locations = [(path, line) for path, line, _, _ in unpinned]
        if not python_ok:
            locations.insert(0, ("pyproject.toml", None))
        if not froms:
            if python_ok:
                return passed(python_msg, *evidence)
            return failed(
                "the Python version is not pinned (no requires-python, .python-version or CI "
                "python-version)",
                locations=tuple(locations),
            )
        image_msg = (
            f"{len(froms) - len(unpinned)} of {len(froms)} FROM image(s) pinned by digest"
            + (f" ({', '.join(f[2] for f in unpinned[:3])} not)" if unpinned else "")
        )
        score = (float(python_ok) + (len(froms) - len(unpinned)) / len(froms)) / 2
        message = f"{python_msg}; {image_msg}"
        if score >= 1:
            return passed(message, *evidence)
        if score <= 0:
            return failed(message, *evidence, locations=tuple(locations))
        return partial(score, message, *evidence, locations=tuple(locations))


# --- DVC --------------------------------------------------------------------------------------


class RP104(Check):
    """DVC is set up and its configuration is committed, its cache kept out of git

    A fresh clone needs `.dvc/config` to find the data, and `.dvc/cache` must stay out of git
    (it holds every version of every data file). Fix: `dvc init` (it writes `.dvc/.gitignore`
    with `/cache`), then `git add .dvc/config .dvc/.gitignore .dvcignore`; if cache files were
    committed, `git rm -r --cached .dvc/cache`.
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.HIGH
    level = 1

    def check(self, files: ProjectFiles, git: GitRepo) -> Result:
        if ".dvc/config" not in files:
            hint = (
                " (.dvc/config exists but is not committed)"
                if (git.root / ".dvc" / "config").is_file()
                else ""
            )
            return failed(
                f"no .dvc/config is tracked{hint}: DVC is not set up for a fresh clone",
                locations=((".dvc/config", None),),
            )
        cached = files.under(".dvc/cache")
        if cached:
            return failed(
                f"{len(cached)} file(s) of .dvc/cache are committed to git (e.g. {cached[0]})",
                ".dvc/config",
                locations=((cached[0], None),),
            )
        if not git.ignored([".dvc/cache", ".dvc/cache/files"]):
            return failed(
                ".dvc/cache is not git-ignored: add `/cache` to .dvc/.gitignore",
                ".dvc/config",
                locations=((".dvc/.gitignore", None),),
            )
        return passed(".dvc/config is tracked and .dvc/cache is git-ignored", ".dvc/config")


_TRAIN = re.compile(r"train|fit|learn", re.IGNORECASE)
_EVAL = re.compile(r"eval|test|score|validat|assess|benchmark", re.IGNORECASE)


def _cmd_text(spec: StageSpec) -> str:
    cmd = spec.cmd
    return " ".join(map(str, cmd)) if isinstance(cmd, list) else str(cmd or "")


def training_stages(dvc: DvcProject) -> list[StageSpec]:
    by_name = [s for s in dvc.specs.values() if _TRAIN.search(s.name)]
    return by_name or [s for s in dvc.specs.values() if _TRAIN.search(_cmd_text(s))]


def evaluation_stages(dvc: DvcProject) -> list[StageSpec]:
    by_name = [s for s in dvc.specs.values() if _EVAL.search(s.name)]
    return by_name or [
        s
        for s in dvc.specs.values()
        if _EVAL.search(_cmd_text(s)) or any(o.kind == "metric" for o in s.outs)
    ]


class RP105(Check):
    """The pipeline is declared in dvc.yaml, with training and evaluation, and locked

    `dvc.yaml` says how data becomes a model (stages with `cmd`, `deps`, `params`, `outs`) and
    `dvc.lock` records the exact hashes of the last run, so a client can rerun it and see what
    changed. Declare at least a training and an evaluation stage (`dvc stage add -n train ...`),
    run `dvc repro`, and commit `dvc.lock` with the change it belongs to.
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.HIGH
    level = 1

    def check(self, dvc: DvcProject, root: Path) -> Result:
        if "dvc.yaml" not in dvc.files:
            return failed(
                "no dvc.yaml: the pipeline is not declared", locations=(("dvc.yaml", None),)
            )
        specs = dvc.specs
        if not specs:
            return failed(
                "dvc.yaml declares no stages", "dvc.yaml", locations=(("dvc.yaml", None),)
            )
        names = ", ".join(specs)
        train, evaluate = training_stages(dvc), evaluation_stages(dvc)
        missing = [
            what for what, found in (("training", train), ("evaluation", evaluate)) if not found
        ]
        problems = []
        if missing:
            problems.append(f"no {' or '.join(missing)} stage among {names}")
        if dvc.lock is None:
            # Declared but never run: rebuildable, but nothing records what the last run was.
            untracked = " (it exists but is not committed)" if (root / "dvc.lock").is_file() else ""
            unlocked = list(specs)
            problems.append(
                f"dvc.yaml declares {len(specs)} stage(s) ({names}) but no dvc.lock is "
                f"committed{untracked}: run `dvc repro` and commit dvc.lock"
            )
        else:
            unlocked = [name for name in specs if not dvc.lock_entries(name)]
            if unlocked:
                problems.append(f"dvc.lock lacks {len(unlocked)} stage(s): {', '.join(unlocked)}")
        if not problems:
            return passed(
                f"dvc.yaml declares {len(specs)} stages ({names}), training "
                f"({train[0].name}) and evaluation ({evaluate[0].name}); dvc.lock covers all",
                "dvc.yaml",
                "dvc.lock",
            )
        score = ((len(specs) - len(unlocked)) / len(specs) + bool(train) + bool(evaluate)) / 3
        return partial(
            score, "; ".join(problems), "dvc.yaml", "dvc.lock",
            locations=(("dvc.yaml", None),) if missing else (("dvc.lock", None),),
        )  # fmt: skip


class RP106(Check):
    """dvc.lock matches the code, parameters and data in the repository

    A `dvc.lock` that no longer matches the working tree means the committed metrics and model
    came from other code or parameters than the ones a client checks out. The audit compares
    them from files alone, as `dvc status` would: each stage's command, the md5 of every
    dependency and output present (directories as DVC's `.dir` hash), and every parameter's
    value. Outputs that are not in the workspace (not pulled) are not compared. Fix: `dvc repro`,
    then commit `dvc.lock` (and `dvc push` the outputs); `dvc status` lists what changed.
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.MEDIUM
    level = 1

    def check(self, dvc: DvcProject) -> Result:
        if dvc.lock is None:
            if "dvc.yaml" in dvc.files:
                return not_applicable(
                    "no dvc.lock is committed, so there is nothing to compare (see RP105)"
                )
            return not_applicable("no DVC pipeline (dvc.yaml, dvc.lock)")
        if "dvc.yaml" not in dvc.files:
            return failed(
                "dvc.lock is committed without a dvc.yaml", "dvc.lock",
                locations=(("dvc.yaml", None),),
            )  # fmt: skip
        status = dvc.lock_status()
        notes = []
        if status.absent_outputs:
            notes.append(
                f"{len(status.absent_outputs)} output(s) not in the workspace, not compared "
                f"({', '.join(status.absent_outputs[:3])}; `dvc pull` fetches them)"
            )
        if status.absent_dependencies:
            count = len(status.absent_dependencies)
            notes.append(
                f"{count} dependenc{'y' if count == 1 else 'ies'} not in the workspace, checked "
                "against the .dvc file or the stage producing them"
            )
        notes += status.notes[:4]
        suffix = f"; {'; '.join(notes)}" if notes else ""
        if status.changes:
            shown = "; ".join(str(c) for c in status.changes[:6])
            more = f" and {len(status.changes) - 6} more" if len(status.changes) > 6 else ""
            locations = tuple(
                dict.fromkeys(
                    (c.target.split(":", 1)[0] if c.target else "dvc.yaml", None)
                    for c in status.changes[:10]
                )
            )
            return failed(
                f"dvc.lock is out of date: {shown}{more}; run `dvc repro` and commit dvc.lock"
                + suffix,
                "dvc.yaml",
                "dvc.lock",
                locations=locations,
            )
        if status.compared == 0:
            return unknown("nothing in dvc.lock could be compared with the workspace" + suffix)
        return passed(
            f"dvc.lock matches dvc.yaml and the workspace ({status.compared} entries compared)"
            + suffix,
            "dvc.yaml",
            "dvc.lock",
        )


class RP107(Check):
    """A default DVC remote is configured in the committed .dvc/config

    Without a default remote (`core.remote`) in the committed config, a fresh clone cannot
    `dvc pull` the data and models. A remote that is a local directory only serves the machine
    it is on. Fix: `dvc remote add -d storage s3://<client-bucket>/<prefix>` (or gs://, azure://,
    ssh://), commit `.dvc/config`, and `dvc push`. Credentials go to `.dvc/config.local`
    (`dvc remote modify --local ...`), never to `.dvc/config`.
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.CRITICAL
    level = 1

    def check(self, dvc: DvcProject) -> Result:
        if dvc.config is None:
            return failed(
                "no committed .dvc/config, so no DVC remote", locations=((".dvc/config", None),)
            )
        name = dvc.default_remote
        if name is None:
            try:
                local_default = dvc.local_default_remote
            except Unavailable:
                local_default = None
            where = (
                f" (core.remote = {local_default} is set only in the uncommitted .dvc/config.local)"
                if local_default
                else ""
            )
            defined = f"; remotes defined: {', '.join(dvc.remotes)}" if dvc.remotes else ""
            return failed(
                f"no default DVC remote (core.remote) in .dvc/config{where}{defined}",
                ".dvc/config",
                locations=((".dvc/config", None),),
            )
        url = dvc.remotes.get(name)
        if url is None:
            return failed(
                f"core.remote names '{name}', but .dvc/config defines no such remote with a url",
                ".dvc/config",
                locations=((".dvc/config", None),),
            )
        if is_local_url(url):
            return partial(
                0.5,
                f"the default DVC remote '{name}' is a local directory ({url}): one machine only; "
                "move it to the client's shared storage",
                ".dvc/config",
                locations=((".dvc/config", None),),
            )
        return passed(f"default DVC remote '{name}': {url}", ".dvc/config")


# --- documentation and CI ---------------------------------------------------------------------

_PIPELINE_RUN = re.compile(r"\bdvc\s+(repro|exp\s+run)\b")
_OTHER_REPRODUCE = re.compile(
    r"\b(make\s+(reproduce|repro|pipeline)|just\s+(reproduce|repro|pipeline)|kedro\s+run|"
    r"snakemake\b[^\n`]*|nox\s+-s\s+reproduce|tox\s+-e\s+reproduce)"
)


def _readme(files: ProjectFiles) -> str | None:
    for path in _index(files).top:
        if re.fullmatch(r"readme(\.(md|rst|txt|markdown))?", path.lower()):
            return path
    return None


def reproduce_command(text: str) -> str | None:
    """The reproduce command a README names: `dvc repro`, or another documented one."""
    match = _PIPELINE_RUN.search(text)
    if match:
        return " ".join(match.group(0).split())
    match = _OTHER_REPRODUCE.search(text)
    if match:
        return " ".join(match.group(0).split())
    return None


def _runs_pipeline(command: str, readme_command: str | None) -> bool:
    if _PIPELINE_RUN.search(command):
        return True
    return bool(readme_command) and readme_command in " ".join(command.split())


class RP109(Check):
    """Reproduction is documented in the README and run by CI

    A client reproduces the model from the README, and CI proves the instructions still work.
    Name the command in the README (`dvc repro`, or your pipeline's command) and run it in a
    CI workflow (for example a job that runs `dvc pull` and `dvc repro` on pushes to main or on
    demand).
    """

    pillar = Pillar.REPRODUCE
    severity = Severity.HIGH
    level = 1

    def check(self, files: ProjectFiles, ci: tuple[CiWorkflow, ...]) -> Result:
        readme = _readme(files)
        command = None
        documented_in = None
        for path in [readme, "docs/runbook.md", "RUNBOOK.md"]:
            if path and path in files:
                command = reproduce_command(files.text(path))
                if command:
                    documented_in = path
                    break
        runs = [
            (workflow.path, job.name)
            for workflow in ci
            for job in workflow.jobs
            if any(_runs_pipeline(c, command) for c in job.commands)
        ]
        evidence = [p for p in (documented_in or readme,) if p] + [w.path for w in ci]
        doc_msg = (
            f"{documented_in} documents `{command}`"
            if command
            else f"{readme or 'no README'} names no reproduce command (such as `dvc repro`)"
        )
        ci_msg = (
            f"{runs[0][0]} job {runs[0][1]} runs the pipeline"
            if runs
            else ("no CI workflow runs the pipeline" if ci else "no CI workflow")
        )
        message = f"{doc_msg}; {ci_msg}"
        locations = []
        if not command:
            locations.append((readme or "README.md", None))
        if not runs:
            locations.append((ci[0].path if ci else ".github/workflows", None))
        if command and runs:
            return passed(message, *evidence)
        if command or runs:
            return partial(0.5, message, *evidence, locations=tuple(locations))
        return failed(message, *evidence, locations=tuple(locations))


# --- Retrain ----------------------------------------------------------------------------------

_ABSOLUTE = re.compile(
    r"""(?<![\w.])[rRbBuUfF]{0,2}(["'])(/home/|/Users/|[A-Za-z]:(?:\\\\|\\|/))"""
)


def source_files(files: ProjectFiles, prefer_src: bool = True) -> list[str]:
    """The project's own Python files (src/ when it has any), not tests or docs."""
    python = _index(files).python
    if prefer_src:
        under_src = [p for p in python if p.startswith("src/")]
        if under_src:
            python = under_src
    return python[:MAX_SOURCE_FILES]


def _read_source(files: ProjectFiles, path: str) -> str | None:
    """The source's text; None when it is absent or over MAX_SOURCE_BYTES (generated code).
    Unreadable propagates: a source the audit cannot read may hide what a check looks for."""
    try:
        if (files.root / path).stat().st_size > MAX_SOURCE_BYTES:
            return None
    except OSError:
        pass  # absent or not allowed: files.text says which
    try:
        return files.text(path)
    except Unreadable:
        raise
    except Unavailable:
        return None


class RT201(Check):
    """Training is configured by parameters, without absolute paths in the code

    A client retrains with new settings by editing `params.yaml`, not the code: the training
    stage in `dvc.yaml` declares its `params:` (for example `params: [train]`), so DVC tracks
    them and `dvc exp run -S train.C=0.5` tries a variant. Paths such as `/home/alice/data.csv`
    or `C:\\Users\\...` only exist on the vendor's machine: use paths relative to the repository
    root, or read them from params.yaml.
    """

    pillar = Pillar.RETRAIN
    severity = Severity.MEDIUM
    level = 2

    def check(self, dvc: DvcProject, files: ProjectFiles) -> Result:
        train = training_stages(dvc)
        with_params = [s for s in train if s.params]
        if with_params:
            keys = [k for f, ks in with_params[0].params.items() for k in (ks or (f,))]
            params_msg = f"stage {with_params[0].name} declares params ({', '.join(keys[:5])})"
        elif train:
            params_msg = f"stage {train[0].name} declares no params"
        else:
            params_msg = "no training stage in dvc.yaml" if dvc.specs else "no dvc.yaml stages"
        hits = []
        sources = source_files(files)
        for path in sources:
            text = _read_source(files, path)
            if text is None:
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if _ABSOLUTE.search(line) and not line.lstrip().startswith("#"):
                    hits.append((path, number))
        shown = ", ".join(f"{p}:{n}" for p, n in hits[:3])
        paths_msg = (
            f"{len(hits)} absolute path(s) in the code ({shown})"
            if hits
            else f"no absolute paths in {len(sources)} source file(s)"
        )
        message = f"{params_msg}; {paths_msg}"
        evidence = ["dvc.yaml"] if dvc.specs else []
        locations = tuple(hits[:20])
        if not with_params:
            locations = (("dvc.yaml", None), *locations)
        score = (bool(with_params) + (not hits)) / 2
        if score == 1:
            return passed(message, *evidence)
        if score == 0:
            return failed(message, *evidence, locations=locations)
        return partial(score, message, *evidence, locations=locations)


_MLFLOW_IMPORT = re.compile(
    r"^\s*(import\s+mlflow\b|from\s+mlflow(\.\w+)*\s+import\b)", re.MULTILINE
)
_MLFLOW_LOG = re.compile(
    r"\bmlflow\.(\w+\.)?(log_\w+|autolog|start_run|register_model)\s*\(|"
    r"(?<![\w.])(log_metrics?|log_params?|log_model|log_input|autolog)\s*\("
)
_HARDCODED = re.compile(
    r"""set_tracking_uri\s*\(\s*(?:uri\s*=\s*)?[rRuU]?(["'])|"""
    r"""environ\s*\[\s*["']MLFLOW_TRACKING_URI["']\s*\]\s*=\s*[rRuU]?["']|"""
    r"""set_tracking_uri\s*\(\s*[fF][rR]?(["'])[^"'\n{]*://[^"'\n{]"""
)
_OTHER_TRACKERS = re.compile(
    r"^\s*(import|from)\s+(wandb|neptune|comet_ml|clearml|aim)\b", re.MULTILINE
)


class RT202(Check):
    """Experiments are tracked in MLflow, with the tracking URI from the environment or config

    Every training run should log its parameters, metrics and model (`mlflow.log_params`,
    `mlflow.log_metrics`, `mlflow.<flavor>.log_model`) so the client can compare runs and
    trace the model. The tracking server must be configurable without editing code: read
    `MLFLOW_TRACKING_URI` (MLflow does so by itself) or a config value such as
    `params.yaml: mlflow.tracking_uri`. A literal `mlflow.set_tracking_uri("https://...")`
    ties the code to one (often the vendor's) server.
    """

    pillar = Pillar.RETRAIN
    severity = Severity.HIGH
    level = 2

    def check(self, files: ProjectFiles) -> Result:
        importing, logging, hardcoded, others = [], [], [], []
        for path in source_files(files, prefer_src=False):
            text = _read_source(files, path)
            if text is None:
                continue
            if _MLFLOW_IMPORT.search(text):
                importing.append(path)
                if _MLFLOW_LOG.search(text):
                    logging.append(path)
            elif _OTHER_TRACKERS.search(text):
                others.append(path)
            for match in _HARDCODED.finditer(text):
                hardcoded.append((path, text.count("\n", 0, match.start()) + 1))
        if hardcoded:
            where = ", ".join(f"{p}:{n}" for p, n in hardcoded[:3])
            return failed(
                f"the MLflow tracking URI is hard-coded as a literal ({where}); read it from "
                "MLFLOW_TRACKING_URI or a config file",
                *sorted({p for p, _ in hardcoded}),
                locations=tuple(hardcoded[:20]),
            )
        if logging:
            return passed(
                f"{len(logging)} file(s) log to MLflow ({', '.join(logging[:3])}); the tracking "
                "URI is not hard-coded",
                *logging[:10],
            )
        if importing:
            return partial(
                0.5,
                f"{', '.join(importing[:3])} import(s) mlflow but no run logs parameters, "
                "metrics or models",
                *importing[:10],
                locations=tuple((p, None) for p in importing[:5]),
            )
        if others:
            return partial(
                0.5,
                f"experiments are tracked with another tool ({', '.join(others[:3])}); the audit "
                "reads MLflow only",
                *others[:10],
            )
        return failed("no code logs experiments to MLflow", locations=(("src", None),))


def _threshold_files(files: ProjectFiles) -> list[str]:
    found = [p for p in _index(files).thresholds if not p.startswith(".github/")]
    if "params.yaml" in files:
        try:
            data = files.yaml("params.yaml")
        except Unavailable:
            data = None
        if (
            _find_key(data, "threshold")
            or _find_key(data, "thresholds")
            or _find_key(data, "acceptance")
        ):
            found.append("params.yaml")
    return found


#: Events that run CI on a proposed change, before it merges.
_CHANGE_TRIGGERS = frozenset(
    {"pull_request", "pull_request_target", "merge_request", "merge_group"}
)
_TEST_RUN = re.compile(r"\b(pytest|py\.test|tox|nox)\b")
_PIPELINE_RUN = re.compile(r"\bdvc\s+(repro|exp\s+run)\b")
#: GitHub `if:` conditions that only say when a failure stops the job: the step still runs.
_STATUS_ONLY = re.compile(r"^\s*(\$\{\{\s*)?(always|success|!\s*cancelled)\(\)(\s*\}\})?\s*$")


def _runs_on_changes(workflow: CiWorkflow) -> bool:
    """Whether the workflow runs on pull (merge) requests; GitLab without `workflow:` rules runs
    a pipeline for every push to every branch."""
    if workflow.triggers & _CHANGE_TRIGGERS:
        return True
    data = workflow.data
    return workflow.provider == "gitlab" and isinstance(data, dict) and "workflow" not in data


def _skippable(spec: dict[str, Any]) -> bool:
    """A GitHub job or step that runs only under a condition, or whose failure is ignored."""
    ignored = spec.get("continue-on-error", False)
    condition = spec.get("if")
    return (ignored is not False and str(ignored).lower() != "false") or (
        condition is not None and not _STATUS_ONLY.match(str(condition))
    )


def _binding_commands(workflow: CiWorkflow) -> str:
    """The shell lines that run on every run of the workflow and fail it when they fail: not
    those of a GitHub job or step with an `if:` (other than a status check) or
    `continue-on-error`, nor of a GitLab job with `allow_failure` or `when: manual` (the
    generated GitLab pipeline job exits 77, allowed to fail, when it cannot reach the data)."""
    data = workflow.data if isinstance(workflow.data, dict) else {}
    lines: list[str] = []
    if workflow.provider == "gitlab":
        for job in workflow.jobs:
            spec = data.get(job.name)
            spec = spec if isinstance(spec, dict) else {}
            if not spec.get("allow_failure") and spec.get("when") != "manual":
                lines += job.commands
        return "\n".join(lines)
    jobs = data.get("jobs")
    for job in (jobs if isinstance(jobs, dict) else {}).values():
        if not isinstance(job, dict) or _skippable(job):
            continue
        steps = job.get("steps")
        for step in steps if isinstance(steps, list) else []:
            if isinstance(step, dict) and "run" in step and not _skippable(step):
                lines.append(str(step["run"]))
    return "\n".join(lines)


def _names_in_code(files: ProjectFiles, path: str, names: list[str]) -> bool:
    """Whether a Python file names one of `names` outside its comments: a test that mentions
    the bar in a comment does not enforce it. The whole text counts when it does not tokenize."""
    text = _read_source(files, path) or ""
    if not any(name in text for name in names):
        return False
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, ValueError):
        return True
    code = " ".join(token.string for token in tokens if token.type != tokenize.COMMENT)
    return any(name in code for name in names)


def _pre_commit_gate(files: ProjectFiles) -> str | None:
    """The id of a pre-commit hook that runs the tests, if any."""
    path = ".pre-commit-config.yaml"
    if path not in files:
        return None
    try:
        config = files.yaml(path)
    except Unreadable:
        raise
    except Unavailable:
        return None
    repos = config.get("repos") if isinstance(config, dict) else None
    for repo in repos if isinstance(repos, list) else []:
        hooks = repo.get("hooks") if isinstance(repo, dict) else None
        for hook in hooks if isinstance(hooks, list) else []:
            if isinstance(hook, dict) and _TEST_RUN.search(str(hook.get("entry", ""))):
                return str(hook.get("id", "?"))
    return None


class RT204(Check):
    """A client-owned quality gate, run by CI on every pull request

    A retrained model should only replace the champion when it meets the client's bar on the
    client's evaluation data, and a change that breaks the model should not merge. Let the
    evaluation stage write metrics (`metrics:` in dvc.yaml), keep the bar in a file the client
    owns (for example `evaluation/acceptance.yaml` with metric, direction and threshold), and
    enforce it: the evaluation stage reads the file (list it under `params:` or `deps:`) and
    fails below the bar, or a test that names the file does. CI must run the gate on every pull
    request, not only when it can reach the data: a test that trains on a small fixture and
    asserts the bar, run by an unconditional `pytest` step, or `dvc repro` in a step without an
    `if:` or `allow_failure`. Without CI, a pre-commit hook that runs the tests counts.
    """

    pillar = Pillar.RETRAIN
    severity = Severity.HIGH
    level = 2

    def check(self, dvc: DvcProject, files: ProjectFiles, ci: tuple[CiWorkflow, ...]) -> Result:
        writing = [s for s in dvc.specs.values() if any(o.kind == "metric" for o in s.outs)]
        thresholds = _threshold_files(files)
        names = [path.rsplit("/", 1)[-1] for path in thresholds]
        stages = [
            f"stage {spec.name}"
            for path in thresholds
            for spec in dvc.specs.values()
            if path in spec.deps or path in spec.params
        ]
        tests = [
            test
            for test in _index(files).tests[:MAX_SOURCE_FILES]
            if names and _names_in_code(files, test, names)
        ]
        in_ci = {w.path: _binding_commands(w) for w in ci if _runs_on_changes(w)}
        on_changes = [
            path
            for path, commands in in_ci.items()
            if any(name in commands for name in names)
            or (tests and _TEST_RUN.search(commands))
            or (stages and _PIPELINE_RUN.search(commands))
        ]
        steps = [w.path for w in ci if any(name in c for name in names for c in w.commands)]
        enforced_by = list(dict.fromkeys(stages + steps + tests))
        evaluating = [s for s in writing if s in evaluation_stages(dvc)]
        writing = evaluating or writing
        parts = [
            f"stage {writing[0].name} writes metrics"
            if writing
            else "no dvc.yaml stage writes metrics",
            f"the bar is in {', '.join(thresholds[:3])}"
            if thresholds
            else "no threshold file (such as evaluation/acceptance.yaml)",
            f"enforced by {', '.join(enforced_by)}" if enforced_by else "nothing enforces the bar",
        ]
        score = (bool(writing) + bool(thresholds) + bool(enforced_by)) / 3
        evidence = (["dvc.yaml"] if dvc.specs else []) + thresholds[:3]
        if score == 1:
            hook = _pre_commit_gate(files) if tests and not ci else None
            if on_changes:
                parts.append(f"run on every pull request by {', '.join(on_changes)}")
                return passed("; ".join(parts), *evidence, *on_changes)
            if hook:
                parts.append(f"no CI, and the pre-commit hook {hook} runs it on every commit")
                return passed("; ".join(parts), *evidence, ".pre-commit-config.yaml")
            parts.append(
                f"but CI does not run it on pull requests ({', '.join(w.path for w in ci)})"
                if ci
                else "but no CI runs it on pull requests"
            )
            parts.append(
                "run a test that asserts the bar on a fixture in an unconditional pytest step"
            )
            where = ci[0].path if ci else ".github/workflows/ci.yml"
            return failed("; ".join(parts), *evidence, locations=((where, None),))
        message = "; ".join(parts)
        locations = (
            (
                "dvc.yaml" if not writing else (thresholds or ["evaluation/acceptance.yaml"])[0],
                None,
            ),
        )
        if score == 0:
            return failed(message, *evidence, locations=locations)
        return partial(score, message, *evidence, locations=locations)


#: Triggers that start a workflow without a code change, and how to say them.
_MANUAL = {
    "workflow_dispatch": "workflow_dispatch (on demand)",
    "schedule": "a schedule",
    "repository_dispatch": "repository_dispatch",
    "manual": "a manual run (web)",
    "api": "the API",
    "trigger": "a trigger token",
}


def _triggerable(workflow: CiWorkflow) -> list[str]:
    triggers = sorted(workflow.triggers & set(_MANUAL))
    if (
        workflow.provider == "gitlab"
        and isinstance(workflow.data, dict)
        and "workflow" not in workflow.data
    ):
        triggers = sorted({*triggers, "schedule", "manual"})
    return triggers


class RT205(Check):
    """Retraining can be triggered: a scheduled or on-demand CI workflow runs the pipeline

    The client retrains without the vendor's laptop: a workflow that runs `dvc repro` (or
    `dvc exp run`) and can be started on demand or on a schedule. GitHub: add
    `workflow_dispatch:` (and `schedule:` with a cron) to the workflow's `on:`; GitLab: allow
    `$CI_PIPELINE_SOURCE == "web"` or `"schedule"` in `workflow: rules` and create a pipeline
    schedule.
    """

    pillar = Pillar.RETRAIN
    severity = Severity.MEDIUM
    level = 2

    def check(self, ci: tuple[CiWorkflow, ...], files: ProjectFiles) -> Result:
        if not ci:
            return failed(
                "no CI workflow, so retraining cannot be triggered",
                locations=((".github/workflows", None),),
            )
        command = None
        readme = _readme(files)
        if readme:
            command = reproduce_command(files.text(readme))
        running = [w for w in ci if any(_runs_pipeline(c, command) for c in w.commands)]
        for workflow in running:
            triggers = _triggerable(workflow)
            if triggers:
                return passed(
                    f"{workflow.path} runs the pipeline and can be started by "
                    f"{' or '.join(_MANUAL[t] for t in triggers)}",
                    workflow.path,
                )
        if running:
            return partial(
                0.5,
                f"{running[0].path} runs the pipeline but only on "
                f"{', '.join(sorted(running[0].triggers)) or 'no trigger'}: add workflow_dispatch "
                "or a schedule",
                *(w.path for w in running),
                locations=((running[0].path, None),),
            )
        return failed(
            f"none of {len(ci)} CI workflow(s) runs the pipeline (dvc repro)",
            *(w.path for w in ci),
            locations=((ci[0].path, None),),
        )
