"""Benchmark `handover audit` against sp-repo-review and mllint, on a small and a large repository.

Measured in one run, each command in a fresh subprocess, one untimed warm-up round, then item and
peers alternating round by round (so drift in the machine's load hits all of them):

- static: `handover audit --offline` on a project from `handover new --no-run`, against
  `repo-review` (sp-repo-review's checks) on the same repository;
- large: the same audit on a synthetic repository of 100,000 tracked files and 5,000 commits
  (built with `git fast-import`, cached), against repo-review and three git floors;
- mllint: mllint on both repositories (its wheel carries a Go binary);
- imports: `python -X importtime` of the audit path (module count, heavy packages it must not
  import);
- startup: `handover --help` and importing the audit path, against the bare interpreter.

The peers live in their own virtual environments under bench/.venv-peers (made on first use with
`uv`), so the project's environment stays clean. Nothing here asserts on time: it prints Markdown
tables (the README pastes them) and writes the samples to bench/audit-results.json.

    .venv/bin/python bench/bench_audit.py [--repeat N] [--only static,large,...] [--json FILE]
    .venv/bin/python bench/bench_audit.py --profile      # where the large audit's time goes

See bench/README.md, section "Audit: static and large repositories".
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import pstats
import random
import re
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
#: The interpreter running the bench is the project's venv: its bin/ holds handover and uv.
BIN = Path(sys.executable).parent
PEERS = REPO / "bench" / ".venv-peers"
REPO_REVIEW_BIN = PEERS / "repo-review" / "bin"
MLLINT_BIN = PEERS / "mllint" / "bin"
#: The large repository is cached here between runs (git-ignored by being outside the checkout).
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "handover-bench-cache"
#: Bump when the generator below changes: the cache directory's name includes it.
LARGE_VERSION = 1
GROUPS = ("static", "large", "mllint", "imports", "startup")
#: The issue's targets on a 2-core machine, shown next to the medians (not asserted).
TARGETS = {"audit static (generated)": 0.25, "audit large repo": 3.0}
#: Packages the audit path must not import (issue 4 and the audit spec).
FORBIDDEN = ("mlflow", "dvc", "copier", "pandas", "ruamel", "rich")
#: The spec names these too; they are reported, not part of the issue's list.
ALSO_HEAVY = ("markdown_it", "requests", "jinja2", "numpy", "sklearn", "sqlalchemy")
#: What a run may exit with: handover audit exits 1 below the fail-under level, repo-review
#: exits non-zero when a check fails; neither is an error of the run.
AUDIT_OK = (0, 1)
#: repo-review exits 3 when a check fails (2: nothing to check).
REPO_REVIEW_OK = (0, 3)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BenchError(Exception):
    """A measured command failed: its time would mean nothing, so the bench stops."""


@dataclass
class Sample:
    seconds: float
    cpu: float = 0.0


@dataclass
class Case:
    """One measured command, run as is in `cwd` (the audited repositories are read-only)."""

    name: str
    args: list[str]
    cwd: Path
    group: str
    ok: tuple[int, ...] | None = AUDIT_OK  # None: any exit code is a result (mllint)
    timeout: float | None = None
    samples: list[Sample] = field(default_factory=list)
    returncodes: list[int] = field(default_factory=list)
    output: str = ""

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    def shown(self) -> str:
        def short(arg: str) -> str:
            if arg.startswith(str(PEERS)) or arg.startswith(str(BIN)):
                return Path(arg).name
            return "<repo>" if arg == str(self.cwd) else arg

        return shlex.join(short(a) for a in self.args)

    def summary(self) -> dict[str, Any]:
        times = [s.seconds for s in self.samples]
        return {
            "command": self.shown(),
            "median": round(self.median, 3),
            "min": round(min(times), 3),
            "max": round(max(times), 3),
            "cpu_median": round(self.cpu, 3),
            "samples": [round(t, 3) for t in times],
            "cpu_samples": [round(s.cpu, 3) for s in self.samples],
            "exit_codes": sorted(set(self.returncodes)),
        }


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def isolated_env(root: Path, bytecode: str) -> dict[str, str]:
    """As in bench_new.py: no user git or DVC config; .pyc in a private prefix (see README)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DVC_", "MLFLOW_"))}
    env.pop("HANDOVER_TEMPLATE", None)
    env.pop("PYTHONPATH", None)
    gitconfig = root / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
    for name in ("dvc-site-cache", "dvc-global", "dvc-system"):
        (root / name).mkdir(exist_ok=True)
    env.update(
        PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        DVC_NO_ANALYTICS="1",
        DVC_STUDIO_OFFLINE="true",
        DVC_SITE_CACHE_DIR=str(root / "dvc-site-cache"),
        DVC_GLOBAL_CONFIG_DIR=str(root / "dvc-global"),
        DVC_SYSTEM_CONFIG_DIR=str(root / "dvc-system"),
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        NO_COLOR="1",
        COLUMNS="120",
    )
    if bytecode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def run(
    args: Sequence[str | Path],
    cwd: Path,
    env: dict[str, str],
    ok: tuple[int, ...] | None = (0,),
    timeout: float | None = None,
    input: bytes | None = None,
) -> tuple[Sample, subprocess.CompletedProcess[str]]:
    """Run a command; its wall time and the CPU seconds of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        result = subprocess.run(
            [str(a) for a in args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"`{shlex.join(map(str, args))}` took over {timeout} s") from None
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if ok is not None and result.returncode not in ok:
        output = (result.stderr.strip() or result.stdout.strip())[-3000:]
        raise BenchError(f"`{shlex.join(map(str, args))}` exited {result.returncode}:\n{output}")
    return Sample(seconds, cpu), result


# --- peers ---------------------------------------------------------------------------------


def uv(*args: str | Path) -> None:
    subprocess.run([sys.executable, "-m", "uv", *map(str, args)], check=True)


def python39() -> str:
    """An interpreter mllint has wheels for (CPython 3.6-3.9): mllint 0.12.2 ships no cp310+."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    found += [p for p in (shutil.which("python3.9"), shutil.which("python3.8")) if p]
    for candidate in found:
        probe = subprocess.run([candidate, "-V"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return "3.9"  # let uv find or download one


def ensure_peers(want_mllint: bool) -> None:
    """Make the peers' virtual environments on first use (uv; bytecode compiled)."""
    if not (REPO_REVIEW_BIN / "repo-review").exists():
        log("installing sp-repo-review + repo-review[cli] into bench/.venv-peers/repo-review")
        uv("venv", "-q", "--python", sys.executable, PEERS / "repo-review")
        uv(
            "pip", "install", "-q", "--compile-bytecode", "--python",
            REPO_REVIEW_BIN / "python", "sp-repo-review", "repo-review[cli]",
        )  # fmt: skip
    if want_mllint and not (MLLINT_BIN / "mllint").exists():
        log("installing mllint (a Python 3.9 venv) into bench/.venv-peers/mllint")
        uv("venv", "-q", "--python", python39(), PEERS / "mllint")
        uv(
            "pip", "install", "-q", "--compile-bytecode", "--only-binary", "mllint",
            "--python", MLLINT_BIN / "python", "mllint",
        )  # fmt: skip


def dist_version(python: Path, dist: str) -> str | None:
    if not python.exists():
        return None
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


# --- the repositories ----------------------------------------------------------------------


def generate_project(root: Path, env: dict[str, str]) -> Path:
    """A project from `handover new --no-run` (the checkout's template), committed."""
    dest = root / "generated" / "project"
    dest.parent.mkdir(parents=True)
    log("generating a project with `handover new --no-run`")
    run([BIN / "handover", "new", dest, "--defaults", "--no-run"], dest.parent, env)
    return dest


AUTHORS = [
    *(f"Client Person {i} <person{i}@acme.example>" for i in range(1, 7)),
    *(f"Vendor Person {i} <dev{i}@vendor.example>" for i in range(1, 5)),
]


def bulk_path(k: int) -> str:
    """Path of the k-th synthetic file: a monorepo of 250 components, 400 files each."""
    comp = f"components/comp_{k // 400:03d}"
    kind = k % 10
    if kind < 6:
        return f"{comp}/src/comp_{k // 400:03d}/module_{k:06d}.py"
    if kind < 8:
        return f"{comp}/tests/test_module_{k:06d}.py"
    if kind == 8:
        return f"{comp}/docs/note_{k:06d}.md"
    return f"{comp}/configs/config_{k:06d}.yaml"


def bulk_content(k: int, rev: int) -> bytes:
    """A few hundred bytes of plausible text; `rev` changes it for each modifying commit."""
    kind = k % 10
    if kind < 8:
        body = "".join(
            f"def step_{k}_{j}(rows, scale={j + rev}):\n"
            f'    """Transform rows for component {k // 400} (revision {rev})."""\n'
            f"    return [r * scale + {k % 97} for r in rows]\n\n\n"
            for j in range(3)
        )
        text = f'"""Module {k}."""\n\nfrom __future__ import annotations\n\n\n{body}'
    elif kind == 8:
        text = (
            f"# Note {k}\n\nComponent {k // 400} keeps its feature logic here. Revision {rev}.\n"
            f"\n## Decisions\n\n- inputs are validated upstream\n- outputs are versioned\n"
        )
    else:
        text = f"component: comp_{k // 400:03d}\nrevision: {rev}\nfeatures:\n" + "".join(
            f"  - name: f_{k}_{j}\n    weight: 0.{(k + j + rev) % 100:02d}\n" for j in range(6)
        )
    return text.encode()


def fast_import_stream(
    write: Callable[[bytes], Any], seed_files: list[tuple[str, str, bytes]], files: int,
    commits: int, end: int,
) -> None:  # fmt: skip
    """Write a linear history: commit 1 = the generated project + half the bulk; each later
    commit adds its share of the other half and modifies 5 earlier files, so HEAD tracks
    `len(seed_files) + files - len(seed_files)` = `files` paths."""
    rng = random.Random(4)
    bulk = files - len(seed_files)
    first = bulk // 2
    span = 2 * 365 * 86400
    revs: dict[int, int] = {}

    def add(mode: str, path: str, data: bytes) -> None:
        write(f"M {mode} inline {path}\ndata {len(data)}\n".encode() + data + b"\n")

    added = 0
    for i in range(commits):
        when = end - span + span * i // max(commits - 1, 1)
        author = AUTHORS[rng.randrange(len(AUTHORS))]
        message = f"Change {i + 1}: update components\n".encode()
        write(
            f"commit refs/heads/main\nauthor {author} {when} +0000\n"
            f"committer {author} {when} +0000\ndata {len(message)}\n".encode()
            + message
        )
        if i == 0:
            for mode, path, data in seed_files:
                add(mode, path, data)
            target = first
        else:
            target = first + (bulk - first) * i // max(commits - 1, 1)
            for _ in range(min(5, added)):
                k = rng.randrange(added)
                revs[k] = revs.get(k, 0) + 1
                add("100644", bulk_path(k), bulk_content(k, revs[k]))
        while added < target:
            add("100644", bulk_path(added), bulk_content(added, 0))
            added += 1
        write(b"\n")
    write(b"done\n")


def large_repo(
    cache: Path, seed: Path, files: int, commits: int, rebuild: bool
) -> tuple[Path, dict[str, Any]]:
    """The synthetic repository, built once with `git fast-import` and reused from the cache."""
    path = cache / f"large-{files}f-{commits}c-v{LARGE_VERSION}"
    meta_file = path.parent / (path.name + ".json")
    if not rebuild and meta_file.is_file() and (path / ".git").is_dir():
        meta = json.loads(meta_file.read_text())
        meta["cached"] = True
        log(f"large repository: reusing {path} (built in {meta['build_seconds']['total']} s)")
        return path, meta
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    log(f"large repository: building {files} files / {commits} commits in {path}")
    genv = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    phases: dict[str, float] = {}
    start = time.perf_counter()
    listing = subprocess.run(
        ["git", "-C", seed, "ls-files", "-s", "-z"], capture_output=True, text=True, check=True
    ).stdout
    seed_files = []
    for entry in filter(None, listing.split("\0")):
        info, name = entry.split("\t", 1)
        mode = info.split()[0]
        data = os.readlink(seed / name).encode() if mode == "120000" else (seed / name).read_bytes()
        seed_files.append((mode, name, data))
    subprocess.run(["git", "init", "-q", "-b", "main", path], check=True, env=genv)
    importer = subprocess.Popen(
        ["git", "-C", path, "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE, env=genv
    )
    assert importer.stdin is not None
    buffer: list[bytes] = []
    size = 0

    def write(chunk: bytes) -> None:
        nonlocal size
        buffer.append(chunk)
        size += len(chunk)
        if size > 1 << 20:
            importer.stdin.write(b"".join(buffer))  # type: ignore[union-attr]
            buffer.clear()
            size = 0

    fast_import_stream(write, seed_files, files, commits, int(time.time()))
    importer.stdin.write(b"".join(buffer))
    importer.stdin.close()
    if importer.wait() != 0:
        raise BenchError("git fast-import failed")
    phases["fast-import"] = time.perf_counter() - start
    for label, args in (
        ("checkout", ["reset", "-q", "--hard", "main"]),
        ("repack", ["repack", "-a", "-d", "-q"]),
    ):
        t0 = time.perf_counter()
        subprocess.run(["git", "-C", path, *args], check=True, env=genv)
        phases[label] = time.perf_counter() - t0
    # Files written in the same second as the index are "racily clean": git would re-hash them
    # on every status. Rewrite the index a moment later, as any later git command would.
    time.sleep(1.1)
    t0 = time.perf_counter()
    subprocess.run(
        ["git", "-C", path, "update-index", "-q", "--really-refresh"], check=False, env=genv
    )
    phases["index refresh"] = time.perf_counter() - t0
    phases["total"] = time.perf_counter() - start
    count = subprocess.run(
        ["git", "-C", path, "ls-files"], capture_output=True, text=True, check=True, env=genv
    ).stdout.count("\n")
    revs = subprocess.run(
        ["git", "-C", path, "rev-list", "--count", "HEAD"],
        capture_output=True, text=True, check=True, env=genv,
    ).stdout.strip()  # fmt: skip
    pack = sum(p.stat().st_size for p in (path / ".git" / "objects" / "pack").glob("*.pack"))
    meta = {
        "path": str(path),
        "generator_version": LARGE_VERSION,
        "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tracked_files": count,
        "commits": int(revs),
        "seed_files_from_generated_project": len(seed_files),
        "pack_mb": round(pack / 1e6, 1),
        "build_seconds": {k: round(v, 2) for k, v in phases.items()},
        "cached": False,
    }
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    log(f"large repository: built in {phases['total']:.1f} s ({count} files, {revs} commits)")
    return path, meta


# --- measuring -----------------------------------------------------------------------------


def measure(group: str, cases: list[Case], env: dict[str, str], repeat: int) -> None:
    """Warm up, then one run of every case per round, so drift hits item and peers alike."""
    for round_no in range(repeat + 1):
        log(f"{group}: {'warm-up' if round_no == 0 else f'round {round_no}/{repeat}'}")
        for case in cases:
            sample, result = run(case.args, case.cwd, env, case.ok, case.timeout)
            # The last round's output is kept (what the tools reported, e.g. their own timing).
            case.output = ANSI.sub("", result.stdout + "\n" + result.stderr)
            if round_no:
                case.samples.append(sample)
                case.returncodes.append(result.returncode)


def audit_args(path: Path) -> list[str]:
    return [str(BIN / "handover"), "audit", "--offline", str(path)]


def repo_review_args(path: Path) -> list[str]:
    return [str(REPO_REVIEW_BIN / "repo-review"), str(path)]


def mllint_args(path: Path) -> list[str]:
    # mllint joins a path argument to the working directory even when it is absolute: run it in
    # the repository without one.
    return [str(MLLINT_BIN / "mllint")]


def audit_counts(output: str) -> dict[str, Any]:
    """What the audit reported: its 'N checks in S s' line and the headline level."""
    found: dict[str, Any] = {}
    if m := re.search(r"(\d+) checks? in ([\d.]+) s", output):
        found["checks"] = int(m.group(1))
        found["reported_seconds"] = float(m.group(2))
    if m := re.search(r"readiness of .*?: (L\d[^\n]*)", output):
        found["level"] = m.group(1).strip()
    return found


def repo_review_counts(output: str) -> dict[str, int]:
    return {
        "passed": output.count("✅"),
        "failed": output.count("❌"),
        "skipped": output.count("[skipped]"),
    }


def mllint_summary(case: Case) -> dict[str, Any]:
    """What mllint did: its per-category scores, or its error."""
    text = case.output
    categories = re.findall(r"\d+\.\d+\.\d+ ([^\n]+?) — ([\d.]+)%", text)
    errors = [
        line.strip() for line in text.splitlines() if re.search(r"error|fail|panic", line, re.I)
    ][:10]
    rules = re.findall(r"│\s*(✅|❌)\s*│\s*([\d.]+)%│\s*\d+│[^│]*│([\w/.-]+)\s*│", text)
    done = re.findall(r"Done - (.+) \(([\d.]+ [µm]?s)\)\s*$", text, re.MULTILINE)
    return {
        "exit_codes": sorted(set(case.returncodes)),
        "categories": {name: float(score) for name, score in categories},
        "rules": {slug: float(score) for _, score, slug in rules},
        "phases_reported": {name: took for name, took in done},
        "error_lines": errors,
        "python_files": int(m.group(1))
        if (m := re.search(r"Number of Python files\s*│\s*(\d+)", text))
        else None,
    }


def imports_check(project: Path, env: dict[str, str], repeat: int) -> dict[str, Any]:
    """`python -X importtime` of `handover audit --offline`: what the audit path imports."""
    code = (
        "import sys; from mlops_handover.cli import main; "
        "sys.argv = ['handover', 'audit', '--offline']; sys.exit(main())"
    )
    args = [sys.executable, "-X", "importtime", "-c", code]
    runs = []
    for _ in range(repeat + 1):
        _, result = run(args, project, env, AUDIT_OK)
        runs.append(result.stderr)
    modules: dict[str, tuple[int, int]] = {}
    for line in runs[-1].splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            modules[m.group(4)] = (int(m.group(1)), int(m.group(2)))
    baseline_out = run([sys.executable, "-X", "importtime", "-c", "pass"], project, env)[1]
    baseline = {
        m.group(1)
        for m in re.finditer(r"import time:\s+\d+ \|\s+\d+ \| *(\S+)", baseline_out.stderr)
    }
    tops = {name.split(".")[0] for name in modules}
    cumulative = sorted(modules.items(), key=lambda kv: -kv[1][1])
    own = [(n, v) for n, v in cumulative if n.startswith("mlops_handover")]
    return {
        "modules_imported": len(modules),
        "modules_beyond_bare_interpreter": len(set(modules) - baseline),
        "forbidden_imported": sorted(p for p in FORBIDDEN if p in tops),
        "other_heavy_imported": sorted(p for p in ALSO_HEAVY if p in tops),
        "self_ms_total": round(sum(v[0] for v in modules.values()) / 1000, 1),
        "top_cumulative_ms": {n: round(v[1] / 1000, 1) for n, v in cumulative[:12]},
        "mlops_handover_cumulative_ms": {n: round(v[1] / 1000, 1) for n, v in own[:12]},
    }


PROFILE_CODE = """
import cProfile, json, sys, time
from mlops_handover.audit import engine, fixtures
from mlops_handover.audit.model import all_checks
from mlops_handover.cli import main

all_checks()  # registers the checks and the fixtures of the evidence modules


class Serial:  # checks one after the other, in this thread: cProfile sees them, times add up
    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, items):
        return list(map(fn, items))


timings = {"checks": {}, "fixtures": {}}


def timed(kind, name, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[kind][name] = timings[kind].get(name, 0.0) + time.perf_counter() - start
    return wrapper


engine.ThreadPoolExecutor = Serial
run_check = engine.run_check
engine.run_check = lambda check, context: timed("checks", check.id(), run_check)(check, context)
for name, fn in list(fixtures._FIXTURES.items()):
    fixtures._FIXTURES[name] = timed("fixtures", name, fn)
sys.argv = ["handover", "audit", "--offline"]
prof = cProfile.Profile() if __CPROFILE__ else None
if prof:
    prof.enable()
try:
    main()
except SystemExit:
    pass
if prof:
    prof.disable()
    prof.dump_stats(__OUT__)
with open(__TIMINGS__, "w") as f:
    json.dump(timings, f)
"""


def profile(path: Path, env: dict[str, str], work: Path) -> dict[str, Any]:
    """Where one audit of `path` goes: git commands (GIT_TRACE_PERFORMANCE), each check and
    fixture (wall time), and Python functions (cProfile).

    The checks run one after the other here (the engine's thread pool is replaced), so that
    cProfile sees them and the times add up; a fixture's time is also in the first check that
    asked for it. Wall time is therefore above the threaded audit's.
    """
    trace = work / f"git-trace-{path.name}.txt"
    stats_file = work / f"audit-{path.name}.prof"
    timings_file = work / f"timings-{path.name}.json"
    trace.unlink(missing_ok=True)
    penv = {**env, "GIT_TRACE_PERFORMANCE": str(trace)}

    def code(cprofile: bool) -> str:
        text = PROFILE_CODE.replace("__OUT__", repr(str(stats_file)))
        text = text.replace("__CPROFILE__", repr(cprofile))
        return text.replace("__TIMINGS__", repr(str(timings_file)))

    # First without cProfile: its overhead (several times on path-heavy code) would skew the
    # check and fixture times. Then with it, for the functions.
    sample, result = run([sys.executable, "-c", code(False)], path, penv, None)
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    run([sys.executable, "-c", code(True)], path, env, None)

    def slowest(kind: str) -> dict[str, float]:
        items = sorted(timings.get(kind, {}).items(), key=lambda kv: -kv[1])
        return {name: round(seconds, 4) for name, seconds in items}

    git_calls = []
    for line in trace.read_text(errors="replace").splitlines() if trace.exists() else []:
        m = re.search(r"performance: ([\d.]+) s: +git command: (.*)$", line)
        if m:
            command = re.sub(r"^'?\S*git'? ", "git ", m.group(2))
            git_calls.append((float(m.group(1)), command[:200]))
    git_calls.sort(reverse=True)
    top: list[dict[str, Any]] = []
    if stats_file.exists():
        stats = pstats.Stats(str(stats_file))
        rows = []
        for (filename, line, func), (_, _, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
            if "mlops_handover" in filename or func in {"communicate", "_communicate"}:
                short = filename.split("site-packages/")[-1].split("src/")[-1]
                rows.append((ct, tt, f"{short}:{line}({func})"))
        rows.sort(reverse=True)
        top = [
            {"function": f, "cumulative_s_under_cprofile": round(c, 3), "self_s": round(t, 3)}
            for c, t, f in rows[:20]
        ]
    return {
        "wall_seconds_serial": round(sample.seconds, 3),
        "exit_code": result.returncode,
        "stderr_tail": result.stderr[-500:] if result.returncode not in AUDIT_OK else "",
        "check_seconds_serial": slowest("checks"),
        "fixture_seconds": slowest("fixtures"),
        "git_commands_total_s": round(sum(s for s, _ in git_calls), 3),
        "git_commands": [{"seconds": s, "command": c} for s, c in git_calls[:25]],
        "git_command_count": len(git_calls),
        "python_cumulative": top,
    }


# --- reporting -----------------------------------------------------------------------------


def fmt(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds >= 0.1 else f"{seconds:.3f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


#: Floors of the large repository's audit: git passes that no audit of it can avoid. Every
#: object's type and size (the large-blob check; `git rev-list --objects --all | git cat-file
#: --batch-check`, the usual recipe, walks 5,000 trees and is several times slower), and one
#: pass over the tracked files' content (the secret scan), with a string found nowhere.
OBJECTS = ["git", "cat-file", "--batch-all-objects", "--unordered", "--batch-check"]
GREP = ["git", "grep", "--cached", "-I", "-c", "-F", "-e", "zq-found-nowhere-qz"]

#: What `handover audit` imports before it looks at a repository: the CLI, the engine, the
#: report and every check module (with their fixtures).
IMPORT_AUDIT = (
    "import mlops_handover.cli; from mlops_handover.audit import engine, reports; "
    "from mlops_handover.audit.model import all_checks; all_checks()"
)

PAIRS = [
    ("audit static (generated)", "repo-review (generated)"),
    ("audit static (generated)", "mllint (generated)"),
    ("audit large repo", "repo-review (large)"),
    ("audit large repo", "mllint (large)"),
    ("audit large repo", "git ls-files (large)"),
    ("audit large repo", "git objects and sizes (large)"),
    ("audit large repo", "git grep tracked content (large)"),
    ("import the audit path", "python -c pass"),
    ("handover --help", "python -c pass"),
]


def report(cases: dict[str, Case]) -> tuple[str, list[dict[str, Any]]]:
    lines = [
        "| measured | median s | min s | max s | cpu s | peer | peer median s | peer cpu s "
        "| ratio | cpu ratio | target |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    derived = []
    for item, peer in PAIRS:
        if item not in cases or peer not in cases:
            continue
        a, b = cases[item], cases[peer]
        s = a.summary()
        target = TARGETS.get(item)
        shown = f"<= {target:g} s ({'met' if a.median <= target else 'missed'})" if target else ""
        lines.append(
            f"| {item} | {fmt(a.median)} | {fmt(s['min'])} | {fmt(s['max'])} | {fmt(a.cpu)} | "
            f"{peer} | {fmt(b.median)} | {fmt(b.cpu)} | {ratio(a.median, b.median)} | "
            f"{ratio(a.cpu, b.cpu)} | {shown} |"
        )
        derived.append(
            {
                "item": item,
                "peer": peer,
                "ratio": round(a.median / b.median, 3),
                "cpu_ratio": round(a.cpu / b.cpu, 3) if b.cpu else None,
                "target": target,
                "met": a.median <= target if target else None,
            }
        )
    return "\n".join(lines), derived


def machine() -> dict[str, Any]:
    import importlib.metadata

    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git": git.stdout.strip(),
        "versions": {
            "mlops-handover": importlib.metadata.version("mlops-handover"),
            "repo-review": dist_version(REPO_REVIEW_BIN / "python", "repo-review"),
            "sp-repo-review": dist_version(REPO_REVIEW_BIN / "python", "sp-repo-review"),
            "mllint": dist_version(MLLINT_BIN / "python", "mllint"),
            "mllint_python": (
                subprocess.run(
                    [MLLINT_BIN / "python", "-V"], capture_output=True, text=True, check=False
                ).stdout.strip()
                if (MLLINT_BIN / "python").exists()
                else None
            ),
        },
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per case (5)")
    parser.add_argument(
        "--repeat-mllint", type=int, default=5, help="timed rounds of mllint (5; it is slow)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path(__file__).resolve().parent / "audit-results.json",
        help="where to write the samples (default: bench/audit-results.json)",
    )
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"groups to run (default: {','.join(GROUPS)})"
    )
    parser.add_argument("--files", type=int, default=100_000, help="large repo: tracked files")
    parser.add_argument("--commits", type=int, default=5_000, help="large repo: commits")
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"large repo cache (default {DEFAULT_CACHE})",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the large repository")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one audit of each repository (git trace + cProfile) into the JSON",
    )
    parser.add_argument(
        "--mllint-timeout", type=float, default=600.0, help="seconds before an mllint run fails"
    )
    parser.add_argument("--bytecode", choices=("cached", "env"), default="cached")
    args = parser.parse_args(argv)
    args.only = [g.strip() for g in args.only.split(",") if g.strip()]
    if unknown := set(args.only) - set(GROUPS):
        parser.error(f"unknown group(s) {sorted(unknown)}; choose from {', '.join(GROUPS)}")
    if args.repeat < 1 or args.repeat_mllint < 1:
        parser.error("--repeat and --repeat-mllint must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (BIN / "handover").exists():
        print(f"error: {BIN / 'handover'} not found: run with the project's .venv/bin/python")
        return 2
    started = time.monotonic()
    load_start = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="handover-bench-audit-"))
    cases: dict[str, Case] = {}
    extra: dict[str, Any] = {}
    try:
        ensure_peers(want_mllint="mllint" in args.only)
        env = isolated_env(root, args.bytecode)
        project = generate_project(root, env)
        extra["generated_project"] = {
            "tracked_files": run(["git", "ls-files"], project, env)[1].stdout.count("\n")
        }
        large: Path | None = None
        if {"large", "mllint"} & set(args.only) or args.profile:
            large, meta = large_repo(args.cache, project, args.files, args.commits, args.rebuild)
            extra["large_repo"] = meta
        groups: dict[str, list[Case]] = {}
        if "static" in args.only:
            groups["static"] = [
                Case("audit static (generated)", audit_args(project), project, "static"),
                Case(
                    "repo-review (generated)",
                    repo_review_args(project),
                    project,
                    "static",
                    REPO_REVIEW_OK,
                ),
            ]
        if "large" in args.only and large is not None:
            groups["large"] = [
                Case("audit large repo", audit_args(large), large, "large"),
                Case(
                    "repo-review (large)", repo_review_args(large), large, "large", REPO_REVIEW_OK
                ),
                Case("git ls-files (large)", ["git", "ls-files", "-z"], large, "large", (0,)),
                Case("git objects and sizes (large)", OBJECTS, large, "large", (0,)),
                Case("git grep tracked content (large)", GREP, large, "large", (0, 1)),
            ]
        if "mllint" in args.only and large is not None:
            groups["mllint"] = [
                Case("mllint (generated)", mllint_args(project), project, "mllint", None,
                     args.mllint_timeout),
                Case("mllint (large)", mllint_args(large), large, "mllint", None,
                     args.mllint_timeout),
            ]  # fmt: skip
        if "startup" in args.only:
            groups["startup"] = [
                Case("handover --help", [str(BIN / "handover"), "--help"], root, "startup", (0,)),
                Case("python -c pass", [sys.executable, "-c", "pass"], root, "startup", (0,)),
                Case(
                    "import the audit path",
                    [sys.executable, "-c", IMPORT_AUDIT],
                    root,
                    "startup",
                    (0,),
                ),
            ]
        # A group whose command fails (the checks are work in progress) is recorded as an
        # error and the other groups still run.
        errors: dict[str, str] = {}
        for group, group_cases in groups.items():
            repeat = args.repeat_mllint if group == "mllint" else args.repeat
            try:
                measure(group, group_cases, env, repeat)
            except BenchError as error:
                log(f"{group}: failed, skipped: {error}")
                errors[group] = str(error)
                continue
            cases.update((c.name, c) for c in group_cases)
        try:
            if "imports" in args.only:
                log("imports: python -X importtime handover audit --offline")
                extra["imports"] = imports_check(project, env, 1)
        except BenchError as error:
            errors["imports"] = str(error)
        if args.profile:
            log("profile: one audit of each repository with GIT_TRACE_PERFORMANCE and cProfile")
            extra["profile"] = {"generated": profile(project, env, root)}
            if large is not None:
                extra["profile"]["large"] = profile(large, env, root)
        if errors:
            extra["errors"] = errors
        status = run(["git", "status", "--porcelain"], project, env)[1].stdout
        if status.strip():
            log(f"warning: a measured command changed the generated project:\n{status}")
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table, comparisons = report(cases)
    for name, case in cases.items():
        if name.startswith("audit "):
            extra.setdefault("audit_output", {})[name] = audit_counts(case.output)
        elif name.startswith("repo-review"):
            extra.setdefault("repo_review_output", {})[name] = repo_review_counts(case.output)
        elif name.startswith("mllint"):
            extra.setdefault("mllint_output", {})[name] = mllint_summary(case)
    total = time.monotonic() - started
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "repeat": args.repeat,
            "repeat_mllint": args.repeat_mllint,
            "bytecode": args.bytecode,
            "groups": args.only,
            "files": args.files,
            "commits": args.commits,
        },
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "bench_seconds": round(total, 1),
        "cases": {name: case.summary() for name, case in cases.items()},
        "comparisons": comparisons,
        **extra,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table)
    print()
    for key in ("errors", "generated_project", "large_repo", "audit_output", "repo_review_output",
                "mllint_output", "imports"):  # fmt: skip
        if key in extra:
            print(f"{key}: {json.dumps(extra[key], indent=1)}")
    for name, prof in extra.get("profile", {}).items():
        serial = prof["wall_seconds_serial"]
        print(f"\nprofile of the {name} repository (checks in series, {serial} s):")
        print("  checks:  ", list(prof["check_seconds_serial"].items())[:8])
        print("  fixtures:", list(prof["fixture_seconds"].items())[:6])
        print(f"  git: {prof['git_command_count']} commands, {prof['git_commands_total_s']} s;")
        for call in prof["git_commands"][:5]:
            print(f"    {call['seconds']:.3f} s  {call['command'][:110]}")
        for row in prof["python_cumulative"][:12]:
            print(f"    {row['cumulative_s_under_cprofile']:7.3f} s  {row['function']}")
    print(
        f"\n{result['date']}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"bytecode {args.bytecode}, load average {load_start[0]:.2f} -> {os.getloadavg()[0]:.2f}, "
        f"bench {total:.0f} s; samples in {args.json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
