"""Benchmark `handover update` across one template version against `handover new` and Copier.

The template is a git repository with three tagged releases (tests/template_history.py:
v0.1.0, v0.2.0 with the 0.2.0 migration, v0.2.1). Measured in one run, round by round after an
untimed warm-up round, each command in a fresh subprocess and a fresh temporary directory:

- `handover new --no-run` at v0.2.1 (the baseline of the issue's target: update <= 3x new);
- `handover update` of a committed v0.2.0 project to v0.2.1 (one version, no migration);
- `handover update` of a v0.1.0 project to v0.2.1 (crossing the 0.2.0 migration);
- `handover update --pretend` of a v0.2.0 project (a clone, the update, the report);
- plain `copier update --trust --defaults --skip-tasks` of a v0.2.0 project (Copier's own cost);
- the v0.2.0 update again, in a probe that times its phases (where update's time goes).

The projects are generated once with `handover new --no-run` and copied (with `.git`) into each
sample's directory, untimed. Nothing here asserts on time: it prints Markdown tables (the README
pastes them) and writes the samples to bench/update-results.json.

    .venv/bin/python bench/bench_update.py [--repeat N] [--json FILE]

See bench/README.md, section "Update".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# The shared machinery (Bench, Case, Sample, measure, ...) is bench_new.py's; the template
# history is the one the update tests use.
sys.path[:0] = [str(HERE), str(REPO / "tests")]
import bench_new as bn  # noqa: E402
from template_history import build_history  # noqa: E402

from mlops_handover.releases import tag_releases  # noqa: E402

BIN = bn.BIN
PROBE = "_probe-update"
PHASES_MARK = "BENCH-PHASES "
LATEST = "v0.2.1"
#: The issue's target: `handover update` across one version <= 3x `handover new --no-run`.
TARGET_RATIO = 3.0
NEW = "new --no-run"
UPDATE = "update v0.2.0 -> v0.2.1"
MIGRATE = "update v0.1.0 -> v0.2.1 (migration)"
PRETEND = "update --pretend v0.2.0 -> v0.2.1"
COPIER = "copier update v0.2.0 -> v0.2.1"
PROBED = "update v0.2.0 -> v0.2.1, probed"
#: (item, peer, whether the issue's target applies): what each ratio says is in the README.
PAIRS = (
    (UPDATE, NEW, True),
    (MIGRATE, NEW, True),
    (PRETEND, NEW, True),
    (UPDATE, COPIER, False),
    (MIGRATE, UPDATE, False),
    (PRETEND, UPDATE, False),
)


def quiet_run(args: Sequence[str | Path], cwd: Path, env: dict[str, str]) -> str:
    """An untimed set-up or check command (its CPU time is not the sample's)."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip())[-3000:]
        raise bn.BenchError(f"`{shlex.join(map(str, args))}` exited {result.returncode}:\n{output}")
    return result.stdout


def template_commit(project: Path) -> str:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    return str(answers.get("_commit"))


class UpdateBench:
    """The template history and one committed project per starting version, made once."""

    def __init__(self, bench: bn.Bench) -> None:
        self.bench = bench
        self.history = build_history(bench.root / "history" / "template")
        # Plain Copier finds versions by tags only; `handover update` honours them too, so both
        # read the same releases (tagged here by the __version__ rule, as handover would).
        tag_releases(self.history)
        self.references: dict[str, Path] = {}
        #: `git status --porcelain` after each kind of update, from its first (warm-up) run.
        self.changes: dict[str, list[str]] = {}
        #: Call counts and subprocess/Jinja totals of each probed run, the warm-up's first.
        self.probes: list[dict[str, Any]] = []

    def new_args(self, dest: Path, version: str) -> list[str]:
        return [
            str(BIN / "handover"),
            "new",
            str(dest),
            "--defaults",
            "--no-run",
            "--template",
            str(self.history),
            "--vcs-ref",
            version,
        ]

    def reference(self, version: str) -> Path:
        """`handover new --no-run` at `version`: committed, tree clean (its parent holds the
        local DVC remote the default answers push to)."""
        if version not in self.references:
            parent = self.bench.root / f"reference-{version}"
            parent.mkdir()
            project = parent / "project"
            bn.log(f"generating the {version} project (untimed)")
            quiet_run(self.new_args(project, version), parent, self.bench.env)
            if status := quiet_run(["git", "status", "--porcelain"], project, self.bench.env):
                raise bn.BenchError(f"the {version} project is not clean:\n{status}")
            if template_commit(project) != version:
                raise bn.BenchError(f"the {version} project records {template_commit(project)}")
            self.references[version] = project
        return self.references[version]

    def fresh_project(self, version: str, workdir: Path) -> Path:
        """A copy of the reference project (and its DVC remote) with a refreshed git index."""
        reference = self.reference(version)
        project = self.bench.fresh_copy(reference.parent, workdir) / reference.name
        # The copy's files have new inodes and ctimes: refresh the index, as a user's is.
        quiet_run(["git", "update-index", "-q", "--refresh"], project, self.bench.env)
        return project

    def check_updated(self, name: str, project: Path, expect: str) -> None:
        """The update did what it should: the version recorded, and (once) what changed."""
        if (found := template_commit(project)) != expect:
            raise bn.BenchError(f"{name}: .copier-answers.yml records {found}, not {expect}")
        status = quiet_run(
            ["git", "status", "--porcelain", "--no-renames"], project, self.bench.env
        )
        if name not in self.changes:
            self.changes[name] = status.splitlines()
        if quiet_run(["git", "ls-files", "--unmerged"], project, self.bench.env).strip():
            raise bn.BenchError(f"{name}: the update left unmerged entries")

    def cases(self) -> list[bn.Case]:
        bench = self.bench
        handover = str(BIN / "handover")

        def new(workdir: Path) -> bn.Sample:
            dest = workdir / "project"
            seconds, _ = bench.run(self.new_args(dest, LATEST), workdir)
            if template_commit(dest) != LATEST:
                raise bn.BenchError(f"handover new recorded {template_commit(dest)}")
            return bn.Sample(seconds)

        def update(start: str, name: str) -> Callable[[Path], bn.Sample]:
            def run(workdir: Path) -> bn.Sample:
                project = self.fresh_project(start, workdir)
                seconds, _ = bench.run([handover, "update", str(project)], workdir)
                self.check_updated(name, project, LATEST)
                return bn.Sample(seconds)

            return run

        def pretend(workdir: Path) -> bn.Sample:
            project = self.fresh_project("v0.2.0", workdir)
            seconds, result = bench.run([handover, "update", "--pretend", str(project)], workdir)
            if f"would update from template version v0.2.0 to {LATEST}" not in result.stdout:
                raise bn.BenchError(f"--pretend reported something else:\n{result.stdout}")
            if quiet_run(["git", "status", "--porcelain"], project, bench.env).strip():
                raise bn.BenchError("--pretend changed the project")
            self.check_updated(PRETEND, project, "v0.2.0")
            return bn.Sample(seconds)

        def copier(workdir: Path) -> bn.Sample:
            project = self.fresh_project("v0.2.0", workdir)
            args = [str(BIN / "copier"), "update", "--trust", "--defaults", "--skip-tasks"]
            seconds, _ = bench.run(args, project)
            self.check_updated(COPIER, project, LATEST)
            return bn.Sample(seconds)

        def probed(workdir: Path) -> bn.Sample:
            project = self.fresh_project("v0.2.0", workdir)
            me = Path(__file__).resolve()
            seconds, result = bench.run([sys.executable, me, PROBE, "update", project], workdir)
            self.check_updated(PROBED, project, LATEST)
            marked = [line for line in result.stdout.splitlines() if line.startswith(PHASES_MARK)]
            if not marked:
                raise bn.BenchError(f"the probe printed no phases:\n{result.stdout[-2000:]}")
            found = json.loads(marked[-1][len(PHASES_MARK) :])
            self.probes.append({"calls": found["calls"], "aggregates": found["aggregates"]})
            return bn.Sample(seconds, phases=found["phases"])

        return [
            bn.Case(
                NEW,
                f"handover new <tmp> --defaults --no-run --template <history> --vcs-ref {LATEST}",
                new,
            ),
            bn.Case(UPDATE, "handover update <copy of a v0.2.0 project>", update("v0.2.0", UPDATE)),
            bn.Case(COPIER, "copier update --trust --defaults --skip-tasks (in the copy)", copier),
            bn.Case(
                MIGRATE, "handover update <copy of a v0.1.0 project>", update("v0.1.0", MIGRATE)
            ),
            bn.Case(PRETEND, "handover update --pretend <copy of a v0.2.0 project>", pretend),
            bn.Case(PROBED, f"python bench/bench_update.py {PROBE} update <copy>", probed),
        ]


# --- the probe: one `handover update` in this process, its phases timed --------------------


def git_subcommand(words: list[str]) -> str:
    """`git -C dir -c k=v merge-file ...` -> "merge-file"."""
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in ("-C", "-c"):
            skip = True
        elif not word.startswith("-"):
            return word
    return ""


def probe_update(argv: list[str]) -> int:
    """Run `handover <argv>` in this process, timing its phases (a bench subprocess).

    `import copier` is done up front so it is a phase of its own. Copier's three renders of an
    update (the old version and the new one into temporary directories, and the new one into
    the project), its template clones and migration tasks, and handover's own steps before and
    after are timed; a nested phase is named after its parents ("copier run_update > ...").
    Every subprocess (git, mostly) and every Jinja compile are summed apart, across phases.
    """
    timer = bn.PhaseTimer()
    phases, calls, timed = timer.phases, timer.calls, timer.wrap
    aggregates: dict[str, dict[str, float]] = {}

    def tally(label: str, seconds: float) -> None:
        entry = aggregates.setdefault(label, {"count": 0, "seconds": 0.0})
        entry["count"] += 1
        entry["seconds"] += seconds

    start = time.perf_counter()
    import copier  # noqa: F401

    phases["import copier"] = time.perf_counter() - start
    import jinja2
    from copier import _main, _template

    from mlops_handover import cli, update

    worker = _main.Worker
    run_copy = worker.run_copy

    def render(self: Any) -> None:
        dst = str(self.dst_path)
        where = (
            "the old version into a temp dir"
            if ".old_copy." in dst
            else "the new version into a temp dir"
            if ".new_copy." in dst
            else "the new version into the project"
        )
        return timed(f"render {where}", run_copy)(self)

    worker.run_copy = render  # type: ignore[method-assign]
    worker.run_update = timed("copier run_update", worker.run_update)  # type: ignore[method-assign]
    worker._execute_tasks = timed("migration tasks", worker._execute_tasks)  # type: ignore[method-assign]
    _template.clone = timed("clone the template", _template.clone)
    for name, label in (
        ("require_repository", "handover: is it a repository"),
        ("read_answers", "handover: read .copier-answers.yml"),
        ("status", "handover: git status (clean-tree check, then the changes)"),
        ("find_conflicts", "handover: find conflicts"),
        ("_migrations", "handover: list the migrations"),
    ):
        setattr(update, name, timed(label, getattr(update, name)))

    compile_ = jinja2.Environment.compile

    def compile_timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return compile_(self, *args, **kwargs)
        finally:
            tally("jinja2 compiles", time.perf_counter() - start)

    jinja2.Environment.compile = compile_timed  # type: ignore[method-assign]

    popen_init = subprocess.Popen.__init__
    communicate = subprocess.Popen.communicate

    def init(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        words = [str(a) for a in args] if isinstance(args, list | tuple) else str(args).split()
        program = Path(words[0]).name
        sub = git_subcommand(words) if program == "git" else ""
        self._bench = (program, f"{program} {sub}".strip(), time.perf_counter())
        popen_init(self, args, *rest, **kwargs)

    def communicate_timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return communicate(self, *args, **kwargs)
        finally:
            if (started := getattr(self, "_bench", None)) and self.returncode is not None:
                seconds = time.perf_counter() - started[2]
                tally(f"{started[0]} subprocesses", seconds)
                tally(f"subprocess: {started[1]}", seconds)
                self._bench = None

    subprocess.Popen.__init__ = init  # type: ignore[method-assign]
    subprocess.Popen.communicate = communicate_timed  # type: ignore[method-assign]
    code = cli.main(argv)
    print(
        PHASES_MARK + json.dumps({"phases": phases, "calls": calls, "aggregates": aggregates}),
        flush=True,
    )
    return code


# --- report --------------------------------------------------------------------------------


SPLIT_REST = "copier run_update > the rest (git write-tree, temp repos, diff, apply)"


def split_table(
    probed: bn.Case, probes: list[dict[str, Any]], derived: dict[str, Any]
) -> list[str]:
    """Where the probed update's time goes: its phases (medians), in the order they ran, with
    the time no phase covers, then subprocesses and Jinja compiles summed across phases."""
    fmt = bn.fmt
    total = probed.median
    phases = probed.phases()

    def calls(label: str) -> float | None:
        if not any(label in p["calls"] for p in probes):
            return None  # a phase timed once by the probe itself (import copier)
        return statistics.median(p["calls"].get(label, 0) for p in probes)

    def aggregate(label: str, key: str) -> float:
        return statistics.median(p["aggregates"].get(label, {}).get(key, 0) for p in probes)

    rows: list[tuple[str, float, float | None]] = [(k, v, calls(k)) for k, v in phases.items()]
    if "copier run_update" in phases:
        children = [k for k in phases if k.startswith("copier run_update > ") and k.count(">") == 1]
        rest = phases["copier run_update"] - sum(phases[k] for k in children)
        last = max(i for i, row in enumerate(rows) if row[0].startswith("copier run_update"))
        rows.insert(last + 1, (SPLIT_REST, rest, None))
    top = sum(v for k, v in phases.items() if " > " not in k)
    rows.append(("interpreter start, CLI and probe imports, exit (the rest)", total - top, None))
    labels = {k for p in probes for k in p["aggregates"]}
    totals = sorted(k for k in labels if not k.startswith("subprocess: "))
    git_subs = sorted(
        (k for k in labels if k.startswith("subprocess: git ")),
        key=lambda k: -aggregate(k, "seconds"),
    )
    for label in [*totals, *git_subs[:4]]:
        shown = f"across all phases: {label}" if label in totals else f"  of which {label[12:]}"
        rows.append((shown, aggregate(label, "seconds"), aggregate(label, "count")))
    lines = [
        f"Where `handover update` v0.2.0 -> v0.2.1 goes (the probed run, median {fmt(total)} s; "
        "a nested phase is named after its parent; calls: median count):",
        "",
        "| part | calls | s | share of the probed update |",
        "|---|---:|---:|---:|",
    ]
    for label, seconds, count in rows:
        shown = "" if count is None else f"{count:g}"
        lines.append(f"| {label} | {shown} | {fmt(seconds)} | {seconds / total:.0%} |")
    derived["update_split"] = [
        {"part": label, "calls": count, "seconds": round(seconds, 3)}
        for label, seconds, count in rows
    ]
    derived["probe_subprocesses"] = {
        label: {
            "count": aggregate(label, "count"),
            "seconds": round(aggregate(label, "seconds"), 3),
        }
        for label in sorted(labels)
    }
    return lines


def report(cases: dict[str, bn.Case], probes: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Markdown tables for the terminal and the README, and the derived numbers for the JSON."""
    fmt, ratio = bn.fmt, bn.ratio
    lines = [
        "| measured | median s | min s | max s | cpu s |",
        "|---|---:|---:|---:|---:|",
    ]
    for case in cases.values():
        s = case.summary()
        lines.append(
            f"| {case.name} | {fmt(case.median)} | {fmt(s['min'])} | {fmt(s['max'])} | "
            f"{fmt(case.cpu)} |"
        )
    derived: dict[str, Any] = {"comparisons": []}
    lines += [
        "",
        "| item | peer | item median s | peer median s | ratio | cpu ratio | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for item, peer, targeted in PAIRS:
        if item not in cases or peer not in cases:
            continue
        a, b = cases[item], cases[peer]
        met = a.median / b.median <= TARGET_RATIO
        target = f"<= {TARGET_RATIO:g}x ({'met' if met else 'missed'})" if targeted else ""
        lines.append(
            f"| {item} | {peer} | {fmt(a.median)} | {fmt(b.median)} | "
            f"{ratio(a.median, b.median)} | {ratio(a.cpu, b.cpu)} | {target} |"
        )
        derived["comparisons"].append(
            {
                "item": item,
                "peer": peer,
                "ratio": round(a.median / b.median, 3),
                "cpu_ratio": round(a.cpu / b.cpu, 3) if b.cpu else None,
                "target_ratio": TARGET_RATIO if targeted else None,
            }
        )
    if PROBED in cases:
        lines += ["", *split_table(cases[PROBED], probes, derived)]
    return "\n".join(lines), derived


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (5), after a warm-up")
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "update-results.json",
        help="where to write the samples (default: bench/update-results.json)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [PROBE]:
        return probe_update(argv[1:])
    args = parse_args(argv)
    for tool in ("copier", "handover"):
        if not (BIN / tool).exists():
            print(f"error: {BIN / tool} not found: run with the project's .venv/bin/python")
            return 2
    started = time.monotonic()
    load_start = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="handover-bench-update-"))
    try:
        # .pyc cached in a private prefix (PYTHONDONTWRITEBYTECODE unset), isolated git and
        # DVC configuration: bench_new.isolated_env. Copier's user settings: none. (An empty
        # file makes Copier 9.19 fail: it validates YAML's None as its settings, so `{}`.)
        bench = bn.Bench(root, "cached")
        settings = root / "copier-settings.yml"
        settings.write_text("{}\n")
        bench.env["COPIER_SETTINGS_PATH"] = str(settings)
        updates = UpdateBench(bench)
        tags = quiet_run(["git", "tag", "--list"], updates.history, bench.env).split()
        for version in ("v0.2.0", "v0.1.0"):
            updates.reference(version)
        cases = updates.cases()
        for case in cases:
            case.group = "update"
        bn.measure(bench, "update", cases, args.repeat)
    except bn.BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    by_name = {case.name: case for case in cases}
    # The warm-up round ran the probe too (first): its counts and totals are not samples.
    probes = updates.probes[-args.repeat :]
    table, derived = report(by_name, probes)
    total = time.monotonic() - started
    load_end = os.getloadavg()
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": bn.machine(),
        "settings": {"repeat": args.repeat, "bytecode": "cached", "target_ratio": TARGET_RATIO},
        "load_average": {"start": load_start, "end": load_end},
        "template_tags": tags,
        "bench_seconds": round(total, 1),
        "cases": {name: case.summary() for name, case in by_name.items()},
        "changes": updates.changes,
        "probe_samples": probes,
        **derived,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table)
    print("\nWhat each update changed (git status --porcelain, its first run):")
    for name, status in updates.changes.items():
        print(f"  {name}: {len(status)} path(s): {', '.join(s[3:] for s in status)}")
    print(
        f"\n{result['date']}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load_start[0]:.2f} -> {load_end[0]:.2f}, bench {total:.0f} s; "
        f"samples in {args.json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
