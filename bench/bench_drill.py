"""Benchmark `handover drill` step by step, and its history transfer against mlflow-export-import.

Why: issue 16 asks where the drill's wall time goes, against a goal of the whole drill in at
most 5 minutes on a 2-core machine, and, as every benchmark here, a peer measured in the same
run. The drill is a take-over, not a single command, so it has no direct peer; the one step
that has an established tool for the same job is the history transfer inside `restore`
(`handover history export` on the vendor's side, `handover history import` on the client's).

1. The drill. One vendor project is generated, untimed, with `handover new DEST --defaults
   --template <this checkout> --vcs-ref HEAD` (the pipeline run and the history bundle
   included), then `handover drill VENDOR --report R --workdir W` runs N times on it. The
   generated lock pins this checkout's mlops-handover, which is not on PyPI: its wheel is built
   untimed (`uv build --wheel`) and found through UV_FIND_LINKS, as in tests/test_drill.py. uv
   uses a cache of its own under bench/.cache/drill/uv (git-ignored), filled untimed before the
   first drill by syncing the lock into a scratch venv: every timed setup is a warm-cache one.
   Each step's seconds come from the drill's JSON report (steps[].seconds); the process's wall
   time is measured around it. Warnings in the steps' output (the report keeps each step's last
   lines) are collected.
2. The history transfer, on the same vendor store into a fresh, empty SQLite store in another
   folder, each sample in a fresh directory, item and peers alternating round by round after an
   untimed warm-up round:
   - handover: `handover history export VENDOR --to B`, then `handover history import C --from B`
     (the store files directly, as the drill does);
   - mlflow-export-import: `export-all --output-dir B`, then `import-all --input-dir B`. Its
     registry export and import speak MLflow's REST API only (on a SQLite URI the export logs
     the error and exits 0 with no model), so each side is an `mlflow server` on 127.0.0.1
     (.venv's MLflow), started untimed: the source once, on the vendor's store, a target per
     sample on an empty store. Their CPU seconds during the commands are reported apart;
   - handover through the same servers, so the ratio to the peer is also read like for like.
   After each sample the target store is read with MlflowClient in a subprocess of the peer's
   venv (runs, logged models, versions, aliases): what each tool moved, not only how fast.
   The peer lives in its own venv, bench/.cache/drill/venv-export-import, with the MLflow of
   .venv, never in .venv. Its PyPI name `mlflow-export-import` stops at 1.2.0 (Feb 2023), which
   predates MLflow 3's logged models: it is tried once per run (untimed) and its outcome reported;
   the project's current release is on PyPI as `databricks-mlflow-export-import`, the peer timed.

Nothing here asserts on time: it prints Markdown tables (bench/README.md, section "Drill",
pastes them) and writes the samples to bench/drill-results.json.

    .venv/bin/python bench/bench_drill.py [--repeat N] [--repeat-history M] [--json FILE]
    .venv/bin/python bench/bench_drill.py --only history --repeat-history 5

See bench/README.md, section "Drill".
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
# The shared machinery (Bench, Case, Sample, measure; quiet_run for untimed set-up) is imported.
import bench_new as bn  # noqa: E402
from bench_update import quiet_run  # noqa: E402

BIN = bn.BIN
#: The issue's goal for the whole drill on this 2-core machine (shown, not asserted).
GOAL_SECONDS = 300.0
GROUPS = ("drill", "history")
#: The peer that is timed, and the legacy release tried once: (PyPI name, version).
PEER = ("databricks-mlflow-export-import", "1.2.1")
LEGACY = ("mlflow-export-import", "1.2.0")
#: 1.2.0 imports tabulate without declaring it (1.2.1 declares it).
LEGACY_EXTRA = ("tabulate",)
HANDOVER = "handover history export + import"
HANDOVER_SERVERS = "handover, through the servers"
PEER_NAME = "mlflow-export-import export-all + import-all"
#: What a target store holds, read with MlflowClient (in the peer's venv).
COUNT = """\
import json, sys
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=sys.argv[1], registry_uri=sys.argv[1])
exps = c.search_experiments()
ids = [e.experiment_id for e in exps]
runs = [r for i in ids for r in c.search_runs([i], max_results=50000)]
models = c.search_registered_models()
print(json.dumps({
    "experiments": len(exps),
    "runs": len(runs),
    "params": sum(len(r.data.params) for r in runs),
    "metrics": sum(len(r.data.metrics) for r in runs),
    "dataset_inputs": sum(len(r.inputs.dataset_inputs) for r in runs if r.inputs),
    "logged_models": len(c.search_logged_models(ids)) if ids else 0,
    "registered_models": len(models),
    "versions": sum(len(c.search_model_versions(f"name='{m.name}'")) for m in models),
    "aliases": sum(len(c.get_registered_model(m.name).aliases) for m in models),
}))
"""
MOVED = ("runs", "logged_models", "versions", "aliases")
#: A line of a step's output worth reporting.
NOTABLE = re.compile(r"\b(warn(ing)?|error|deprecat\w*|traceback)\b", re.IGNORECASE)
#: A log line's date and time, left out so that the same line in two drills is one.
STAMP = re.compile(r"^\d{4}[/-]\d\d[/-]\d\d[ T]\d\d:\d\d:\d\d[,.\d]*\s*")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes in a process group, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total / tick


class Server:
    """`mlflow server` on 127.0.0.1 for a SQLite store, in its own process group, untimed."""

    def __init__(self, bench: bn.Bench, store: Path, artifacts: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        args = [
            BIN / "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{store}",
            "--default-artifact-root",
            str(artifacts),
            "--no-serve-artifacts",
        ]
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [str(a) for a in args],
                cwd=log.parent,
                env=bench.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise bn.BenchError(f"mlflow server on {store} exited:\n{tail}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.3)
        self.stop()
        raise bn.BenchError(f"mlflow server on {store} did not answer in 300 s")

    def cpu(self) -> float:
        return group_cpu(self.process.pid)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.contextmanager
def serving(bench: bn.Bench, store: Path, artifacts: Path, log: Path) -> Iterator[Server]:
    server = Server(bench, store, artifacts, log)
    try:
        yield server
    finally:
        server.stop()


def peer_venv(cache: Path, dist: tuple[str, str], extra: Sequence[str], env: dict) -> Path:
    """A venv of its own for an mlflow-export-import release, with .venv's MLflow; reused."""
    name, version = dist
    venv = cache / f"venv-{name.removeprefix('databricks-')}-{version}"
    python = venv / "bin" / "python"
    mlflow = importlib.metadata.version("mlflow")
    wanted = {name: version, "mlflow": mlflow}
    if python.exists():
        probe = (
            "import importlib.metadata as m, json, sys; "
            "print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))"
        )
        found = subprocess.run(
            [str(python), "-c", probe, *wanted], capture_output=True, text=True, check=False
        )
        if found.returncode == 0 and json.loads(found.stdout) == wanted:
            return venv
        shutil.rmtree(venv)
    bn.log(f"installing {name}=={version} with mlflow=={mlflow} into {venv}")
    quiet_run([BIN / "uv", "venv", "--quiet", "--python", sys.executable, venv], REPO, env)
    pins = [f"{name}=={version}", f"mlflow=={mlflow}", *extra]
    quiet_run([BIN / "uv", "pip", "install", "--quiet", "--python", python, *pins], REPO, env)
    return venv


class DrillBench:
    """The wheel, the vendor project and the peers' venvs, made once (untimed)."""

    def __init__(self, bench: bn.Bench, cache: Path, groups: Sequence[str]) -> None:
        self.bench = bench
        env = bench.env
        for key in ("PIP_FIND_LINKS", "UV_FIND_LINKS", "MLFLOW_TRACKING_URI", "VIRTUAL_ENV"):
            env.pop(key, None)
        env["UV_CACHE_DIR"] = str(cache / "uv")
        self.info: dict[str, Any] = {}
        self.reports: list[dict[str, Any]] = []
        self.moved: dict[str, list[dict[str, Any]]] = {}
        self.exits: dict[str, list[list[int]]] = {}
        wheels = bench.root / "wheels"
        bn.log("building the wheel")
        quiet_run([BIN / "uv", "build", "--wheel", "--quiet", "--out-dir", wheels], REPO, env)
        (wheel,) = wheels.glob("mlops_handover-*.whl")
        self.info["wheel"] = wheel.name
        self.drill_env = {**env, "UV_FIND_LINKS": str(wheels)}
        self.vendor = bench.root / "vendor" / "demo-model"
        self.vendor.parent.mkdir()
        bn.log("generating the vendor project (handover new, pipeline included)")
        started = time.perf_counter()
        new = [
            BIN / "handover",
            "new",
            self.vendor,
            "--defaults",
            "--template",
            REPO,
            "--vcs-ref",
            "HEAD",
        ]
        quiet_run(new, self.vendor.parent, env)
        self.info["vendor_new_seconds"] = round(time.perf_counter() - started, 1)
        answers = yaml.safe_load((self.vendor / ".copier-answers.yml").read_text("utf-8"))
        self.info["template_commit"] = str(answers.get("_commit"))
        if "drill" in groups:
            self.warm_uv_cache()
        if "history" in groups:
            self.peer = peer_venv(cache, PEER, (), env)
            self.legacy = peer_venv(cache, LEGACY, LEGACY_EXTRA, env)

    def warm_uv_cache(self) -> None:
        """Sync the vendor's lock once into a scratch venv: uv's cache holds every wheel."""
        bn.log("filling uv's cache from the vendor's lock (untimed)")
        venv = self.bench.root / "uv-warm"
        quiet_run([BIN / "uv", "venv", "--quiet", "--python", "3.11", venv], REPO, self.drill_env)
        sync = [
            BIN / "uv",
            "pip",
            "sync",
            "--quiet",
            "--python",
            venv / "bin" / "python",
            "requirements.lock",
        ]
        quiet_run(sync, self.vendor, self.drill_env)
        shutil.rmtree(venv)

    # --- the drill --------------------------------------------------------------------------

    def drill_case(self) -> bn.Case:
        shown = "handover drill VENDOR --report R --workdir W"

        def run(workdir: Path) -> bn.Sample:
            report_path = workdir / "drill.json"
            args = [
                BIN / "handover",
                "drill",
                self.vendor,
                "--report",
                report_path,
                "--workdir",
                workdir,
            ]
            seconds, _ = self.bench.run(args, workdir, env=self.drill_env)
            report = json.loads(report_path.read_text(encoding="utf-8"))
            report["process_seconds"] = round(seconds, 1)
            self.reports.append(report)
            phases = {s["name"]: float(s["seconds"]) for s in report["steps"]}
            phases["(drill total)"] = float(report["seconds"])
            return bn.Sample(seconds, phases=phases)

        return bn.Case("handover drill", shown, run, warm_up=False, group="drill")

    # --- the history transfer ---------------------------------------------------------------

    def count(self, store: Path) -> dict[str, int]:
        out = quiet_run(
            [self.peer / "bin" / "python", "-c", COUNT, f"sqlite:///{store}"],
            store.parent,
            self.bench.env,
        )
        return json.loads(out.strip().splitlines()[-1])

    def transfer(
        self, name: str, workdir: Path, export: list[Any], import_: list[Any], server: bool
    ) -> bn.Sample:
        """Export, then import into a fresh empty store in workdir/client; count what moved."""
        client = workdir / "client"
        client.mkdir()
        store = client / "mlflow.db"
        env = self.bench.env
        phases: dict[str, float] = {}

        def timed(args: list[Any], env: dict[str, str], server: Server | None, side: str) -> None:
            before = server.cpu() if server else 0.0
            phases[side], _ = self.bench.run(args, workdir, env=env)
            if server:  # what the server did for the command meanwhile (not the command's CPU)
                phases[f"{side} server cpu"] = server.cpu() - before

        with contextlib.ExitStack() as stack:
            if server:
                log = workdir / "target-server.log"
                target = stack.enter_context(serving(self.bench, store, client / "mlruns", log))
                timed(
                    export, {**env, "MLFLOW_TRACKING_URI": self.source.url}, self.source, "export"
                )
                timed(import_, {**env, "MLFLOW_TRACKING_URI": target.url}, target, "import")
            else:
                timed(export, env, None, "export")
                timed(import_, env, None, "import")
        self.moved.setdefault(name, []).append(self.count(store))
        return bn.Sample(phases["export"] + phases["import"], phases=phases)

    def history_cases(self) -> list[bn.Case]:
        handover = BIN / "handover"

        def ours(server: bool) -> Any:
            def run(workdir: Path) -> bn.Sample:
                bundle = workdir / "bundle"
                return self.transfer(
                    HANDOVER_SERVERS if server else HANDOVER,
                    workdir,
                    [handover, "history", "export", self.vendor, "--to", bundle],
                    [handover, "history", "import", workdir / "client", "--from", bundle],
                    server,
                )

            return run

        def peer(workdir: Path) -> bn.Sample:
            bundle = workdir / "bundle"
            tools = self.peer / "bin"
            return self.transfer(
                PEER_NAME,
                workdir,
                [tools / "export-all", "--output-dir", bundle],
                [tools / "import-all", "--input-dir", bundle],
                True,
            )

        return [
            bn.Case(
                HANDOVER,
                "handover history export VENDOR --to B; handover history import C --from B",
                ours(False),
                group="history",
            ),
            bn.Case(
                PEER_NAME,
                "export-all --output-dir B; import-all --input-dir B (through "
                "mlflow server on each store)",
                peer,
                group="history",
            ),
            bn.Case(
                HANDOVER_SERVERS,
                "the handover commands with MLFLOW_TRACKING_URI on each server",
                ours(True),
                group="history",
            ),
        ]

    def measure_history(self, repeat: int) -> list[bn.Case]:
        log = self.bench.root / "source-server.log"
        with serving(self.bench, self.vendor / "mlflow.db", self.vendor / "mlruns", log) as src:
            self.source = src
            cases = self.history_cases()
            bn.measure(self.bench, "history", cases, repeat)
            self.info["legacy"] = self.try_legacy()
            self.info["source"] = self.count(self.vendor / "mlflow.db")
        return cases

    def try_legacy(self) -> dict[str, Any]:
        """mlflow-export-import 1.2.0, once, untimed: its exit codes, errors, what it moved."""
        bn.log(f"trying {LEGACY[0]} {LEGACY[1]} once")
        work = Path(tempfile.mkdtemp(prefix="legacy-", dir=self.bench.work))
        client = work / "client"
        client.mkdir()
        tools = self.legacy / "bin"
        outcome: dict[str, Any] = {"version": LEGACY[1]}
        try:
            with serving(
                self.bench, client / "mlflow.db", client / "mlruns", work / "target-server.log"
            ) as target:
                for step, args, url in (
                    (
                        "export-all",
                        [tools / "export-all", "--output-dir", work / "b"],
                        self.source.url,
                    ),
                    ("import-all", [tools / "import-all", "--input-dir", work / "b"], target.url),
                ):
                    env = {**self.bench.env, "MLFLOW_TRACKING_URI": url}
                    done = subprocess.run(
                        [str(a) for a in args],
                        cwd=work,
                        env=env,
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    lines = (done.stdout + done.stderr).splitlines()
                    errors = [ln.strip() for ln in lines if re.search(r"ERROR|Exception:", ln)]
                    outcome[step] = {"exit": done.returncode, "errors": list(dict.fromkeys(errors))}
            outcome["moved"] = self.count(client / "mlflow.db")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return outcome


# --- the report ----------------------------------------------------------------------------


def notable_lines(reports: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per step, each warning/error line of its output tail, with how many drills showed it."""
    found: dict[str, dict[str, int]] = {}
    for report in reports:
        base = str(Path(report["clone"].removesuffix(" (removed)")).parents[1])
        for step in report["steps"]:
            seen = set()
            for line in step["output"].splitlines():
                if NOTABLE.search(line) and not line.startswith("$ "):
                    text = STAMP.sub("", line.replace(base, "<drill>").strip())
                    text = re.sub(r"\s+", " ", text)[:200]
                    seen.add(text)
            for text in seen:
                found.setdefault(step["name"], {}).setdefault(text, 0)
                found[step["name"]][text] += 1
    return found


def drill_table(case: bn.Case, reports: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    fmt = bn.fmt
    steps = [s["name"] for s in reports[0]["steps"]]
    what = {s["name"]: "; ".join(s["commands"]) for s in reports[0]["steps"]}
    total = statistics.median(float(r["seconds"]) for r in reports)
    lines = [
        "| step | commands | median s | min s | max s | share of the drill |",
        "|---|---|---:|---:|---:|---:|",
    ]
    derived: dict[str, Any] = {"steps": {}}
    rows = [
        (
            name,
            [float(next(s for s in r["steps"] if s["name"] == name)["seconds"]) for r in reports],
        )
        for name in steps
    ]
    rest = [float(r["seconds"]) - sum(float(s["seconds"]) for s in r["steps"]) for r in reports]
    rows.append(("clone, the drill's own checks (total - steps)", rest))
    for name, values in rows:
        median = statistics.median(values)
        shown = what.get(name, "").replace("|", "\\|")
        shown = f"`{shown}`" if shown else ""
        lines.append(
            f"| {name} | {shown} | {fmt(median)} | {fmt(min(values))} | {fmt(max(values))} "
            f"| {median / total:.0%} |"
        )
        derived["steps"][name] = {"median": median, "min": min(values), "max": max(values)}
    totals = [float(r["seconds"]) for r in reports]
    verdict = "met" if case.median <= GOAL_SECONDS else "missed"
    lines.append(
        f"| **drill total (its report)** | | {fmt(total)} | {fmt(min(totals))} | "
        f"{fmt(max(totals))} | 100% |"
    )
    s = case.summary()
    lines.append(
        f"| **the process, `handover drill`** | | {fmt(case.median)} | {fmt(s['min'])} | "
        f"{fmt(s['max'])} | |"
    )
    lines.append(
        f"\nThe whole drill (the process, median): {fmt(case.median)} s against the goal of "
        f"<= {GOAL_SECONDS:.0f} s: {verdict}, {case.median / GOAL_SECONDS:.0%} of it."
    )
    derived["total"] = {"median": total, "min": min(totals), "max": max(totals)}
    derived["goal_seconds"] = GOAL_SECONDS
    derived["goal_met"] = case.median <= GOAL_SECONDS
    return "\n".join(lines), derived


def history_table(
    cases: dict[str, bn.Case], moved: dict[str, list[dict[str, Any]]], source: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    fmt, ratio = bn.fmt, bn.ratio
    lines = [
        "| tool | median s | min s | max s | export s | import s | cpu s | servers' cpu s | "
        + " | ".join(MOVED)
        + " |",
        "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(MOVED),
        "| (the vendor's store) | | | | | | | | "
        + " | ".join(str(source[k]) for k in MOVED)
        + " |",
    ]
    derived: dict[str, Any] = {"moved": moved, "source_store": source, "comparisons": []}
    for name, case in cases.items():
        s, p = case.summary(), case.phases()
        servers = p.get("export server cpu", 0.0) + p.get("import server cpu", 0.0)
        counts = []
        for key in MOVED:
            values = sorted({m[key] for m in moved[name]})
            counts.append("/".join(map(str, values)))
        lines.append(
            f"| {name} | {fmt(case.median)} | {fmt(s['min'])} | {fmt(s['max'])} | "
            f"{fmt(p['export'])} | {fmt(p['import'])} | {fmt(case.cpu)} | "
            f"{fmt(servers) if 'import' in p and servers else '-'} | {' | '.join(counts)} |"
        )
    lines += ["", "| item | peer | ratio | cpu ratio |", "|---|---|---:|---:|"]
    for item, peer in ((HANDOVER, PEER_NAME), (HANDOVER_SERVERS, PEER_NAME)):
        if item in cases and peer in cases:
            a, b = cases[item], cases[peer]
            lines.append(
                f"| {item} | {peer} | {ratio(a.median, b.median)} | {ratio(a.cpu, b.cpu)} |"
            )
            derived["comparisons"].append(
                {
                    "item": item,
                    "peer": peer,
                    "ratio": round(a.median / b.median, 3),
                    "cpu_ratio": round(a.cpu / b.cpu, 3) if b.cpu else None,
                }
            )
    return "\n".join(lines), derived


def legacy_text(outcome: dict[str, Any]) -> str:
    parts = [f"{LEGACY[0]} {outcome['version']}, the same export-all + import-all once:"]
    for step in ("export-all", "import-all"):
        got = outcome[step]
        first = got["errors"][0] if got["errors"] else "no error line"
        parts.append(f"  {step}: exit {got['exit']}; {len(got['errors'])} error lines; {first}")
    moved = outcome["moved"]
    parts.append("  moved: " + ", ".join(f"{k} {moved[k]}" for k in MOVED))
    return "\n".join(parts)


def versions(drill: DrillBench) -> dict[str, Any]:
    uv = quiet_run([BIN / "uv", "--version"], REPO, drill.bench.env).split()[1]
    return {
        "uv": uv,
        "peer": f"{PEER[0]} {PEER[1]}",
        "legacy_peer": f"{LEGACY[0]} {LEGACY[1]}",
        **drill.info,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="drills of the vendor project (3)")
    parser.add_argument(
        "--repeat-history", type=int, default=3, help="rounds of the history transfer (3)"
    )
    parser.add_argument("--only", default=",".join(GROUPS), help="groups: drill,history")
    parser.add_argument(
        "--bytecode",
        choices=("cached", "env"),
        default="cached",
        help=".pyc in a private prefix (cached, the default) or as the environment has it",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "drill-results.json",
        help="where to write the samples (default: bench/drill-results.json)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=HERE / ".cache" / "drill",
        help="uv's cache and the peers' venvs, kept between runs (default: bench/.cache/drill)",
    )
    args = parser.parse_args(argv)
    args.only = [g.strip() for g in args.only.split(",") if g.strip()]
    if not args.only or set(args.only) - set(GROUPS):
        parser.error(f"--only takes {','.join(GROUPS)}")
    if args.repeat < 1 or args.repeat_history < 1:
        parser.error("--repeat and --repeat-history must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("handover", "uv", "mlflow"):
        if not (BIN / tool).exists():
            print(f"error: {BIN / tool} not found: run with the project's .venv/bin/python")
            return 2
    started = time.monotonic()
    load_start = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="handover-bench-drill-"))
    cases: dict[str, bn.Case] = {}
    try:
        bench = bn.Bench(root, args.bytecode)
        drill = DrillBench(bench, args.cache.resolve(), args.only)
        tools = versions(drill)
        if "drill" in args.only:
            case = drill.drill_case()
            bn.measure(bench, "drill", [case], args.repeat)
            cases[case.name] = case
        if "history" in args.only:
            cases.update((c.name, c) for c in drill.measure_history(args.repeat_history))
    except bn.BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out: list[str] = []
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": bn.machine(),
        "tools": tools,
        "settings": {
            "repeat": args.repeat,
            "repeat_history": args.repeat_history,
            "bytecode": args.bytecode,
            "groups": args.only,
        },
    }
    if "drill" in args.only:
        table, derived = drill_table(cases["handover drill"], drill.reports)
        out.append(table)
        notable = notable_lines(drill.reports)
        result["drill"] = {
            **derived,
            "notable_output": notable,
            "runs": [
                {
                    "seconds": r["seconds"],
                    "process_seconds": r["process_seconds"],
                    "passed": r["passed"],
                    "commit": r["commit"],
                    "steps": [
                        {k: s[k] for k in ("name", "seconds", "verdict")} for s in r["steps"]
                    ],
                }
                for r in drill.reports
            ],
        }
        if notable:
            out.append("\nWarning and error lines in the steps' output (drills showing each):")
            for step, texts in notable.items():
                for text, n in sorted(texts.items(), key=lambda kv: -kv[1]):
                    out.append(f"  {step}: [{n}/{len(drill.reports)}] {text}")
    if "history" in args.only:
        hist = {k: v for k, v in cases.items() if v.group == "history"}
        table, derived = history_table(hist, drill.moved, drill.info["source"])
        out += ["", table, "", legacy_text(drill.info["legacy"])]
        result["history"] = derived
    total = time.monotonic() - started
    load_end = os.getloadavg()
    result.update(
        load_average={"start": load_start, "end": load_end},
        bench_seconds=round(total, 1),
        cases={name: case.summary() for name, case in cases.items()},
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("\n".join(out))
    print(
        f"\n{result['date']}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"uv {tools['uv']}, {PEER[0]} {PEER[1]}, bytecode {args.bytecode}, load average "
        f"{load_start[0]:.2f} -> {load_end[0]:.2f}, bench {total:.0f} s; samples in {args.json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
