"""`handover new`: generate a client-owned ML repository and run its pipeline once.

Copier renders the template and its post-copy task (hooks/post_copy.py) sets up git, DVC, the
example data and the first commit. Then, unless told not to, the pipeline runs once
(`dvc repro`) so the repository starts with a tracked run and a registered model, and
`dvc.lock` is committed.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
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
        if known and (problem := type_problem(known[key].get("type", "str"), value)):
            raise HandoverError(f"--data {pair!r}: question '{key}' {problem}", 2)
        data[key] = value
    return data


#: What Copier reads as yes and no (its `cast_to_bool`); anything else it takes as yes.
BOOLEANS = {"y", "yes", "t", "true", "on", "1", "n", "no", "f", "false", "off", "0"}


def type_problem(kind: str, value: str) -> str:
    """What is wrong with `value` as an answer of type `kind`, or "" when it fits.

    Copier casts `--data` before its validators see it: "maybe" becomes true and "abc" for a
    float fails without naming the question, so the types are checked here.
    """
    if kind == "bool" and value.strip().lower() not in BOOLEANS:
        return "takes yes or no: use true or false."
    if kind in ("int", "float"):
        try:
            number = int(value) if kind == "int" else float(value)
        except ValueError:
            number = None
        if number is None or not math.isfinite(number):
            example = "a whole number, e.g. 30" if kind == "int" else "a number, e.g. 0.9"
            return f"takes {example}."
    return ""


def check_destination(dest: Path) -> None:
    """Refuse a destination that holds anything (generation must not mix with other files) or
    that cannot be made a directory here (exit 1: the file system, not the answers)."""
    if dest.is_symlink() and not dest.exists():
        raise HandoverError(
            f"{dest} is a symbolic link to {os.readlink(dest)}, which does not exist: remove "
            "the link or choose a new directory.",
            1,
        )
    existing = next(p for p in (dest, *dest.parents) if os.path.lexists(p))
    if existing != dest and not existing.is_dir():
        raise HandoverError(
            f"{dest} cannot be created: {existing} is a file, not a directory; choose a "
            "directory elsewhere.",
            1,
        )
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        readonly = os.statvfs(existing).f_flag & os.ST_RDONLY
        reason = "on a read-only file system" if readonly else "not writable by you"
        verb = "written" if existing == dest else "created"
        raise HandoverError(
            f"{dest} cannot be {verb}: {existing} is {reason}; choose a writable directory.", 1
        )
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


def first_missing(path: Path) -> Path | None:
    """The topmost of `path` and its parents that does not exist: what making `path` creates."""
    missing = None
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            break
        missing = candidate
    return missing


def local_remote(dest: Path, url: str) -> Path:
    """The folder a local DVC remote URL names (relative to the project root)."""
    return (dest / Path(url).expanduser()).resolve()


class Leftovers:
    """What a failed `handover new` has to remove: the destination it created (or, when it was
    an empty folder, what was put in it) and a local DVC remote the post-copy task created
    beside it or where `--data dvc_remote_url` said. Nothing that existed before."""

    def __init__(self, dest: Path, data: Mapping[str, Any]) -> None:
        self.dest = dest
        self.made = first_missing(dest)
        self.beside = set(os.listdir(dest.parent)) if dest.parent.is_dir() else set()
        url = str(data.get("dvc_remote_url", ""))
        self.remote_made = first_missing(local_remote(dest, url)) if url else None

    def remove(self) -> None:
        remote = self._remote()
        if self.made is not None:
            shutil.rmtree(self.made, ignore_errors=True)
        elif self.dest.is_dir():
            for child in self.dest.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        if remote is not None:
            shutil.rmtree(remote, ignore_errors=True)

    def _remote(self) -> Path | None:
        """The local DVC remote folder this run made, if any (read from the answers file)."""
        try:
            answers = yaml.safe_load((self.dest / ANSWERS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(answers, dict) or answers.get("dvc_remote") != "local":
            return None
        remote = local_remote(self.dest, str(answers.get("dvc_remote_url", "")))
        if remote.parent == self.dest.parent and remote.name not in self.beside:
            return remote
        if self.remote_made is not None and remote.is_relative_to(self.remote_made):
            return self.remote_made
        return None


@contextmanager
def held_stderr(output: list[str]) -> Iterator[None]:
    """Hold back what is written to stderr (fd 2, subprocesses included): appended to
    `output` at the end, for the caller to show or sum up. Without a temporary file, nothing
    is held back."""
    try:
        held = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, once it is set up)
    except OSError:
        yield
        return
    with held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            output.append(held.read().decode("utf-8", errors="replace"))


def failure_cause(output: str) -> str:
    """One line for a failed post-copy task: its `error:` message, else the last line (a
    traceback's exception)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    if errors:
        text = " ".join(lines[errors[-1] :]).removeprefix("error: ")
    else:
        text = lines[-1] if lines else "see the output above"
    return text if len(text) <= 300 else text[:297] + "..."


def describe(error: OSError) -> str:
    """An OSError as a short phrase: its reason and the path it is about."""
    reason = error.strerror or str(error)
    return f"{reason} ({error.filename})" if error.filename else reason


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

    Invalid answers are rejected before anything is written (exit code 2). A destination that
    cannot be written, or a failed generation (a full disk, the post-copy task), is exit code 1
    with what this run created removed. Copier asks the questions not answered by `data` unless
    `defaults` is set, which needs a terminal.
    """
    started = time.monotonic()
    dest = Path(dest).absolute()
    source = template or template_source()
    try:
        check_destination(dest)
    except OSError as error:
        raise HandoverError(f"{dest} cannot be used: {describe(error)}.", 1) from None
    if not defaults and not sys.stdin.isatty():
        raise HandoverError(
            "no terminal to ask the questions on: pass --defaults (and --data KEY=VALUE for "
            "the answers that differ from the defaults).",
            2,
        )
    progress(f"Generating {dest} from {source}")
    from copier.errors import CopierError, TaskError

    created = Leftovers(dest, data or {})
    output: list[str] = []
    try:
        # Without prompts, the output (the post-copy task's included) is held back, so that a
        # failure is one line naming its cause, not a traceback.
        with held_stderr(output) if defaults else nullcontext():
            copy_template(
                source,
                dest,
                dict(data or {}),
                vcs_ref,
                user_defaults={"project_name": project_name_for(dest)},
                defaults=defaults,
                cleanup_on_error=False,  # Leftovers: it reads the answers before removing
            )
    except TaskError as error:
        created.remove()
        raise HandoverError(
            f"the post-copy setup failed (exit {error.returncode}): "
            f"{failure_cause(''.join(output))}; nothing is left behind.",
            1,
        ) from None
    except (ValueError, CopierError) as error:
        created.remove()
        raise HandoverError(" ".join(str(error).split()), 2) from None
    except OSError as error:
        created.remove()
        raise HandoverError(
            f"cannot generate the project in {dest}: {describe(error)}; nothing is left behind.",
            1,
        ) from None
    except BaseException:  # an interrupt or a bug: clean up all the same
        created.remove()
        sys.stderr.write("".join(output))
        raise
    sys.stderr.write("".join(output))
    answers = yaml.safe_load((dest / ANSWERS_FILE).read_text(encoding="utf-8"))
    if run:
        try:
            run_pipeline(dest, answers, progress)
        except (OSError, subprocess.CalledProcessError) as error:
            cause = describe(error) if isinstance(error, OSError) else str(error)
            raise HandoverError(
                f"the first pipeline run failed: {cause}. The project is generated in {dest}: "
                "fix the cause and run `dvc repro` there.",
                1,
            ) from None
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
