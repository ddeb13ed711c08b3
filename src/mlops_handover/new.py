"""`handover new`: generate a client-owned ML repository and run its pipeline once.

Copier renders the template and its post-copy task (hooks/post_copy.py) sets up git, DVC, the
example data and the first commit. Then, unless told not to, the pipeline runs once
(`dvc repro`) so the repository starts with a tracked run and a registered model, and
`dvc.lock` is committed.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_handover import tracking_server
from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import commit_all, git
from mlops_handover.template import ANSWERS_FILE, copy_template, questions, template_source

QUIET_TOOLS = {"DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@dataclass
class NewResult:
    """What `handover new` made; the CLI prints it, or dumps it as JSON."""

    dest: str
    template: str
    template_version: str
    answers: dict[str, Any]
    pipeline_ran: bool
    commit: str
    seconds: float
    model: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def parse_data(pairs: list[str], source: str) -> dict[str, str]:
    """`KEY=VALUE` pairs to answers; unknown keys are an error, not silently ignored."""
    known = questions(source)
    data: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HandoverError(f"--data {pair!r}: expected KEY=VALUE, e.g. ml_task=regression", 2)
        if known and key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise HandoverError(
                f"--data {pair!r}: {key!r} is not a question of the template; {hint}"
                "docs/questions.md lists the questions.",
                2,
            )
        data[key] = value
    return data


def check_destination(dest: Path) -> None:
    """Refuse a destination that holds anything: generation must not mix with other files."""
    if dest.exists() and not dest.is_dir():
        raise HandoverError(f"{dest} exists and is not a directory: choose a new directory.", 2)
    if dest.is_dir() and any(dest.iterdir()):
        if (dest / ANSWERS_FILE).is_file():
            raise HandoverError(
                f"{dest} is already a generated project ({ANSWERS_FILE} is there): use "
                "`handover update` to bring it to the current template version.",
                2,
            )
        raise HandoverError(
            f"{dest} is not empty and was not generated from the template: choose a new or "
            "empty directory (`handover adopt` is the way to add the scaffolding to an "
            "existing repository).",
            2,
        )


def project_name_for(dest: Path) -> str:
    """The default project name a destination suggests: `churn-model` -> `Churn Model`."""
    words = [w for w in re.split(r"[-_.\s]+", dest.name) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or "Demo Model"


def pipeline_env(dest: Path) -> dict[str, str]:
    """Run the project's stages with this interpreter's environment: it has their packages."""
    env = {**os.environ, **QUIET_TOOLS}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(dest / "src"), env.get("PYTHONPATH", "")] if p
    )
    return env


def check_tracking_server(dest: Path, answers: Mapping[str, Any]) -> None:
    """Fail in seconds, naming the cause, when the pipeline would log to an unusable server."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or (
        answers.get("mlflow_tracking_uri") if answers.get("mlflow_tracking") == "server" else ""
    )
    if not tracking_server.is_server(uri or ""):
        return
    try:
        tracking_server.check(str(uri), os.environ, timeout=5)
    except tracking_server.ServerProblem as problem:
        raise HandoverError(
            f"{problem} The project is generated in {dest}: run `dvc repro` there once the "
            "server takes runs (`handover doctor` checks it), or pass --no-run.",
            1,
        ) from None


def run_pipeline(dest: Path, answers: Mapping[str, Any], progress: Callable[[str], None]) -> None:
    check_tracking_server(dest, answers)
    env = pipeline_env(dest)
    progress("Running the example pipeline once (dvc repro: prepare, train, evaluate)")
    repro = subprocess.run(
        [sys.executable, "-m", "dvc", "repro"], cwd=dest, env=env, stdout=sys.stderr, check=False
    )
    if repro.returncode != 0:
        raise HandoverError(
            f"the example pipeline failed (dvc repro exited {repro.returncode}); the project is "
            f"generated in {dest}. If the acceptance gate failed, evaluation/acceptance.yaml "
            "holds the bar; fix the cause and run `dvc repro` there.",
            1,
        )
    if answers.get("mlflow_tracking") != "server":
        # The first run's history goes into the bundle a clone restores with `handover history
        # import` (the vendor exports again at each phase gate); a server keeps its own.
        from mlops_handover.history_bundle import export_history

        progress("Exporting the MLflow history to history/mlflow (tracked by DVC)")
        export_history(dest)
    if answers.get("dvc_remote") == "local":
        progress("Pushing pipeline outputs to the local DVC remote")
        subprocess.run(
            [sys.executable, "-m", "dvc", "push", "--quiet"], cwd=dest, env=env, check=True
        )
    progress("Committing dvc.lock and the metrics")
    commit_all(dest, "Run the example pipeline (dvc repro)")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def create_project(
    dest: str | os.PathLike[str],
    data: Mapping[str, Any] | None = None,
    *,
    defaults: bool = False,
    vcs_ref: str | None = None,
    run: bool = True,
    template: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> NewResult:
    """Generate a project in `dest` (new or empty); run its pipeline once unless `run` is false.

    Invalid answers are rejected before anything is written (exit code 2). Copier asks the
    questions not answered by `data` unless `defaults` is set, which needs a terminal.
    """
    started = time.monotonic()
    dest = Path(dest).absolute()
    source = template or template_source()
    check_destination(dest)
    if not defaults and not sys.stdin.isatty():
        raise HandoverError(
            "no terminal to ask the questions on: pass --defaults (and --data KEY=VALUE for "
            "the answers that differ from the defaults).",
            2,
        )
    progress(f"Generating {dest} from {source}")
    from copier.errors import CopierError, TaskError

    existed = dest.exists()
    try:
        copy_template(
            source,
            dest,
            dict(data or {}),
            vcs_ref,
            user_defaults={"project_name": project_name_for(dest)},
            defaults=defaults,
        )
    except TaskError as error:
        raise HandoverError(
            f"the post-copy setup failed (exit {error.returncode}) after the files were "
            f"written to {dest}; see the error above.",
            1,
        ) from error
    except (ValueError, CopierError) as error:
        if not existed and dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        raise HandoverError(str(error), 2) from error
    answers = yaml.safe_load((dest / ANSWERS_FILE).read_text(encoding="utf-8"))
    if run:
        run_pipeline(dest, answers, progress)
    return NewResult(
        dest=str(dest),
        template=str(answers.get("_src_path", source)),
        template_version=str(answers.get("_commit", "")),
        answers={k: v for k, v in answers.items() if not k.startswith("_")},
        pipeline_ran=run,
        commit=git(dest, "rev-parse", "HEAD"),
        seconds=round(time.monotonic() - started, 2),
        model=read_json(dest / "models" / "train.json") if run else {},
        metrics=read_json(dest / "metrics.json") if run else {},
    )
