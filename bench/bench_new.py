"""Benchmark `handover new` and the generated project's first `dvc repro` against peers.

Why peers: absolute seconds depend on the machine and on whatever else runs on it; a ratio to a
peer measured in the same run, round by round (item, peer, item, peer, ...), moves much less.
Each command runs in a fresh subprocess (cold interpreter, warm disk cache) in a fresh temporary
directory, after one untimed warm-up round. Nothing here asserts on time: it prints Markdown
tables (the README pastes them) and writes the raw samples as JSON.

    .venv/bin/python bench/bench_new.py [--repeat N] [--repeat-repro N] [--json FILE]

See bench/README.md for what is measured and why each peer is the one it is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: The interpreter running the bench is the project's venv: its bin/ holds copier, dvc, handover.
BIN = Path(sys.executable).parent
#: What Copier needs of the template (the rest of the checkout is not part of a render).
SNAPSHOT_PARTS = ("copier.yml", "template", "hooks", "includes", "src/mlops_handover/__init__.py")
PROBE = "_probe-hook"
PHASES_MARK = "BENCH-PHASES "
#: The issue's targets on a 2-core machine, shown next to the medians (not asserted).
TARGETS = {"render": 1.5, "new --no-run": 4.0, "first dvc repro": 20.0}
GROUPS = ("render", "new", "repro", "startup", "imports")

MANUAL_SETUP = """\
set -eu
csv="$1"
mkdir project
cd project
git init --quiet
git symbolic-ref HEAD refs/heads/main
dvc init --quiet
mkdir -p data/raw ../project-dvc-storage
cp "$csv" data/raw/
dvc add --quiet "data/raw/$(basename "$csv")"
dvc remote add --quiet --default storage ../project-dvc-storage
dvc push --quiet
git add --all
git commit --quiet --no-verify -m "Set up git and DVC by hand"
"""

#: Imports of the generated project's stages: prepare needs pandas; train and evaluate need
#: pandas, scikit-learn and MLflow (each stage is its own interpreter under `dvc repro`).
IMPORTS = {
    "copier": "copier",
    "dvc.repo": "dvc.repo",
    "pandas": "pandas",
    "sklearn (train's modules)": (
        "sklearn.linear_model, sklearn.pipeline, sklearn.preprocessing, sklearn.metrics"
    ),
    "mlflow, mlflow.sklearn": "mlflow, mlflow.sklearn",
    "train's imports together": (
        "pandas, sklearn.linear_model, sklearn.pipeline, sklearn.preprocessing, "
        "sklearn.metrics, mlflow, mlflow.sklearn"
    ),
}


class BenchError(Exception):
    """A measured command failed: its time would mean nothing, so the bench stops."""


@dataclass
class Sample:
    """Wall seconds of one run, the CPU seconds of its processes, and optional phases."""

    seconds: float
    cpu: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class Case:
    """One measured command; `run` does its untimed setup in a fresh directory, then times it."""

    name: str
    command: str
    run: Callable[[Path], Sample]
    #: False when an earlier case's warm-up already loads what this one does (it saves time).
    warm_up: bool = True
    group: str = ""
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    def phases(self) -> dict[str, float]:
        """Median of each phase over the samples, in the order the phases first appeared."""
        labels = list(dict.fromkeys(label for s in self.samples for label in s.phases))
        return {
            label: statistics.median(s.phases.get(label, 0.0) for s in self.samples)
            for label in labels
        }

    def summary(self) -> dict[str, Any]:
        times = [s.seconds for s in self.samples]
        return {
            "command": self.command,
            "median": round(self.median, 3),
            "min": round(min(times), 3),
            "max": round(max(times), 3),
            "cpu_median": round(self.cpu, 3),
            "samples": [round(t, 3) for t in times],
            "cpu_samples": [round(s.cpu, 3) for s in self.samples],
            "phases_median": {k: round(v, 3) for k, v in self.phases().items()},
        }


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def isolated_env(root: Path, bytecode: str) -> dict[str, str]:
    """The environment of every measured command: nothing from the user's git or DVC config.

    With bytecode="cached" (the default), .pyc files go to a private PYTHONPYCACHEPREFIX that
    the warm-up round fills, as a pip install (which byte-compiles) would have them. "env" keeps
    the caller's settings: a venv installed by uv has no .pyc, and with PYTHONDONTWRITEBYTECODE
    every import compiles its modules from source, every time.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DVC_"))}
    env.pop("HANDOVER_TEMPLATE", None)
    env.pop("PYTHONPATH", None)
    gitconfig = root / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
    for name in ("dvc-site-cache", "dvc-global", "dvc-system"):
        (root / name).mkdir()
    env.update(
        PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        DVC_NO_ANALYTICS="1",
        DVC_STUDIO_OFFLINE="true",
        # DVC keeps per-repository state under a site cache keyed by path: keep it in the run.
        DVC_SITE_CACHE_DIR=str(root / "dvc-site-cache"),
        DVC_GLOBAL_CONFIG_DIR=str(root / "dvc-global"),
        DVC_SYSTEM_CONFIG_DIR=str(root / "dvc-system"),
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
    )
    if bytecode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


class Bench:
    """Temporary fixtures shared by the cases, made once and lazily (a case may not run)."""

    def __init__(self, root: Path, bytecode: str) -> None:
        self.root = root
        self.env = isolated_env(root, bytecode)
        self.work = root / "work"
        self.work.mkdir()
        self._snapshot: Path | None = None
        self._minimal: Path | None = None
        self._rendered: Path | None = None
        self._reference: Path | None = None
        self.snapshot_info: dict[str, Any] = {}
        self.cpu = 0.0

    def run(
        self, args: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        """Run a command and return its wall time; a failure stops the bench.

        The CPU seconds of the command and its children are added to `self.cpu`: on a shared
        machine they move less than wall time when other work competes for the cores.
        """
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(
            [str(a) for a in args],
            cwd=cwd,
            env=env or self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu += after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if result.returncode != 0:
            output = (result.stderr.strip() or result.stdout.strip())[-3000:]
            raise BenchError(f"`{' '.join(map(str, args))}` exited {result.returncode}:\n{output}")
        return seconds, result

    def git_repo(self, path: Path, message: str) -> None:
        for args in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", message]):
            self.run(["git", *args], cwd=path)

    def snapshot(self) -> Path:
        """Our template as a clean git repository (working tree as it is, uncommitted included).

        Copier copies a dirty checkout into a temporary directory on every run (and warns);
        a committed snapshot makes `--vcs-ref HEAD` a plain clone, as for a released template.
        """
        if self._snapshot is None:
            path = self.root / "snapshot"
            path.mkdir()
            for part in SNAPSHOT_PARTS:
                source = REPO / part
                (path / part).parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(source, path / part, ignore=ignore)
                else:
                    shutil.copy2(source, path / part)
            self.git_repo(path, "Snapshot of the template")
            _, status = self.run(["git", "status", "--porcelain", "--", *SNAPSHOT_PARTS], REPO)
            _, head = self.run(["git", "rev-parse", "--short", "HEAD"], REPO)
            files = sum(1 for p in path.rglob("*") if p.is_file() and ".git" not in p.parts)
            self.snapshot_info = {
                "checkout_head": head.stdout.strip(),
                "uncommitted_paths": len(status.stdout.splitlines()),
                "files": files,
            }
            self._snapshot = path
        return self._snapshot

    def minimal(self) -> Path:
        """The smallest Copier template: one question, one .jinja file (Copier's floor)."""
        if self._minimal is None:
            path = self.root / "minimal"
            path.mkdir()
            (path / "copier.yml").write_text("name:\n  type: str\n  default: world\n")
            (path / "hello.txt.jinja").write_text("Hello {{ name }}\n")
            self.git_repo(path, "Minimal template")
            self._minimal = path
        return self._minimal

    def rendered(self) -> Path:
        """Our template rendered without its task: the input of the post-copy hook alone."""
        if self._rendered is None:
            path = self.root / "rendered" / "project"
            path.parent.mkdir()
            self.run(copier_copy(self.snapshot(), path), cwd=path.parent)
            self._rendered = path
        return self._rendered

    def reference(self) -> Path:
        """A project from `handover new --no-run`; copies of it are fresh, never-run projects."""
        if self._reference is None:
            path = self.root / "reference" / "project"
            path.parent.mkdir()
            self.run(handover_new(self.snapshot(), path), cwd=path.parent)
            self._reference = path
        return self._reference

    def fresh_copy(self, source: Path, workdir: Path) -> Path:
        """A copy of a fixture, .git and DVC cache included: cheaper than generating it again."""
        dest = workdir / source.name
        shutil.copytree(source, dest, symlinks=True)
        return dest

    def hook_args(self) -> tuple[Path, list[str]]:
        """The hook and its arguments, as copier.yml's task passes them for the answers."""
        import jinja2
        import yaml

        config = yaml.safe_load((self.snapshot() / "copier.yml").read_text(encoding="utf-8"))
        command = config["_tasks"][0]["command"]
        if "post_copy.py" not in command[1]:
            raise BenchError(f"copier.yml's first task is not hooks/post_copy.py: {command}")
        answers = yaml.safe_load((self.rendered() / ".copier-answers.yml").read_text())
        args = [jinja2.Template(arg).render(**answers) for arg in command[2:]]
        return self.snapshot() / "hooks" / "post_copy.py", args

    def project_env(self, project: Path) -> dict[str, str]:
        """As `handover new` runs the pipeline: the venv first on PATH, the project's src/."""
        return {**self.env, "PYTHONPATH": str(project / "src")}


def copier_copy(template: Path, dest: Path) -> list[str]:
    """Render only: the task (the post-copy hook) is skipped, so this is Copier's own work."""
    return [
        str(BIN / "copier"),
        "copy",
        "--defaults",
        "--vcs-ref",
        "HEAD",
        "--skip-tasks",
        "--quiet",
        str(template),
        str(dest),
    ]


def handover_new(template: Path, dest: Path) -> list[str]:
    """What a user runs, minus the pipeline: render, git, DVC, example data, first commit."""
    return [
        str(BIN / "handover"),
        "new",
        str(dest),
        "--defaults",
        "--no-run",
        "--template",
        str(template),
        "--vcs-ref",
        "HEAD",
    ]


def command_case(bench: Bench, name: str, args: Sequence[str]) -> Case:
    """A case that is one command and needs no setup (startup times, imports)."""

    def run(workdir: Path) -> Sample:
        return Sample(bench.run(args, cwd=workdir)[0])

    shown = shlex.join(Path(a).name if a.startswith(str(BIN)) else a for a in args)
    return Case(name, shown, run)


def render_cases(bench: Bench) -> list[Case]:
    """Our template against the smallest one: the difference is what our template costs."""

    def ours(workdir: Path) -> Sample:
        return Sample(bench.run(copier_copy(bench.snapshot(), workdir / "out"), workdir)[0])

    def minimal(workdir: Path) -> Sample:
        return Sample(bench.run(copier_copy(bench.minimal(), workdir / "out"), workdir)[0])

    shown = "copier copy --defaults --vcs-ref HEAD --skip-tasks --quiet"
    return [
        Case("render", f"{shown} <snapshot> <tmp>", ours),
        Case("render minimal template", f"{shown} <minimal> <tmp>", minimal),
    ]


def new_cases(bench: Bench) -> list[Case]:
    """`handover new --no-run`, the same git + DVC set-up typed by hand, and the hook alone."""

    def new(workdir: Path) -> Sample:
        return Sample(bench.run(handover_new(bench.snapshot(), workdir / "project"), workdir)[0])

    def manual(workdir: Path) -> Sample:
        script = bench.root / "manual_setup.sh"
        if not script.exists():
            script.write_text(MANUAL_SETUP)
        csv = next((bench.reference() / "data" / "raw").glob("*.csv"))
        return Sample(bench.run(["bash", script, csv], workdir)[0])

    def hook(workdir: Path) -> Sample:
        project = bench.fresh_copy(bench.rendered(), workdir)
        script, args = bench.hook_args()
        me = Path(__file__).resolve()
        seconds, result = bench.run([sys.executable, me, PROBE, script, *args], project)
        marked = [line for line in result.stdout.splitlines() if line.startswith(PHASES_MARK)]
        phases = json.loads(marked[-1][len(PHASES_MARK) :]) if marked else {}
        return Sample(seconds, phases=phases)

    return [
        Case(
            "new --no-run",
            "handover new <tmp> --defaults --no-run --template <snapshot> --vcs-ref HEAD",
            new,
        ),
        Case(
            "manual git + DVC setup",
            "bash: git init, dvc init, cp CSV, dvc add, dvc remote add, dvc push, git add, "
            "git commit",
            manual,
        ),
        Case("post-copy hook alone", "python hooks/post_copy.py ... (in a rendered dir)", hook),
    ]


def repro_cases(bench: Bench) -> list[Case]:
    """The first `dvc repro` of a fresh project against its stages run one after the other."""

    def repro(workdir: Path) -> Sample:
        project = bench.fresh_copy(bench.reference(), workdir)
        seconds, _ = bench.run(
            [sys.executable, "-m", "dvc", "repro"], project, bench.project_env(project)
        )
        if not (project / "dvc.lock").is_file():
            raise BenchError("dvc repro succeeded but wrote no dvc.lock: nothing was measured")
        return Sample(seconds)

    def direct(workdir: Path) -> Sample:
        import yaml

        project = bench.fresh_copy(bench.reference(), workdir)
        stages = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
        phases = {}
        for name, stage in stages.items():
            args = ["bash", "-c", stage["cmd"]]
            phases[name] = bench.run(args, project, bench.project_env(project))[0]
        return Sample(sum(phases.values()), phases=phases)

    return [
        Case("first dvc repro", "python -m dvc repro (fresh project)", repro),
        Case(
            "stages without DVC",
            "each dvc.yaml cmd in turn (python -m <pkg>.<stage>)",
            direct,
            warm_up=False,
        ),
    ]


def startup_cases(bench: Bench) -> list[Case]:
    """`handover --help` must not pay for Copier: the interpreter and Copier's CLI bound it."""
    return [
        command_case(bench, "handover --help", [str(BIN / "handover"), "--help"]),
        command_case(bench, "python -c pass", [sys.executable, "-c", "pass"]),
        command_case(bench, "copier --help", [str(BIN / "copier"), "--help"]),
    ]


def import_cases(bench: Bench) -> list[Case]:
    """What the stages' imports and MLflow's fresh store cost, to read the repro split by."""
    cases = [
        command_case(bench, f"import {name}", [sys.executable, "-c", f"import {modules}"])
        for name, modules in IMPORTS.items()
    ]
    # The train stage of a fresh project also creates MLflow's sqlite store (its migrations).
    code = (
        "import mlflow; mlflow.set_tracking_uri('sqlite:///mlflow.db'); mlflow.search_experiments()"
    )
    store = command_case(
        bench, "import mlflow + create its sqlite store", [sys.executable, "-c", code]
    )
    return [*cases, store]


def measure(bench: Bench, group: str, cases: list[Case], repeat: int) -> None:
    """Warm up, then run every case once per round, so drift hits item and peer alike."""
    for round_no in range(repeat + 1):
        label = "warm-up" if round_no == 0 else f"round {round_no}/{repeat}"
        log(f"{group}: {label}")
        for case in cases:
            if round_no == 0 and not case.warm_up:
                continue
            workdir = Path(tempfile.mkdtemp(prefix="case-", dir=bench.work))
            try:
                cpu = bench.cpu
                sample = case.run(workdir)
                sample.cpu = bench.cpu - cpu
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            if round_no:
                case.samples.append(sample)


class PhaseTimer:
    """Wall-clock time of nested in-process phases ("parent > child"), with call counts."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[str] = []

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._stack.append(label)
            path = " > ".join(self._stack)
            self.phases.setdefault(path, 0.0)
            self.calls[path] = self.calls.get(path, 0) + 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.phases[path] += time.perf_counter() - start
                self._stack.pop()

        return wrapper


def probe_hook(hook: str, argv: list[str]) -> None:
    """Run the post-copy hook's main() in this process, timing its steps (a bench subprocess).

    The hook's own functions, its `run` helper (git and dvc commands) and DVC's Repo.add and
    Repo.push are wrapped; dvc.repo is imported up front so its import is a phase of its own.
    A nested phase is named after its parents: "ensure_dvc > dvc Repo.add()".
    """
    timer = PhaseTimer()
    phases, timed = timer.phases, timer.wrap

    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("post_copy", hook)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {hook}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    phases["load the hook"] = time.perf_counter() - start
    start = time.perf_counter()
    from dvc.repo import Repo

    phases["import dvc.repo"] = time.perf_counter() - start
    for name, value in vars(module).copy().items():
        # Every step function of the hook (ensure_git, ensure_dvc, ...), whatever it is named.
        is_step = callable(value) and getattr(value, "__module__", None) == module.__name__
        if is_step and name not in {"main", "run", "fail"}:
            setattr(module, name, timed(name, value))
    for name in ("__init__", "add", "push"):
        label = "dvc Repo() open" if name == "__init__" else f"dvc Repo.{name}()"
        setattr(Repo, name, timed(label, getattr(Repo, name)))
    hook_run = module.run

    def run(*args: str, **kwargs: Any) -> Any:
        if args[0] == sys.executable and args[1:3] == ("-m", "dvc"):
            label = f"dvc {args[3]}"
        else:
            label = f"{Path(args[0]).name} {args[1] if len(args) > 1 else ''}".rstrip()
        return timed(label, hook_run)(*args, **kwargs)

    module.run = run
    module.main(argv)
    print(PHASES_MARK + json.dumps(phases), flush=True)


def fmt(seconds: float) -> str:
    return f"{seconds:.2f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def comparisons(cases: dict[str, Case]) -> list[tuple[str, str]]:
    pairs = [
        ("render", "render minimal template"),
        ("new --no-run", "manual git + DVC setup"),
        ("first dvc repro", "stages without DVC"),
        ("handover --help", "python -c pass"),
        ("handover --help", "copier --help"),
    ]
    return [(a, b) for a, b in pairs if a in cases and b in cases]


def report(cases: dict[str, Case]) -> tuple[str, dict[str, Any]]:
    """Markdown tables for the terminal and the README, and the derived numbers for the JSON."""
    lines: list[str] = []
    derived: dict[str, Any] = {"comparisons": []}
    lines += [
        "| measured | median s | min s | max s | cpu s | peer | peer median s | peer cpu s "
        "| ratio | cpu ratio | target |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for item, peer in comparisons(cases):
        a, b = cases[item], cases[peer]
        s = a.summary()
        target = TARGETS.get(item)
        shown = f"<= {target:g} s ({'met' if a.median <= target else 'missed'})" if target else ""
        lines.append(
            f"| {item} | {fmt(a.median)} | {fmt(s['min'])} | {fmt(s['max'])} | {fmt(a.cpu)} | "
            f"{peer} | {fmt(b.median)} | {fmt(b.cpu)} | {ratio(a.median, b.median)} | "
            f"{ratio(a.cpu, b.cpu)} | {shown} |"
        )
        derived["comparisons"].append(
            {
                "item": item,
                "peer": peer,
                "ratio": round(a.median / b.median, 3),
                "cpu_ratio": round(a.cpu / b.cpu, 3) if b.cpu else None,
            }
        )
    if "new --no-run" in cases and "post-copy hook alone" in cases:
        new = cases["new --no-run"].median
        hook = cases["post-copy hook alone"]
        lines += ["", "Where `handover new --no-run` goes (medians):", ""]
        lines += ["| part | s | share of new --no-run |", "|---|---:|---:|"]
        parts: list[tuple[str, float]] = []
        if "render" in cases:
            parts.append(("render alone (copier CLI, --skip-tasks)", cases["render"].median))
        parts.append(("post-copy hook alone (its own interpreter)", hook.median))
        phases = hook.phases()
        top = sum(v for k, v in phases.items() if " > " not in k)
        parts += [(f"hook: {label}", seconds) for label, seconds in phases.items()]
        parts.append(("hook: interpreter start and exit, the rest", hook.median - top))
        if "render" in cases:
            rest = new - cases["render"].median - hook.median
            parts.append(("rest: new - render - hook (CLI, running the task; noisy)", rest))
        for label, seconds in parts:
            lines.append(f"| {label} | {fmt(seconds)} | {seconds / new:.0%} |")
        derived["new_split"] = {label: round(s, 3) for label, s in parts}
    if "first dvc repro" in cases and "stages without DVC" in cases:
        repro = cases["first dvc repro"].median
        direct = cases["stages without DVC"]
        lines += ["", "The first `dvc repro` (medians):", ""]
        lines += ["| part | s | share of first dvc repro |", "|---|---:|---:|"]
        parts = [(f"stage {k} (run directly)", v) for k, v in direct.phases().items()]
        parts.append(("DVC's overhead (repro - stages run directly)", repro - direct.median))
        for label, seconds in parts:
            lines.append(f"| {label} | {fmt(seconds)} | {seconds / repro:.0%} |")
        derived["repro_split"] = {label: round(s, 3) for label, s in parts}
    imports = [c for c in cases.values() if c.group == "imports"]
    if imports:
        floor = cases["python -c pass"].median if "python -c pass" in cases else 0.0
        repro = cases["first dvc repro"].median if "first dvc repro" in cases else 0.0
        heading = "Imports, each in a fresh interpreter"
        if "python -c pass" in cases:
            heading += f" (`python -c pass` is {fmt(floor)} s)"
        lines += ["", heading + ":", ""]
        lines += ["| import | median s | minus interpreter s | share of first dvc repro |"]
        lines += ["|---|---:|---:|---:|"]
        for case in imports:
            share = f"{(case.median - floor) / repro:.0%}" if repro else ""
            lines.append(
                f"| {case.name} | {fmt(case.median)} | {fmt(case.median - floor)} | {share} |"
            )
    return "\n".join(lines), derived


def machine() -> dict[str, Any]:
    versions = {}
    for dist in ("copier", "dvc", "mlflow", "scikit-learn", "pandas", "mlops-handover"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git": git.stdout.strip(),
        "versions": versions,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the fast items (5)")
    parser.add_argument(
        "--repeat-repro", type=int, default=3, help="rounds of dvc repro and the imports (3)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path(__file__).resolve().parent / "results.json",
        help="where to write the samples (default: bench/results.json)",
    )
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated groups to run (default: all of {','.join(GROUPS)})",
    )
    parser.add_argument(
        "--bytecode",
        choices=("cached", "env"),
        default="cached",
        help="cached: .pyc in a private PYTHONPYCACHEPREFIX, as after a pip install (default); "
        "env: the environment's own settings (uv installs write no .pyc)",
    )
    args = parser.parse_args(argv)
    args.only = [g.strip() for g in args.only.split(",") if g.strip()]
    if unknown := set(args.only) - set(GROUPS):
        parser.error(f"unknown group(s) {sorted(unknown)}; choose from {', '.join(GROUPS)}")
    if args.repeat < 1 or args.repeat_repro < 1:
        parser.error("--repeat and --repeat-repro must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [PROBE]:
        probe_hook(argv[1], argv[2:])
        return 0
    args = parse_args(argv)
    for tool in ("copier", "handover", "dvc"):
        if not (BIN / tool).exists():
            print(f"error: {BIN / tool} not found: run with the project's .venv/bin/python")
            return 2
    started = time.monotonic()
    load_start = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="handover-bench-"))
    cases: dict[str, Case] = {}
    try:
        bench = Bench(root, args.bytecode)
        makers: dict[str, tuple[Callable[[Bench], list[Case]], int]] = {
            "render": (render_cases, args.repeat),
            "new": (new_cases, args.repeat),
            "repro": (repro_cases, args.repeat_repro),
            "startup": (startup_cases, args.repeat),
            "imports": (import_cases, args.repeat_repro),
        }
        for group in GROUPS:
            if group in args.only:
                maker, repeat = makers[group]
                group_cases = maker(bench)
                for case in group_cases:
                    case.group = group
                measure(bench, group, group_cases, repeat)
                cases.update((c.name, c) for c in group_cases)
        snapshot_info = bench.snapshot_info
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table, derived = report(cases)
    total = time.monotonic() - started
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "repeat": args.repeat,
            "repeat_repro": args.repeat_repro,
            "bytecode": args.bytecode,
            "groups": args.only,
        },
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "template_snapshot": snapshot_info,
        "bench_seconds": round(total, 1),
        "cases": {name: case.summary() for name, case in cases.items()},
        **derived,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table)
    print(
        f"\n{result['date']}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"bytecode {args.bytecode}, load average {load_start[0]:.2f} -> {os.getloadavg()[0]:.2f}, "
        f"bench {total:.0f} s; samples in {args.json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
