"""`handover drill`: play the client's take-over in a throwaway clone and report each step.

The take-over is what the product is for: a client engineer with only the repository sets it
up, restores the vendor's data and history, reproduces, tries a variant, retrains, promotes,
rolls back, checks drift and reads the audit. The drill runs exactly the commands the
generated README ("Take over this repository") and runbook write, extracted from their bash
blocks, so the documents and the drill cannot drift apart, and checks what each step must
achieve (the metrics did not change, `champion` did not move for a variant, moved for a
promotion and came back for a rollback), not only exit codes.

Safety: the clone is made in a new temporary folder elsewhere; the clone's pushes go to a
scratch DVC remote, and MLFLOW_TRACKING_URI is cleared, so the drill never writes to the
vendor's remote or store. A project that logs to a tracking server needs `--tracking-uri` for
a scratch server: the drill moves aliases, which must never happen on the team's registry; the
team server's history is copied there first (read from the team server, never written).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlops_handover import __version__
from mlops_handover.audit.mlflow_store import CHAMPION, PREVIOUS, open_store
from mlops_handover.audit.model import Unavailable
from mlops_handover.card import load_params, tracking_target
from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import run_git
from mlops_handover.tracking_server import is_server, redact

README, RUNBOOK = "README.md", "docs/runbook.md"
TAKE_OVER = "Take over this repository"
#: Drop these from the caller's environment: they would point the clone at the caller's
#: virtual environment or tracking store.
LEAKY = ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX")
STEP_TIMEOUT = 1800
OUTPUT_TAIL = 60
SCRATCH = "drill-scratch"


@dataclass(frozen=True)
class Step:
    """A step of the take-over: which document's block it runs and what it must achieve."""

    name: str
    document: str
    #: Heading titles from the outermost down, matched without their "N. " numbering.
    headings: tuple[str, ...]
    what: str


PLAN = (
    Step("setup", README, (TAKE_OVER, "Set up"), "the locked environment, the project installed"),
    Step("restore", README, (TAKE_OVER, "Restore"), "data pulled; the vendor's history imported"),
    Step("doctor", README, (TAKE_OVER, "Check"), "every item of the clone ready"),
    Step("reproduce", README, (TAKE_OVER, "Reproduce"), "rebuilt from scratch, no metric differs"),
    Step("variant", README, (TAKE_OVER, "Try a variant"), "gated; champion and tree unchanged"),
    Step("retrain", RUNBOOK, ("Retrain",), "a new version that passes the gate"),
    Step("promote", README, (TAKE_OVER, "Promote"), "champion is the newest accepted version"),
    Step("rollback", README, (TAKE_OVER, "Roll back"), "champion back where it was"),
    Step("drift", RUNBOOK, ("Check drift",), "the evaluation split shows no drift"),
    Step("audit", README, (TAKE_OVER, "Audit"), "the audit meets the project's fail-under"),
)


@dataclass
class StepResult:
    name: str
    what: str
    source: str  # document and heading the commands came from
    commands: list[str]
    verdict: str = "not run"  # passed, failed, not run
    seconds: float = 0.0
    detail: str = ""
    output: str = ""


@dataclass
class DrillReport:
    repository: str
    commit: str
    clone: str
    handover_version: str = __version__
    started: str = ""
    seconds: float = 0.0
    passed: bool = False
    steps: list[StepResult] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


# --- the commands, from the documents ------------------------------------------------------


def _title(text: str) -> str:
    return re.sub(r"^\d+\.\s*", "", text.strip()).casefold()


def bash_blocks(markdown: str, headings: tuple[str, ...]) -> list[str]:
    """The ```bash blocks in the section `headings` (title prefixes), its subsections too."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    path: list[tuple[int, str]] = []
    wanted = [_title(h) for h in headings]
    blocks = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            level = int(token.tag[1:])
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, _title(tokens[i + 1].content)))
        elif token.type == "fence" and token.info.strip() == "bash":
            titles = [title for _, title in path]
            if _under(titles, wanted):
                blocks.append(token.content)
    return blocks


def _under(titles: list[str], wanted: list[str]) -> bool:
    """The heading path runs through consecutive sections starting with `wanted`'s titles."""
    n = len(wanted)
    return any(
        all(t.startswith(w) for t, w in zip(titles[k : k + n], wanted, strict=True))
        for k in range(len(titles) - n + 1)
    )


def commands_of(block: str) -> list[str]:
    """Command lines of a bash block (comments and blank lines left out)."""
    return [
        line.strip()
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def plan_commands(clone: Path) -> list[StepResult]:
    """Every step with its commands; HandoverError naming the section a document lacks."""
    texts: dict[str, str] = {}
    results = []
    for step in PLAN:
        if step.document not in texts:
            path = clone / step.document
            if not path.is_file():
                raise HandoverError(f"{step.document} is missing: the drill runs its commands", 1)
            texts[step.document] = path.read_text(encoding="utf-8")
        blocks = bash_blocks(texts[step.document], step.headings)
        source = f"{step.document} > {' > '.join(step.headings)}"
        if not blocks:
            raise HandoverError(
                f"{source}: no bash block found. The drill runs the documented commands: "
                "restore the section (`handover update` brings the template's version).",
                1,
            )
        commands = [c for block in blocks for c in commands_of(block)]
        results.append(StepResult(step.name, step.what, source, commands))
    return results


# --- running in the clone ------------------------------------------------------------------


def drill_environment(environ: Mapping[str, str], tracking_uri: str | None) -> dict[str, str]:
    """The caller's environment without its venv or tracking store; git can commit."""
    env = {k: v for k, v in environ.items() if k not in LEAKY}
    caller_venv = environ.get("VIRTUAL_ENV")
    if caller_venv:
        bin_dir = str(Path(caller_venv) / "bin")
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if p != bin_dir
        )
    # Last on PATH: tools of handover's own environment (uv) that the machine lacks; the
    # clone's activated .venv comes first for everything it has.
    own_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([env.get("PATH", ""), own_bin]).strip(os.pathsep)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    env.setdefault("GIT_AUTHOR_NAME", "handover drill")
    env.setdefault("GIT_AUTHOR_EMAIL", "drill@handover.invalid")
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    for key, value in {"DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
        env.setdefault(key, value)
    return env


def run_block(commands: list[str], clone: Path, env: Mapping[str, str]) -> tuple[int, str]:
    """Run the commands as one bash script in the clone, the project's venv active if made."""
    script = "\n".join(
        [
            "set -eo pipefail",
            # Each step is a new shell: activate the environment step 1 created.
            "if [ -f .venv/bin/activate ]; then source .venv/bin/activate; fi",
            *(f"echo '$ '{_quote(c)}\n{c}" for c in commands),
        ]
    )
    try:
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=clone,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        out = (
            (error.stdout or b"").decode("utf-8", "replace")
            if isinstance(error.stdout, bytes)
            else error.stdout or ""
        )
        return 124, f"{out}\n(timed out after {STEP_TIMEOUT} s)"
    return result.returncode, result.stdout + result.stderr


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def in_venv(clone: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A tool of the clone's environment (dvc, git), for the drill's own checks."""
    tool = clone / ".venv" / "bin" / args[0]
    command = [str(tool) if tool.exists() else args[0], *args[1:]]
    return subprocess.run(
        command, cwd=clone, env=dict(env), capture_output=True, text=True, check=False
    )


@dataclass(frozen=True)
class Registry:
    """The clone's registered versions as the drill sees them (read without MLflow)."""

    versions: dict[int, str | None]  # number -> acceptance tag
    aliases: dict[str, int]

    @property
    def newest_passed(self) -> int | None:
        passed = [n for n, verdict in self.versions.items() if verdict == "passed"]
        return max(passed) if passed else None


def read_registry(clone: Path, env: Mapping[str, str]) -> Registry:
    """Versions and aliases of the clone's store (the drill's environment decides which)."""
    params = load_params(clone)
    name = str((params.get("mlflow") or {}).get("registered_model") or "")
    target = tracking_target(clone, params, name, env)
    try:
        store = open_store(target, clone, dict(env), offline=False)
        model = store.registered_model(name)
        versions = store.versions(name) if model else []
    except Unavailable:
        return Registry({}, {})
    return Registry(
        {v.version: v.tags.get("acceptance") for v in versions},
        dict(model.aliases) if model else {},
    )


def _metrics_unchanged(clone: Path, env: Mapping[str, str]) -> str | None:
    result = in_venv(clone, env, "dvc", "metrics", "diff", "--json")
    if result.returncode != 0:
        return f"`dvc metrics diff --json` failed: {result.stderr.strip()[-300:]}"
    changed = [
        f"{name} {old.get('old')} -> {old.get('new')}"
        for metrics in (json.loads(result.stdout or "{}") or {}).values()
        for name, old in metrics.items()
        if old.get("old") != old.get("new")
    ]
    return f"metrics differ from the committed ones: {', '.join(changed)}" if changed else None


def verify(
    step: StepResult,
    before: Registry,
    after: Registry,
    clone: Path,
    env: Mapping[str, str],
    tree: str,
) -> str | None:
    """Why the step did not achieve what it must (None when it did); `tree`: git status before."""
    champion = after.aliases.get(CHAMPION)
    imported = any("history import" in command for command in step.commands)
    if step.name == "restore" and imported and CHAMPION not in after.aliases:
        return "no version holds 'champion' after the history import"
    if step.name == "reproduce":
        return _metrics_unchanged(clone, env)
    if step.name == "variant":
        if champion != before.aliases.get(CHAMPION):
            was = before.aliases.get(CHAMPION)
            return f"'champion' moved from {was} to {champion}: a variant must not promote"
        if len(after.versions) <= len(before.versions):
            return "no version was registered for the variant"
        if status(clone, env) != tree:
            return "the working tree changed: a variant must leave it as it was"
    if step.name == "retrain":
        new = set(after.versions) - set(before.versions)
        if not new or after.versions[max(new)] != "passed":
            return f"the retrained version did not pass the gate (versions {sorted(new) or 'none'})"
    if step.name == "promote" and champion != after.newest_passed:
        return f"'champion' is {champion}, not the newest accepted version {after.newest_passed}"
    expected = (before.aliases.get(PREVIOUS), before.aliases.get(CHAMPION))
    if step.name == "rollback" and (champion, after.aliases.get(PREVIOUS)) != expected:
        return (
            f"after the rollback 'champion' is {champion} and 'previous' "
            f"{after.aliases.get(PREVIOUS)}; expected {expected[0]} and {expected[1]}"
        )
    return None


def status(clone: Path, env: Mapping[str, str]) -> str:
    """`git status --porcelain` of the clone, read as an untrusted repository (see `gitrepo`)."""
    result = run_git(clone, "status", "--porcelain", trusted=False, env=env)
    return os.fsdecode(result.stdout)


def _scratch_remote(clone: Path, env: Mapping[str, str], scratch: Path) -> None:
    """From here on the clone pushes to a scratch remote, never to the vendor's storage."""
    scratch.mkdir(parents=True, exist_ok=True)
    # A new local remote made the default in .dvc/config.local: the committed remote keeps its
    # options (an S3 endpoint, a profile), which a local URL would not accept.
    added = in_venv(
        clone, env, "dvc", "remote", "add", "--local", "--default", SCRATCH, str(scratch)
    )
    if added.returncode != 0:  # never go on towards a push to the vendor's storage
        raise HandoverError(f"cannot set the drill's scratch DVC remote: {added.stderr.strip()}")


def seed_scratch_server(clone: Path, env: Mapping[str, str], bundle: Path) -> str:
    """Copy the team server's history into the scratch server, as the client's own server holds
    it at take-over: exported from the team server (read only), imported with reconciliation.
    Returns the import's last line."""
    team = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}  # params.yaml's server
    history = [sys.executable, "-m", "mlops_handover", "history"]
    for verb, args, environment in (
        ("export", ["--to", str(bundle)], team),
        ("import", ["--from", str(bundle)], env),
    ):
        done = subprocess.run(
            [*history, verb, str(clone), *args],
            env=dict(environment),
            capture_output=True,
            text=True,
            check=False,
            timeout=STEP_TIMEOUT,
        )
        if done.returncode != 0:
            raise HandoverError(
                f"cannot copy the team server's history to the scratch server (`handover history "
                f"{verb}` exited {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            )
    return (done.stdout.strip().splitlines() or [""])[-1]


def drill(
    repository: str,
    *,
    workdir: Path | None = None,
    tracking_uri: str | None = None,
    keep: bool = False,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> DrillReport:
    """Clone `repository` into a new folder and run the take-over; stop at the first failure."""
    environ = os.environ if environ is None else environ
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="handover-drill-", dir=workdir))
    name = Path(repository.rstrip("/")).name.removesuffix(".git") or "project"
    clone = base / "client" / name
    clone.parent.mkdir(parents=True)
    env = drill_environment(environ, tracking_uri)
    # Hardened (see `gitrepo`): no hook runs, no `ext::` transport; `--`: never an option.
    source = os.path.abspath(repository) if os.path.exists(repository) else repository
    clone_args = ("clone", "--quiet", "--", source, str(clone))
    cloned = run_git(None, *clone_args, env=env, timeout=STEP_TIMEOUT)
    if cloned.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        error = os.fsdecode(cloned.stderr).strip()
        raise HandoverError(f"cannot clone {repository}: {error}", 2)
    commit = os.fsdecode(run_git(clone, "rev-parse", "HEAD", trusted=False, env=env).stdout)
    commit = commit.strip()
    params = load_params(clone)
    uri = str((params.get("mlflow") or {}).get("tracking_uri") or "")
    if is_server(uri) and not tracking_uri:
        shutil.rmtree(base, ignore_errors=True)
        raise HandoverError(
            f"{name} logs to the tracking server {uri}: the drill registers versions and moves "
            "aliases, which must not happen on the team's registry. Pass --tracking-uri with a "
            "scratch server.",
            2,
        )
    report = DrillReport(
        repository, commit, str(clone), started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    progress(f"drill: {repository} at {commit[:8]}, cloned into {clone}")
    if is_server(uri):
        progress(f"drill: copying the history of {redact(uri)} to the scratch server")
        progress(f"drill: {seed_scratch_server(clone, env, base / 'team-history')}")
    report.steps = plan_commands(clone)
    total = len(report.steps)
    for number, result in enumerate(report.steps, 1):
        before, tree = read_registry(clone, env), status(clone, env)
        tick = time.monotonic()
        code, output = run_block(result.commands, clone, env)
        problem = (
            f"a command exited {code}"
            if code != 0
            else verify(result, before, read_registry(clone, env), clone, env, tree)
        )
        result.seconds = round(time.monotonic() - tick, 1)
        result.verdict = "failed" if problem else "passed"
        result.detail = problem or ""
        result.output = "\n".join(output.splitlines()[-OUTPUT_TAIL:])
        line = f"{result.name:<10} {result.verdict:<7} {result.seconds:>6.1f} s"
        progress(f"[{number:>2}/{total}] {line}  {problem or result.what}")
        if problem:
            progress(f"--- output of {result.name} ({result.source}):\n{result.output}")
            break
        if result.name == "doctor":  # after the checks of the real remote, before any push
            _scratch_remote(clone, env, base / "scratch-dvc-remote")
    report.passed = all(r.verdict == "passed" for r in report.steps)
    report.seconds = round(time.monotonic() - started, 1)
    if report.passed and not keep:
        shutil.rmtree(base, ignore_errors=True)
        report.clone += " (removed)"
    return report


def default_report_path(repository: str) -> Path:
    """reports/drill.json in a local repository (git-ignored there), else ./drill.json."""
    local = Path(repository)
    return local / "reports" / "drill.json" if local.is_dir() else Path("drill.json")


def write_report(report: DrillReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json() + "\n", encoding="utf-8")


def summary(report: DrillReport) -> str:
    verdict = "PASSED" if report.passed else "FAILED"
    failed = next((r for r in report.steps if r.verdict == "failed"), None)
    tail = f" at {failed.name}: {failed.detail}" if failed else ""
    done = sum(r.verdict == "passed" for r in report.steps)
    return (
        f"drill {verdict}{tail} ({report.seconds:.0f} s, {done}/{len(report.steps)} steps passed)"
    )
