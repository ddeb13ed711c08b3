"""`handover doctor`: is this clone ready for work? One line per item, each with its fix.

A client engineer's first hour on a received repository goes to things the repository cannot
say by itself: the wrong Python, an environment that drifted from the lock, a DVC remote that
names a folder of the vendor's machine, data never pulled, an MLflow store that is empty because
the history was not imported, a tracking server that refuses the login. The doctor checks each
in seconds, without training anything and without changing a file, and names the command that
fixes it. It reads the MLflow store with the audit's reader (no MLflow import) and asks a
tracking server the three questions of `tracking_server.check`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from mlops_handover import tracking_server
from mlops_handover.audit.mlflow_store import BUNDLE, CHAMPION, open_store
from mlops_handover.audit.model import Missing, Unavailable
from mlops_handover.card import load_params, tracking_target
from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import run_git

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
#: How long a cloud remote may take to say whether it holds the storage.
REMOTE_TIMEOUT = 20.0
LOCK_FILE = "requirements.lock"


@dataclass(frozen=True)
class Finding:
    """One item of the check: what was found and, when it falls short, the fix."""

    item: str
    status: str  # ok, warn, fail or skip
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Diagnosis:
    project: str
    findings: list[Finding]

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.status == FAIL]

    def to_json(self) -> str:
        return json.dumps(
            {
                "project": self.project,
                "ok": not self.failed,
                "findings": [asdict(f) for f in self.findings],
            },
            indent=2,
        )

    def to_text(self) -> str:
        lines = [f"handover doctor: {self.project}"]
        width = max(len(f.item) for f in self.findings)
        for f in self.findings:
            lines.append(f"{f.status.upper():<5} {f.item:<{width}}  {f.detail}")
            if f.fix:
                lines.append(f"{'':<5} {'':<{width}}  fix: {f.fix}")
        problems = len(self.failed)
        lines.append(
            "ready: nothing to fix."
            if not problems
            else f"{problems} item{'s' * (problems != 1)} to fix, then run `handover doctor` again."
        )
        return "\n".join(lines)


# --- Python and the environment ------------------------------------------------------------


def _pyproject(project: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def check_python(project: Path, prefix: str = sys.prefix, base: str = sys.base_prefix) -> Finding:
    """The interpreter meets requires-python and is this project's virtual environment."""
    required = str(_pyproject(project).get("project", {}).get("requires-python", ""))
    running = ".".join(map(str, sys.version_info[:3]))
    if required and running not in SpecifierSet(required):
        return Finding(
            "python",
            FAIL,
            f"{running} at {sys.executable}; the project requires {required}",
            'install a matching Python and recreate .venv (README.md, "Set up")',
        )
    needs = f" (requires {required})" if required else ""
    venv = project / ".venv"
    if prefix == base:
        return Finding(
            "python",
            WARN,
            f"{running}{needs}, not in a virtual environment ({sys.executable})",
            'create and activate the project\'s .venv (README.md, "Set up")',
        )
    if venv.is_dir() and Path(prefix).resolve() != venv.resolve():
        return Finding(
            "python",
            WARN,
            f"{running}{needs} from {prefix}, not this project's .venv",
            "source .venv/bin/activate, then run handover from there",
        )
    return Finding("python", OK, f"{running}{needs} in {prefix}")


def locked_requirements(text: str) -> list[Requirement]:
    """The pinned requirements of a pip/uv lock that apply to this interpreter."""
    found: list[Requirement] = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate():
            found.append(requirement)
    return found


def check_environment(project: Path) -> Finding:
    """Every package the lock pins is installed at its pinned version, the project too."""
    lock = project / LOCK_FILE
    if not lock.is_file():
        return Finding("environment", SKIP, f"no {LOCK_FILE} to compare the environment with")
    wrong: list[str] = []
    pinned = locked_requirements(lock.read_text(encoding="utf-8"))
    for requirement in pinned:
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{requirement.name} missing")
            continue
        if requirement.specifier and installed not in requirement.specifier:
            wrong.append(f"{requirement.name} {installed} (lock: {requirement.specifier})")
    sync = "uv pip sync requirements.lock && uv pip install --no-deps -e ."
    if wrong:
        shown = ", ".join(wrong[:4]) + (f" and {len(wrong) - 4} more" if len(wrong) > 4 else "")
        return Finding(
            "environment",
            FAIL,
            f"{len(wrong)} of {len(pinned)} locked packages differ: {shown}",
            sync,
        )
    name = str(_pyproject(project).get("project", {}).get("name", ""))
    if name:
        try:
            own = importlib.metadata.distribution(canonicalize_name(name))
        except importlib.metadata.PackageNotFoundError:
            return Finding(
                "environment",
                FAIL,
                f"{len(pinned)} locked packages match; the project {name} itself is not installed",
                "uv pip install --no-deps -e .",
            )
        name = f"; {name} {own.version} installed"
    return Finding("environment", OK, f"{len(pinned)} packages match {LOCK_FILE}{name}")


# --- git and DVC ---------------------------------------------------------------------------


def _git(project: Path, *args: str) -> str | None:
    """git's output, None when it fails; read as an untrusted repository (see `gitrepo`):
    doctor runs in a clone just taken over."""
    try:
        result = run_git(project, *args, trusted=False)
    except HandoverError:
        return None
    return os.fsdecode(result.stdout).strip() if result.returncode == 0 else None


def check_git(project: Path) -> Finding:
    if _git(project, "rev-parse", "--show-toplevel") is None:
        return Finding("git", FAIL, "not a git repository", "clone the repository with git")
    head = _git(project, "rev-parse", "--short", "HEAD")
    if head is None:
        return Finding("git", FAIL, "no commit yet", "commit the project (git add -A; git commit)")
    branch = _git(project, "branch", "--show-current") or "detached HEAD"
    origin = _git(project, "remote", "get-url", "origin")
    source = f", clone of {tracking_server.redact(origin)}" if origin else ""
    return Finding("git", OK, f"{branch} at {head}{source}")


def _raw_remote_url(project: Path, name: str) -> tuple[str | None, str]:
    """The remote's URL as written, and which file sets it (config.local wins)."""
    from configobj import ConfigObj  # DVC's own config parser

    for file in ("config.local", "config"):
        path = project / ".dvc" / file
        if path.is_file():
            section = ConfigObj(str(path)).get(f'remote "{name}"') or {}
            if url := section.get("url"):
                return str(url), f".dvc/{file}"
    return None, ".dvc/config"


def _with_timeout(call: Callable[[], bool], seconds: float) -> bool | None:
    """`call()`, or None when it has not returned within `seconds` (it keeps running, daemonic)."""
    result: list[bool | BaseException] = []

    def target() -> None:
        try:
            result.append(call())
        except BaseException as error:
            result.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if not result:
        return None
    if isinstance(result[0], BaseException):
        raise result[0]
    return bool(result[0])


def check_dvc_remote(project: Path) -> Finding:
    """The default remote: which URL (and from which file), and whether it is there."""
    if not (project / ".dvc").is_dir():
        return Finding("dvc remote", SKIP, "not a DVC repository (no .dvc/)")
    try:
        from dvc.config import Config, ConfigError
    except ImportError:
        return Finding(
            "dvc remote", FAIL, "DVC is not installed here", "uv pip sync requirements.lock"
        )
    try:
        config = Config(dvc_dir=str(project / ".dvc"))
    except ConfigError as error:
        return Finding(
            "dvc remote",
            FAIL,
            f"DVC cannot read its configuration: {error}",
            "fix .dvc/config or .dvc/config.local",
        )
    name = config["core"].get("remote")
    if not name:
        return Finding(
            "dvc remote",
            FAIL,
            "no default remote",
            "dvc remote add -d storage <url> (see README.md)",
        )
    url = str(config["remote"].get(name, {}).get("url", ""))
    raw, where = _raw_remote_url(project, name)
    shown = f"{name} = {url} (from {where})"
    override = f"dvc remote modify --local {name} url <your copy of the storage>"
    if "://" not in url:  # a local path, resolved by DVC against the file that sets it
        path = Path(url)
        if not path.is_dir():
            return Finding(
                "dvc remote",
                FAIL,
                f"{shown}: no such folder on this machine",
                f"{override} (writes the git-ignored .dvc/config.local)",
            )
        if raw and not Path(os.path.expanduser(raw)).is_absolute():
            return Finding(
                "dvc remote",
                WARN,
                f"{shown}: found, but the path is relative to .dvc/, so clones in other folders "
                "look elsewhere",
                f"dvc remote modify {name} url {path} (absolute; commit .dvc/config)",
            )
        return Finding("dvc remote", OK, f"{shown}: found")

    def reachable() -> bool:
        from dvc.repo import Repo

        with Repo(str(project)) as repo:
            remote = repo.cloud.get_remote(name)
            return bool(remote.fs.exists(remote.path))

    try:
        there = _with_timeout(reachable, REMOTE_TIMEOUT)
    except Exception as error:
        return Finding(
            "dvc remote",
            FAIL,
            f"{shown}: cannot be read ({type(error).__name__}: {str(error)[:200]})",
            f"give this clone the remote's credentials: dvc remote modify --local {name} ... "
            'or the provider\'s environment variables (README.md, "Get the data")',
        )
    if there is None:
        return Finding(
            "dvc remote",
            FAIL,
            f"{shown}: no answer within {REMOTE_TIMEOUT:.0f} s",
            "check the network and the URL",
        )
    if not there:
        return Finding(
            "dvc remote",
            FAIL,
            f"{shown}: reachable, but the location does not exist",
            f"check the URL, or {override}",
        )
    return Finding("dvc remote", OK, f"{shown}: reachable")


def tracked_outputs(project: Path) -> list[str]:
    """Paths DVC tracks: the outs of every .dvc file and of dvc.lock's stages (cached ones)."""
    found: list[str] = []
    listed = _git(project, "ls-files", "-z", "--", "*.dvc", "dvc.lock") or ""
    for name in filter(None, listed.split("\0")):
        try:
            data = yaml.safe_load((project / name).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        base = Path(name).parent
        if name.endswith(".dvc"):
            outs = data.get("outs") or []
        else:
            outs = [
                o for stage in (data.get("stages") or {}).values() for o in stage.get("outs") or []
            ]
        for out in outs:
            if isinstance(out, dict) and out.get("path") and out.get("cache", True):
                found.append((base / str(out["path"])).as_posix())
    return found


def check_data(project: Path) -> Finding:
    outputs = tracked_outputs(project)
    if not outputs:
        return Finding("data", SKIP, "DVC tracks no data here")
    missing = [p for p in outputs if not (project / p).exists()]
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        return Finding(
            "data",
            FAIL,
            f"{len(missing)} of {len(outputs)} DVC-tracked outputs missing: {shown}",
            "dvc pull",
        )
    return Finding("data", OK, f"all {len(outputs)} DVC-tracked outputs present")


# --- MLflow ----------------------------------------------------------------------------------


def check_mlflow(project: Path, environ: Mapping[str, str]) -> list[Finding]:
    """The store the pipeline logs to: present, and what it holds; a server: can it take runs."""
    params = load_params(project)
    mlflow = params.get("mlflow") or {}
    name = str(mlflow.get("registered_model") or "")
    target = tracking_target(project, params, name)
    uri = str(target.uri)
    findings: list[Finding] = []
    if tracking_server.is_server(uri):
        try:
            answer = tracking_server.check(uri, environ)
        except tracking_server.ServerProblem as problem:
            return [
                Finding(
                    "tracking server",
                    FAIL,
                    str(problem),
                    "see the message; `handover doctor` again after",
                )
            ]
        findings.append(Finding("tracking server", OK, answer))
    else:
        findings.append(Finding("tracking server", SKIP, f"local store ({target.source})"))
    try:
        store = open_store(target, project, dict(environ), offline=False)
        model = store.registered_model(name) if name else None
        experiment = (
            store.experiment(str(mlflow.get("experiment") or ""))
            if mlflow.get("experiment")
            else None
        )
        runs = store.runs_count(experiment.experiment_id) if experiment else 0
    except Missing:
        # With a history bundle in the repository the store is expected: import it. Without
        # one (a project nobody has run yet) an empty store is only a note.
        bundle = (project / BUNDLE).exists() or (project / f"{BUNDLE}.dvc").exists()
        findings.append(
            Finding(
                "mlflow store",
                FAIL if bundle else WARN,
                f"no store at {tracking_server.redact(uri)} ({target.source}): no runs here",
                "handover history import (the vendor's history, in history/mlflow)"
                if bundle
                else "dvc repro (the pipeline's first runs)",
            )
        )
        return findings
    except Unavailable as error:
        findings.append(Finding("mlflow store", FAIL, str(error), "see the message"))
        return findings
    shown = tracking_server.redact(uri)
    if model is None:
        findings.append(
            Finding(
                "mlflow store",
                FAIL,
                f"{shown}: {runs} runs, no registered model {name!r}",
                "handover history import (the vendor's history), or dvc repro (new runs)",
            )
        )
        return findings
    versions = store.versions(name)
    champion = model.aliases.get(CHAMPION)
    holds = f"'{CHAMPION}' = version {champion}" if champion else f"no '{CHAMPION}'"
    detail = f"{shown}: {runs} runs, {len(versions)} versions of {name}, {holds}"
    if champion is None:
        findings.append(
            Finding(
                "mlflow store",
                WARN,
                detail,
                "python -m <package>.registry promote latest, once a version passed the gate",
            )
        )
    else:
        findings.append(Finding("mlflow store", OK, detail))
    return findings


def diagnose(project: Path, environ: Mapping[str, str] | None = None) -> Diagnosis:
    """Every item, in the order a newcomer meets them: Python, packages, git, DVC, MLflow."""
    environ = os.environ if environ is None else environ
    project = project.resolve()
    findings = [
        check_python(project),
        check_environment(project),
        check_git(project),
        check_dvc_remote(project),
        check_data(project),
        *check_mlflow(project, environ),
    ]
    return Diagnosis(str(project), findings)
