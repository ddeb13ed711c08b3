"""Benchmark: `handover audit` with MLflow evidence from a large local store.

Builds once (cached in bench/.cache/audit-mlflow/, git-ignored) a project whose `mlflow.db` was
written by the real mlflow package: 10,000 runs in the project's experiment and 100 versions of
its registered model (each a logged sklearn model with a signature and an input example), the
last two holding `champion` and `previous`. Then it times, whole process, alternating round by
round:

- `handover audit --select RT,OP302,OP305,OW603 <project>` (target: <= 1.0 s median);
- `python -c "import mlflow"`: what any mlflow-based reader pays before its first query;
- the same questions answered with `MlflowClient` (experiment and its finished runs, registered
  model, champion, its run's commit/metrics/datasets, every version, the champion's MLmodel).

    .venv/bin/python bench/bench_audit_mlflow.py            # build if needed, 7 rounds
    .venv/bin/python bench/bench_audit_mlflow.py --repeat 9 --rebuild

Results: a Markdown table on stdout and every sample in bench/audit-mlflow-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache" / "audit-mlflow"
PROJECT = CACHE / "project"
RESULTS = HERE / "audit-mlflow-results.json"
BIN = Path(sys.executable).parent
RUNS, VERSIONS = 10_000, 100
EXPERIMENT, MODEL = "bench-exp", "bench-model"
SELECT = "RT,OP302,OP305,OW603"
#: The checks that read the MLflow store (the others in SELECT read files and git).
MLFLOW_CHECKS = ("RT203", "RT206", "OP302", "OP305", "OW603")

PARAMS = f"""\
mlflow:
  experiment: {EXPERIMENT}
  registered_model: {MODEL}
  tracking_uri: ""
"""

# Runs in a subprocess with the real mlflow: writes PROJECT/mlflow.db and PROJECT/mlruns/.
BUILD = r"""
import os, sys, time, warnings
warnings.filterwarnings("ignore")
import mlflow, mlflow.sklearn, pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

project, database, commit = sys.argv[1], sys.argv[2], sys.argv[3]
runs, versions = int(sys.argv[4]), int(sys.argv[5])
uri = "sqlite:///" + database
mlflow.set_tracking_uri(uri)
client = MlflowClient()
experiment = client.create_experiment(
    "bench-exp", artifact_location="file://" + os.path.join(project, "mlruns"))
started = time.time()
now = int(time.time() * 1000)
for i in range(runs - versions):  # bare runs: params, metrics, tags in one batch each
    run = client.create_run(experiment, start_time=now + i,
                            tags={"mlflow.source.git.commit": commit})
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("train_f1", 0.5 + (i % 100) / 1000, now + i, 0),
                 Metric("eval_f1", 0.5 + (i % 97) / 1000, now + i, 0)],
        params=[Param("train.C", str(1 + i % 10)), Param("prepare.seed", "42")],
        tags=[RunTag("dvc.train_data.md5", "0123abcd" * 4)],
    )
    client.set_terminated(run.info.run_id, "FINISHED" if i % 10 else "FAILED", now + i + 5)
    if i % 1000 == 0:
        print(f"{i} runs, {time.time() - started:.0f} s", file=sys.stderr, flush=True)
mlflow.set_experiment(experiment_id=experiment)
X = pd.DataFrame({"tenure": [1.0, 5.0, 9.0, 12.0], "spend": [10.0, 3.0, 8.0, 1.0]})
y = [0, 1, 0, 1]
dataset = mlflow.data.from_pandas(X, source="data/prepared/train.csv", name="train",
                                  digest="0123abcd")
for v in range(versions):  # runs with a logged model each, registered as a version
    with mlflow.start_run(tags={"mlflow.source.git.commit": commit}):
        model = LogisticRegression(C=1.0 + v).fit(X, y)
        mlflow.log_metrics({"train_f1": 0.8, "eval_f1": 0.7 + v / 1000})
        mlflow.log_input(dataset, context="training", tags={"dvc.md5": "0123abcd" * 4})
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(X, model.predict(X)),
            input_example=X.head(2), pip_requirements=["scikit-learn"])
    mlflow.register_model(info.model_uri, "bench-model")
    if v % 10 == 0:
        print(f"{v} versions, {time.time() - started:.0f} s", file=sys.stderr, flush=True)
client.set_registered_model_alias("bench-model", "previous", str(versions - 1))
client.set_registered_model_alias("bench-model", "champion", str(versions))
"""

# The same questions as the audit's MLflow checks, through MlflowClient.
CLIENT = r"""
import os, sys, warnings
warnings.filterwarnings("ignore")
from mlflow import MlflowClient
import mlflow.artifacts, yaml
client = MlflowClient(tracking_uri=sys.argv[1])
experiment = client.get_experiment_by_name("bench-exp")
finished = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'",
                              max_results=1)
model = client.get_registered_model("bench-model")
champion = client.get_model_version_by_alias("bench-model", "champion")
run = client.get_run(champion.run_id)
commit = run.data.tags.get("mlflow.source.git.commit")
datasets = run.inputs.dataset_inputs
versions, token = [], None
while True:
    page = client.search_model_versions("name = 'bench-model'", page_token=token)
    versions += page
    if not (token := page.token):
        break
local = mlflow.artifacts.download_artifacts(
    artifact_uri=client.get_model_version_download_uri("bench-model", champion.version)
    + "/MLmodel")
mlmodel = yaml.safe_load(open(local))
assert finished and commit and datasets and len(versions) == 100 and "signature" in mlmodel
print(champion.version, len(versions), "previous" in model.aliases)
"""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def clean_env(pycache: Path) -> dict[str, str]:
    """No MLflow settings from the caller; .pyc in a private cache (as after pip install)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONDONTWRITE"))}
    env |= {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONPYCACHEPREFIX": str(pycache),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return env


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@client.example",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@client.example",
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def build(env: dict[str, str]) -> float:
    """Create the project and its store; returns the seconds it took."""
    shutil.rmtree(CACHE, ignore_errors=True)
    PROJECT.mkdir(parents=True)
    (CACHE / ".gitignore").write_text("*\n", encoding="utf-8")  # a cache, never committed
    files = {
        "params.yaml": PARAMS,
        ".gitignore": "mlflow.db\nmlruns/\n",
        ".dvc/config": "[core]\n    remote = storage\n"
        "['remote \"storage\"']\n    url = ../dvc-storage\n",
        "README.md": "A project for the audit's MLflow benchmark.\n",
    }
    for name, text in files.items():
        (PROJECT / name).parent.mkdir(parents=True, exist_ok=True)
        (PROJECT / name).write_text(text, encoding="utf-8")
    git("init", "-q", "-b", "main", cwd=PROJECT)
    git("add", "-A", cwd=PROJECT)
    git("commit", "-q", "-m", "bench project", cwd=PROJECT)
    commit = git("rev-parse", "HEAD", cwd=PROJECT)
    log(f"building {RUNS} runs and {VERSIONS} versions with mlflow (several minutes)")
    # SQLite commits every call; on a tmpfs the fsyncs are free (about 3x faster to build).
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else None, prefix="bench-mlflow-"))
    database = scratch / "mlflow.db"
    started = time.perf_counter()
    try:
        subprocess.run(
            [sys.executable, "-c", BUILD, str(PROJECT), str(database), commit, str(RUNS),
             str(VERSIONS)],
            env=env, check=True,
        )  # fmt: skip
        shutil.move(database, PROJECT / "mlflow.db")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    (CACHE / "build.json").write_text(
        json.dumps({"seconds": seconds, "runs": RUNS, "versions": VERSIONS}), encoding="utf-8"
    )
    return seconds


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system of the child) of one command; its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1):  # audit exits 1 below the fail-under level
        raise RuntimeError(f"{args[:3]} exited {result.returncode}:\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached store")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-audit-mlflow-"))
    env = clean_env(work / "pycache")
    info = CACHE / "build.json"
    if args.rebuild or not info.exists() or not (PROJECT / "mlflow.db").exists():
        build_seconds, built_now = build(env), True
    else:
        build_seconds, built_now = json.loads(info.read_text())["seconds"], False
    log(f"store: {PROJECT / 'mlflow.db'} ({(PROJECT / 'mlflow.db').stat().st_size / 1e6:.1f} MB)")

    uri = f"sqlite:///{PROJECT / 'mlflow.db'}"
    handover = str(BIN / "handover")
    cases = {
        "handover audit --select RT,OP302,OP305,OW603": [
            handover, "audit", "--select", SELECT, "--format", "json", str(PROJECT),
        ],
        'python -c "import mlflow"': [sys.executable, "-c", "import mlflow"],
        "MlflowClient: the same questions": [sys.executable, "-c", CLIENT, uri],
        'python -c "pass"': [sys.executable, "-c", "pass"],
    }  # fmt: skip
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    log("warm-up round (fills the bytecode cache)")
    outputs = {name: timed(command, env, PROJECT)[2] for name, command in cases.items()}
    report = json.loads(outputs["handover audit --select RT,OP302,OP305,OW603"])
    found = _results(report)
    results = {r["id"]: r["outcome"] for r in found}
    messages = {r["id"]: r["message"] for r in found if r["id"] in MLFLOW_CHECKS}
    log(f"audit outcomes: {results}")
    for round_ in range(args.repeat):
        for name, command in cases.items():
            wall, cpu, _ = timed(command, env, PROJECT)
            samples[name].append((wall, cpu))
        log(f"round {round_ + 1}/{args.repeat} done")

    rows, data = [], {}
    base = statistics.median(w for w, _ in samples['python -c "import mlflow"'])
    for name, values in samples.items():
        walls = [w for w, _ in values]
        cpus = [c for _, c in values]
        median = statistics.median(walls)
        data[name] = {
            "command": cases[name][:4] if name.startswith("MlflowClient") else cases[name],
            "wall_s": walls,
            "cpu_s": cpus,
            "median_s": median,
            "min_s": min(walls),
            "max_s": max(walls),
            "median_cpu_s": statistics.median(cpus),
        }
        rows.append(
            f"| {name} | {median:.3f} | {min(walls):.3f} | {max(walls):.3f} | "
            f"{statistics.median(cpus):.3f} | {median / base:.2f} |"
        )
    audit_median = data["handover audit --select RT,OP302,OP305,OW603"]["median_s"]
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "mlflow": _version("mlflow"),
            "load_average": os.getloadavg(),
        },
        "store": {
            "runs": RUNS,
            "model_versions": VERSIONS,
            "size_mb": round((PROJECT / "mlflow.db").stat().st_size / 1e6, 1),
            "build_s": round(build_seconds, 1),
            "built_in_this_run": built_now,
        },
        "rounds": args.repeat,
        "audit_outcomes": results,
        "audit_messages": messages,
        "target_s": 1.0,
        "audit_median_s": audit_median,
        "meets_target": audit_median <= 1.0,
        "cases": data,
    }
    args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print("| command | median s | min s | max s | median CPU s | / import mlflow |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"\nstore: {RUNS} runs, {VERSIONS} versions, {summary['store']['size_mb']} MB, built in "
        f"{build_seconds:.0f} s; audit median {audit_median:.3f} s "
        f"({'meets' if audit_median <= 1.0 else 'misses'} the 1.0 s target); outcomes {results}"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _results(report: dict) -> list[dict]:
    """The check results of each repository in the JSON report (`checks`: ID -> result)."""
    found = []
    for repo in report.get("repositories") or [report]:
        checks = repo.get("checks") if isinstance(repo, dict) else None
        if isinstance(checks, dict):
            found += [
                {"id": check, "outcome": item.get("outcome"), "message": item.get("message")}
                for check, item in checks.items()
            ]
    return found


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
