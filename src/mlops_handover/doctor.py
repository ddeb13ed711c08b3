"""`handover doctor`: is this clone ready for work? One line per item, each with its fix.

A client engineer's first hour on a received repository goes to things the repository cannot
say by itself: the wrong Python, an environment that drifted from the lock, a DVC remote that
names a folder of the vendor's machine, data never pulled, an MLflow store that is empty because
the history was not imported, a tracking server that refuses the login, a working tree whose
models/train.json describes another version than the one serving loads. The doctor checks each
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
from mlops_handover.audit.mlflow_store import (
    BUNDLE,
    CHAMPION,
    SOURCE_RUN_TAG,
    SOURCE_VERSION_TAG,
    ModelVersionInfo,
    TrackingEvidence,
    open_store,
)
from mlops_handover.audit.model import Missing, Unavailable
from mlops_handover.card import load_params, tracking_target
from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import run_git

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
#: How long a cloud remote may take to say whether it holds the storage.
REMOTE_TIMEOUT = 20.0
LOCK_FILE = "requirements.lock"
WORKING_TREE = "working tree"
#: Where the train stage writes the run id and version it registered (params.yaml
#: `outputs.model_info` moves it); each commit's copy names the model of that commit.
MODEL_INFO = "models/train.json"
#: Model-version tags the generated pipeline and `handover history import` set.
ACCEPTANCE_TAG, PASSED = "acceptance", "passed"
COMMIT_TAG = "git.commit"  # the commit the version was trained at (a DVC experiment's baseline)
EXPERIMENT_TAG = "dvc.exp_name"  # the DVC experiment that trained it, if one did


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
            'or the provider\'s environment variables (docs/runbook.md, "Set up")',
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


def package_name(project: Path) -> str:
    """The generated package (the folder of src/ that holds registry.py), else `<package>`."""
    found = sorted(p.parent.name for p in (project / "src").glob("*/registry.py"))
    if len(found) == 1:
        return found[0]
    name = str(_pyproject(project).get("project", {}).get("name", ""))
    module = canonicalize_name(name).replace("-", "_") if name else ""
    return module if module and module in found else "<package>"


def check_mlflow(project: Path, environ: Mapping[str, str]) -> list[Finding]:
    """The store the pipeline logs to: present, and what it holds; a server: can it take runs;
    and whether the working tree describes its champion (`check_working_tree`)."""
    params = load_params(project)
    mlflow = params.get("mlflow") or {}
    name = str(mlflow.get("registered_model") or "")
    target = tracking_target(project, params, name, environ)
    uri = str(target.uri)
    package = package_name(project)
    findings: list[Finding] = []
    no_store = Finding(WORKING_TREE, SKIP, f"no MLflow store to compare {model_info(params)} with")
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
                ),
                no_store,
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
        return [*findings, no_store]
    except Unavailable as error:
        findings.append(Finding("mlflow store", FAIL, str(error), "see the message"))
        return [*findings, no_store]
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
        return [*findings, no_store]
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
                f"python -m {package}.registry promote latest, once a version passed the gate",
            )
        )
    else:
        findings.append(Finding("mlflow store", OK, detail))
    findings.append(check_working_tree(project, store, versions, params, package))
    return findings


# --- the working tree and the champion -------------------------------------------------------


def model_info(params: Mapping[str, Any]) -> str:
    """The train stage's record of its model: params.yaml `outputs.model_info`, else the
    template's models/train.json."""
    outputs = params.get("outputs")
    path = outputs.get("model_info") if isinstance(outputs, dict) else None
    return path if isinstance(path, str) and path.strip() else MODEL_INFO


def run_ids(store: TrackingEvidence, version: ModelVersionInfo) -> set[str]:
    """The version's run id and, for imported history, the run id it had in its first store
    (the run tag SOURCE_RUN_TAG), which the imported models/train.json still names."""
    if version.run_id is None:
        return set()
    try:
        source = store.details(version).run_tags.get(SOURCE_RUN_TAG)
    except Unavailable:
        source = None
    return {version.run_id, *([source] if source else [])}


def describes(store: TrackingEvidence, version: ModelVersionInfo, info: Mapping[str, Any]) -> bool:
    """Whether models/train.json names this version: the same version number and run, here or
    in the store it was imported from (tags SOURCE_VERSION_TAG and SOURCE_RUN_TAG)."""
    number = str(info.get("version"))
    if number not in (str(version.version), version.tags.get(SOURCE_VERSION_TAG)):
        return False
    return info.get("run_id") in run_ids(store, version)


def _show(project: Path, commit: str, path: str) -> str | None:
    return _git(project, "show", f"{commit}:./{path}")


def commit_naming(project: Path, runs: set[str], info_path: str) -> str | None:
    """The newest commit of HEAD's history whose models/train.json names one of `runs`."""
    for run_id in sorted(runs):
        found = _git(project, "log", "--format=%H", f"-S{run_id}", "--", info_path) or ""
        for commit in found.split():
            try:
                info = json.loads(_show(project, commit, info_path) or "")
            except ValueError:
                continue
            if isinstance(info, dict) and info.get("run_id") == run_id:
                return commit
    return None


def _yaml_at(project: Path, commit: str, path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(_show(project, commit, path) or "")
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _entries(items: Any) -> list[str]:
    """The paths of a stage's list of deps/outs/...: `path:` mappings (dvc.lock), mappings
    keyed by the path (dvc.yaml, with options) or plain strings."""
    found: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            item = item.get("path") if "path" in item else next(iter(item), None)
        if isinstance(item, str):
            found.append(item)
    return found


def stage_paths(project: Path, commit: str) -> list[str]:
    """The paths the pipeline's stages name at `commit`: deps, parameter files, outs, metrics
    and plots. dvc.lock records them resolved (dvc.yaml may read them from params.yaml through
    `${...}`); dvc.yaml adds the entries it names literally (a stage not yet run)."""
    lock = _yaml_at(project, commit, "dvc.lock").get("stages")
    spec = _yaml_at(project, commit, "dvc.yaml").get("stages")
    lock = lock if isinstance(lock, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    found: list[str] = []
    for name in dict.fromkeys([*lock, *spec]):
        locked = lock.get(name) if isinstance(lock.get(name), dict) else {}
        stage = spec.get(name) if isinstance(spec.get(name), dict) else {}
        wdir = stage.get("wdir", ".")
        wdir = wdir if isinstance(wdir, str) and "${" not in wdir else "."
        named = [*_entries(locked.get("deps")), *_entries(locked.get("outs"))]
        params = locked.get("params")
        named += [str(file) for file in params] if isinstance(params, dict) else []
        for key in ("deps", "outs", "metrics", "plots"):
            named += _entries(stage.get(key))
        declared = stage.get("params")
        for item in declared if isinstance(declared, list) else []:
            # A key of the default parameters file, or {file: [keys]}.
            named.append(str(next(iter(item), "")) if isinstance(item, dict) else "params.yaml")
        for path in named:
            if "${" in path or "://" in path or os.path.isabs(path):
                continue
            normal = os.path.normpath(os.path.join(wdir, path))
            if normal != ".." and not normal.startswith("../"):
                found.append(Path(normal).as_posix())
    return list(dict.fromkeys(found))


def pipeline_files(project: Path, commit: str) -> list[str]:
    """The files git tracks at `commit` that make the pipeline's state: dvc.yaml and dvc.lock,
    the stages' deps (data by its .dvc file), parameter files, outs, metrics and plots."""
    named = stage_paths(project, commit)
    candidates = ["dvc.yaml", "dvc.lock", *named, *(f"{p}.dvc" for p in named)]
    try:
        result = run_git(
            project, "ls-tree", "-r", "-z", "--name-only", commit, "--",
            *dict.fromkeys(candidates), trusted=False, env={"GIT_LITERAL_PATHSPECS": "1"},
        )  # fmt: skip
    except HandoverError:
        return []
    if result.returncode != 0:
        return []
    return [os.fsdecode(p) for p in result.stdout.split(b"\0") if p]


def check_working_tree(
    project: Path,
    store: TrackingEvidence,
    versions: list[ModelVersionInfo],
    params: Mapping[str, Any],
    package: str = "<package>",
) -> Finding:
    """Whether models/train.json describes the champion and, when not, what makes them agree.

    A warning, never a failure: after a rollback the tree legitimately describes the version
    rolled back from. The champion's files are those of the commit whose models/train.json
    names its run (the commit after the one it was trained at, which still names the model
    before it)."""
    info_path = model_info(params)
    try:
        info = json.loads((project / info_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict):
        return Finding(
            WORKING_TREE, SKIP, f"no {info_path} to compare with '{CHAMPION}' (dvc repro writes it)"
        )
    number, run_id = str(info.get("version")), info.get("run_id")
    described = f"{info_path} describes version {number} (run {run_id})"
    champion = next((v for v in versions if CHAMPION in v.aliases), None)
    if champion is None:
        return Finding(WORKING_TREE, SKIP, f"{described}; no version is '{CHAMPION}'")
    try:
        if describes(store, champion, info):
            return Finding(WORKING_TREE, OK, f"{described}, the '{CHAMPION}'")
        runs = run_ids(store, champion)
        ours = next(
            (v for v in sorted(versions, key=lambda v: -v.version) if describes(store, v, info)),
            None,
        )
    except Unavailable as error:
        return Finding(WORKING_TREE, SKIP, f"cannot read the '{CHAMPION}' from the store: {error}")
    trained = champion.tags.get(COMMIT_TAG) or champion.git_commit
    experiment = champion.tags.get(EXPERIMENT_TAG)
    detail = f"{described}, '{CHAMPION}' is version {champion.version}"
    detail += f", trained at commit {trained[:12]}" if trained else ""
    detail += f" in DVC experiment {experiment}" if experiment else ""
    fixes = []
    if commit := commit_naming(project, runs, info_path):
        files = " ".join(pipeline_files(project, commit)) or "dvc.yaml dvc.lock"
        fixes.append(f"git checkout {commit} -- {files} && dvc checkout (then commit)")
    elif experiment:
        fixes.append(f"dvc exp apply {experiment} (then commit)")
    else:
        detail += f"; no commit of this branch has a {info_path} that names it"
    if ours is not None and ours.tags.get(ACCEPTANCE_TAG) == PASSED:
        fixes.append(f"python -m {package}.registry promote {ours.version}")
    if not fixes:
        fixes.append(
            f"python -m {package}.registry status, then promote the version to serve, or "
            "retrain from the working tree (dvc repro --force) and commit"
        )
    return Finding(WORKING_TREE, WARN, detail, "; or ".join(fixes))


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
