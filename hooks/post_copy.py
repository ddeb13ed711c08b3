"""Post-copy setup of a generated project; Copier runs it on copy only (needs --trust).

Every step is idempotent, so running it again (or on a half-finished project) only does what
is missing: git init, DVC set up, the example data written and `dvc add`ed, the local DVC
remote filled, and the first commit. It runs with Copier's interpreter in the new project and
imports neither scikit-learn nor pandas: their import costs seconds, and the example data is
read straight from the CSV files scikit-learn ships.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gzip
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

_BREAST_CANCER_MEASURES = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave_points",
    "symmetry",
    "fractal_dimension",
)
#: Feature names of `sklearn.datasets.load_breast_cancer()` in snake_case ("mean radius" ->
#: mean_radius, "radius error" -> radius_error, "worst radius" -> worst_radius).
BREAST_CANCER_FEATURES = (
    [f"mean_{m}" for m in _BREAST_CANCER_MEASURES]
    + [f"{m}_error" for m in _BREAST_CANCER_MEASURES]
    + [f"worst_{m}" for m in _BREAST_CANCER_MEASURES]
)
#: Feature names as `sklearn.datasets.load_diabetes().feature_names`.
DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]

DATASETS = {"classification": "breast_cancer", "regression": "diabetes"}

#: The date line the seeded decision records render with; Copier's Jinja has no clock.
UNSTAMPED_DATE = re.compile(r'^date: "\[FILL:[^\]]*\]"$', re.MULTILINE)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def run(*args: str, capture: bool = False) -> str:
    """Run a command in the project; stop with its own error output when it fails."""
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        fail(f"`{' '.join(args)}` failed:\n{result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip() if capture else ""


def sklearn_data_dir() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        fail(
            "scikit-learn is not installed in Copier's environment; it provides the example "
            "data. Install mlops-handover (which brings it), or run "
            "`pip install scikit-learn` in the environment that runs copier."
        )
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def example_rows(task: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the example data set, exactly as scikit-learn ships it."""
    data = sklearn_data_dir()
    if task == "classification":
        with (data / "breast_cancer.csv").open(newline="") as f:
            reader = csv.reader(f)
            next(reader)  # "569,30,malignant,benign": counts and class names
            return [*BREAST_CANCER_FEATURES, "target"], [row for row in reader if row]
    with gzip.open(data / "diabetes_data_raw.csv.gz", "rt") as f:
        features = [line.split() for line in f if line.strip()]
    with gzip.open(data / "diabetes_target.csv.gz", "rt") as f:
        targets = [repr(float(line)) for line in f if line.strip()]
    return [*DIABETES_FEATURES, "target"], [[*x, y] for x, y in zip(features, targets, strict=True)]


def ensure_git() -> None:
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    if inside.returncode == 0 and Path(inside.stdout.strip()).resolve() == Path.cwd().resolve():
        return
    run("git", "init", "--quiet")
    run("git", "symbolic-ref", "HEAD", "refs/heads/main")


def ensure_dvc(task: str, remote: str, remote_url: str) -> None:
    if not Path(".dvc").is_dir():
        run(sys.executable, "-m", "dvc", "init", "--quiet")
    path = Path("data/raw") / f"{DATASETS[task]}.csv"
    need_data = not path.exists()
    need_add = not path.with_name(path.name + ".dvc").exists()
    need_push = remote == "local"
    if not (need_data or need_add or need_push):
        return
    if need_data:
        header, rows = example_rows(task)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows([header, *rows])
        print(f"Wrote the example data set {path} ({len(rows)} rows)")
    try:
        from dvc.repo import Repo
    except ImportError:
        fail("DVC is not installed in Copier's environment: `pip install dvc` (or mlops-handover).")
    with Repo(".") as repo:
        if need_add:
            repo.add(str(path))
            print(f"Tracked {path} with DVC ({path}.dvc)")
        if need_push:
            # The local remote lives outside the repository (a relative URL is relative to
            # the repository root); filling it lets a fresh clone on this machine `dvc pull`.
            store = Path(os.path.expanduser(remote_url))
            store = store if store.is_absolute() else (Path.cwd() / store).resolve()
            store.mkdir(parents=True, exist_ok=True)
            pushed = repo.push()
            print(f"DVC remote 'storage' is {store} ({pushed} file(s) pushed)")


def stamp_decisions(today: datetime.date | None = None) -> None:
    """Date the seeded decision records: they were taken when the answers were given."""
    stamp = f"date: {(today or datetime.date.today()).isoformat()}"
    for record in sorted(Path("docs/decisions").glob("[0-9][0-9][0-9][0-9]-*.md")):
        text = record.read_text(encoding="utf-8")
        stamped = UNSTAMPED_DATE.sub(stamp, text, count=1)
        if stamped != text:
            record.write_text(stamped, encoding="utf-8", newline="\n")


def git_identity(owner_name: str, owner_email: str) -> list[str]:
    """`-c` options for the first commit when git cannot tell who commits.

    `git var` answers exactly as `git commit` would (config, environment, auto-detection);
    `handover new` asks the same question before its own commit.
    """
    configured = all(
        subprocess.run(["git", "var", ident], capture_output=True, check=False).returncode == 0
        for ident in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
    )
    if configured:
        return []
    print(f"git has no user identity; the first commit is authored by {owner_name} <{owner_email}>")
    return ["-c", f"user.name={owner_name}", "-c", f"user.email={owner_email}"]


def first_commit(owner_name: str, owner_email: str) -> None:
    has_head = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"], capture_output=True, check=False
    )
    if has_head.returncode == 0:
        return
    run("git", "add", "--all")
    run(
        "git",
        *git_identity(owner_name, owner_email),
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        "Generate the project from the mlops-handover template",
    )
    print(f"First commit {run('git', 'rev-parse', '--short', 'HEAD', capture=True)} on main")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", choices=sorted(DATASETS), required=True)
    parser.add_argument("--dvc-remote", required=True)
    parser.add_argument("--dvc-remote-url", required=True)
    parser.add_argument("--owner-name", required=True)
    parser.add_argument("--owner-email", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    stamp_decisions()
    ensure_git()
    ensure_dvc(args.task, args.dvc_remote, args.dvc_remote_url)
    first_commit(args.owner_name, args.owner_email)


if __name__ == "__main__":
    main()
