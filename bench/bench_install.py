"""Benchmark installing mlops-handover (base against [generate]) and a generated project's setup.

Why: the base install is the audit side (`handover audit`, `checks`, `explain`, `card`,
`decision new`) that CI jobs and reviewers install on every run; `[generate]` adds Copier, DVC,
scikit-learn, pandas and MLflow for `handover new`, `update` and `adopt`. The ratio
[generate] / base, with pip and with uv, is what a job that only audits saves.

The wheel is built once from the checkout (`uv build --wheel`). Each sample installs it into a
fresh virtual environment made untimed in a fresh directory, `python -m venv` (with its own pip)
for pip and `uv venv` for uv; only the install command is timed. Both installers use a cache of
their own under bench/.cache/install/ (git-ignored), which the untimed warm-up round fills, so
every timed install is a warm-cache install that still asks the index whether anything is newer.
The setup items time a generated project's README setup, in a fresh copy of a rendered project:
uv (`uv venv`, `uv pip sync requirements.lock`, `uv pip install --no-deps -e .`) against the
pip fallback the README gives, the lock's `handover` found in the wheel's folder (UV_FIND_LINKS,
PIP_FIND_LINKS) as it would be on PyPI. The items alternate round by round. Nothing here
asserts on time: it prints Markdown tables (the README pastes them) and writes the samples to
bench/install-results.json.

    .venv/bin/python bench/bench_install.py [--repeat N] [--json FILE]

See bench/README.md, section "Install".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
# The shared machinery (Bench, Case, Sample, measure; quiet_run for untimed set-up) is imported.
import bench_new as bn  # noqa: E402
from bench_update import quiet_run  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from test_ci_files import readme_setup  # noqa: E402

BIN = bn.BIN
HEAVY = ("copier", "dvc", "mlflow", "pandas", "sklearn")
INSTALLERS = ("pip", "uv")
EXTRAS = ("base", "[generate]")
SETUP = {"uv": "setup uv (README)", "pip": "setup pip (README fallback)"}
#: What a sample's venv holds once installed: distributions, bytes, the heavy modules found.
INSPECT = """\
import importlib.metadata as m, importlib.util as u, json, sys, sysconfig
from pathlib import Path
site = Path(sysconfig.get_paths()["purelib"])
size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
names = sorted({d.metadata["Name"] for d in m.distributions()})
heavy = [h for h in sys.argv[1:] if u.find_spec(h)]
print(json.dumps({"names": names, "bytes": size, "heavy": heavy}))
"""


class InstallBench:
    """The wheel, built once, and what each item's environment ends up holding."""

    def __init__(self, bench: bn.Bench, cache: Path) -> None:
        self.bench = bench
        env = bench.env
        # pip as a user runs it: .pyc compiled into site-packages, no extra wheel directory.
        for key in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE", "PIP_FIND_LINKS"):
            env.pop(key, None)
        env.update(PIP_CACHE_DIR=str(cache / "pip"), UV_CACHE_DIR=str(cache / "uv"))
        dist = bench.root / "dist"
        quiet_run([BIN / "uv", "build", "--wheel", "--quiet", "--out-dir", dist], REPO, env)
        (self.wheel,) = dist.glob("mlops_handover-*.whl")
        #: Per item, from its first run: the distributions it added and their size.
        self.installed: dict[str, dict[str, Any]] = {}

    def inspect(self, python: Path, workdir: Path) -> dict[str, Any]:
        return json.loads(quiet_run([python, "-c", INSPECT, *HEAVY], workdir, self.bench.env))

    def case(self, installer: str, extra: str) -> bn.Case:
        name = f"{installer} install {extra}"
        suffix = "" if extra == "base" else extra
        target = f"{self.wheel}{suffix}"
        command = "python -m pip install" if installer == "pip" else "uv pip install --python VENV"
        shown = f"{command} {self.wheel.name}{suffix}"

        def run(workdir: Path) -> bn.Sample:
            venv = workdir / "venv"
            python = venv / "bin" / "python"
            env = self.bench.env
            if installer == "pip":
                quiet_run([sys.executable, "-m", "venv", venv], workdir, env)
                args: list[str | Path] = [python, "-m", "pip", "install", "--quiet", target]
            else:
                quiet_run([BIN / "uv", "venv", "--quiet", "--python", sys.executable, venv],
                          workdir, env)  # fmt: skip
                args = [BIN / "uv", "pip", "install", "--quiet", "--python", python, target]
            before = self.inspect(python, workdir)
            seconds, _ = self.bench.run(args, workdir)
            after = self.inspect(python, workdir)
            expected = [] if extra == "base" else list(HEAVY)
            if after["heavy"] != expected:
                raise bn.BenchError(f"{name}: found {after['heavy']}, expected {expected}")
            self.installed.setdefault(
                name,
                {
                    "distributions": len(set(after["names"]) - set(before["names"])),
                    "megabytes": round((after["bytes"] - before["bytes"]) / 1e6, 1),
                },
            )
            return bn.Sample(seconds)

        return bn.Case(name, shown, run)

    def rendered_project(self) -> Path:
        """The default answers' project, rendered once (no post-copy task: files only)."""
        import copier

        project = self.bench.root / "rendered" / "demo-model"
        copier.run_copy(str(REPO), str(project), defaults=True, vcs_ref="HEAD", quiet=True,
                        skip_tasks=True)  # fmt: skip
        return project

    def setup_case(self, installer: str, project: Path) -> bn.Case:
        """The generated README's setup, uv or its pip fallback, in a fresh copy of `project`."""
        readme = (project / "README.md").read_text(encoding="utf-8")
        if installer == "uv":
            commands = readme_setup(project)
        else:
            block = readme.split("Without uv, pip", 1)[1].split("```bash\n", 1)[1]
            commands = block.split("```", 1)[0].strip().splitlines()
        script = " && ".join(commands)
        wheels = str(self.wheel.parent)

        def run(workdir: Path) -> bn.Sample:
            copy = workdir / project.name
            shutil.copytree(project, copy)
            env = {**self.bench.env, "UV_FIND_LINKS": wheels, "PIP_FIND_LINKS": wheels}
            env["PATH"] = os.pathsep.join([str(BIN), env["PATH"]])  # uv, as the README assumes
            seconds, _ = self.bench.run(["bash", "-c", script], copy, env=env)
            if not (copy / ".venv" / "bin" / "handover").exists():
                raise bn.BenchError(f"{SETUP[installer]}: no handover in the environment")
            return bn.Sample(seconds)

        return bn.Case(SETUP[installer], script, run)

    def cases(self) -> list[bn.Case]:
        installs = [self.case(installer, extra) for installer in INSTALLERS for extra in EXTRAS]
        project = self.rendered_project()
        return installs + [self.setup_case(installer, project) for installer in INSTALLERS]


def report(cases: dict[str, bn.Case], installed: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Markdown tables for the terminal and the README, and the derived numbers for the JSON."""
    fmt, ratio = bn.fmt, bn.ratio
    lines = [
        "| install | median s | min s | max s | cpu s | distributions | MB installed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases.values():
        s, got = case.summary(), installed.get(case.name)
        added = f"{got['distributions']} | {got['megabytes']:.1f}" if got else "(the lock) | -"
        lines.append(
            f"| {case.name} | {fmt(case.median)} | {fmt(s['min'])} | {fmt(s['max'])} | "
            f"{fmt(case.cpu)} | {added} |"
        )
    pairs = [(f"{i} install [generate]", f"{i} install base") for i in INSTALLERS]
    pairs += [(f"pip install {extra}", f"uv install {extra}") for extra in EXTRAS]
    pairs.append((SETUP["pip"], SETUP["uv"]))
    lines += ["", "| item | peer | ratio | cpu ratio |", "|---|---|---:|---:|"]
    derived: dict[str, Any] = {"installed": installed, "comparisons": []}
    for item, peer in pairs:
        a, b = cases[item], cases[peer]
        lines.append(f"| {item} | {peer} | {ratio(a.median, b.median)} | {ratio(a.cpu, b.cpu)} |")
        derived["comparisons"].append(
            {
                "item": item,
                "peer": peer,
                "ratio": round(a.median / b.median, 3),
                "cpu_ratio": round(a.cpu / b.cpu, 3) if b.cpu else None,
            }
        )
    return "\n".join(lines), derived


def versions(bench: bn.Bench, wheel: Path) -> dict[str, str]:
    """The installers measured: a fresh venv's own pip (what `python -m venv` gives) and uv."""
    with tempfile.TemporaryDirectory(dir=bench.work) as scratch:
        venv = Path(scratch) / "venv"
        quiet_run([sys.executable, "-m", "venv", venv], Path(scratch), bench.env)
        pip = quiet_run([venv / "bin" / "python", "-m", "pip", "--version"], venv, bench.env)
    uv = quiet_run([BIN / "uv", "--version"], REPO, bench.env)
    return {"pip": pip.split()[1], "uv": uv.split()[1], "wheel": wheel.name}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (5), after a warm-up")
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "install-results.json",
        help="where to write the samples (default: bench/install-results.json)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=HERE / ".cache" / "install",
        help="pip's and uv's caches, kept between runs (default: bench/.cache/install)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (BIN / "uv").exists():
        print(f"error: {BIN / 'uv'} not found: run with the project's .venv/bin/python")
        return 2
    started = time.monotonic()
    load_start = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="handover-bench-install-"))
    try:
        bench = bn.Bench(root, "env")
        installs = InstallBench(bench, args.cache.resolve())
        tools = versions(bench, installs.wheel)
        cases = installs.cases()
        for case in cases:
            case.group = "install"
        bn.measure(bench, "install", cases, args.repeat)
    except bn.BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    by_name = {case.name: case for case in cases}
    table, derived = report(by_name, installs.installed)
    total = time.monotonic() - started
    load_end = os.getloadavg()
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": bn.machine(),
        "installers": tools,
        "settings": {"repeat": args.repeat, "cache": "warm (filled by the warm-up round)"},
        "load_average": {"start": load_start, "end": load_end},
        "bench_seconds": round(total, 1),
        "cases": {name: case.summary() for name, case in by_name.items()},
        **derived,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table)
    print(
        f"\n{result['date']}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"pip {tools['pip']}, uv {tools['uv']}, load average {load_start[0]:.2f} -> "
        f"{load_end[0]:.2f}, bench {total:.0f} s; samples in {args.json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
