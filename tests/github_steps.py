"""Run a GitHub Actions job's steps locally, in order, as the runner would.

What the workflows of this project and of the generated project need: `run:` steps in bash
(`-eo pipefail`, `working-directory`) with the workflow's, job's and step's `env:`; the
`GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files; `${{ expr }}` in
`env:` values from a context the caller gives (`runner.temp` is known, `secrets.*` are empty,
anything else fails); `if:` conditions of the form `steps.ID.outputs.NAME == 'VALUE'`. A `uses:`
step is handed to the caller's `uses` callback, which does locally what the action would (or
nothing, where the directory and PATH already stand in for it).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONDITION = re.compile(r"^steps\.([\w-]+)\.outputs\.([\w-]+) == '([^']*)'$")


@dataclass
class StepResult:
    name: str
    skipped: bool
    returncode: int = 0
    output: str = ""
    summary: str = ""


@dataclass
class JobRun:
    job: str
    steps: list[StepResult] = field(default_factory=list)
    #: `outputs` of the steps that have an `id`.
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(step.returncode == 0 for step in self.steps)

    @property
    def summary(self) -> str:
        return "".join(step.summary for step in self.steps)

    def ran(self) -> list[str]:
        return [step.name for step in self.steps if not step.skipped]

    def report(self) -> str:
        return "\n".join(
            f"--- {self.job} / {s.name}: "
            + ("skipped" if s.skipped else f"exit {s.returncode}\n{s.output[-6000:]}")
            for s in self.steps
        )


def action(step: Mapping[str, Any]) -> str:
    """`owner/name` of a `uses:` step, '' for a `run:` step."""
    return step.get("uses", "").split("@")[0]


def expand(value: Any, context: Mapping[str, str]) -> str:
    """A workflow value with each `${{ expr }}` replaced from `context`; unknown ones fail."""

    def replace(match: re.Match[str]) -> str:
        expression = match[1]
        if expression in context:
            return context[expression]
        if expression.startswith("secrets."):
            return ""  # no secret is set locally, as on a fork's pull request
        raise ValueError(f"${{{{ {expression} }}}} is not known locally: add it to the context")

    return EXPRESSION.sub(replace, str(value))


def _key_values(path: Path) -> dict[str, str]:
    """A GITHUB_OUTPUT / GITHUB_ENV file of single-line `key=value` entries."""
    return dict(
        line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line
    )


def run_job(
    workflow: Mapping[str, Any],
    job: str,
    *,
    cwd: Path,
    work: Path,
    env: Mapping[str, str],
    context: Mapping[str, str] | None = None,
    uses: Callable[[Mapping[str, Any]], None] = lambda step: None,
    timeout: float = 900,
) -> JobRun:
    """Run `job`'s steps in `cwd`; stop at the first failure, as the runner does.

    `work` holds the runner's files (its temp directory, the step files); `env` is the
    runner's environment, to which the workflow's and the job's `env:` are added.
    """
    spec = workflow["jobs"][job]
    temp = work / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    context = {"runner.temp": str(temp), **(context or {})}
    github_env, github_path = work / "github-env", work / "github-path"
    github_env.touch()
    github_path.touch()
    base = {**env, **{k: expand(v, context) for k, v in (workflow.get("env") or {}).items()}}
    base |= {k: expand(v, context) for k, v in (spec.get("env") or {}).items()}
    base |= {
        "GITHUB_ENV": str(github_env),
        "GITHUB_PATH": str(github_path),
        "GITHUB_WORKSPACE": str(cwd),
        "RUNNER_TEMP": str(temp),
    }
    result = JobRun(job)
    for index, step in enumerate(spec["steps"]):
        name = step.get("name") or step.get("uses") or f"step {index}"
        if condition := step.get("if"):
            parsed = CONDITION.match(condition.strip())
            if not parsed:
                raise ValueError(f"condition not supported locally: {condition}")
            step_id, key, value = parsed.groups()
            if result.outputs.get(step_id, {}).get(key) != value:
                result.steps.append(StepResult(name, skipped=True))
                continue
        if "run" not in step:
            uses(step)
            continue
        output, summary = work / f"output-{index}", work / f"summary-{index}"
        output.touch()
        summary.touch()
        step_env = {**base, **_key_values(github_env)}
        step_env |= {k: expand(v, context) for k, v in (step.get("env") or {}).items()}
        step_env |= {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
        added = github_path.read_text(encoding="utf-8").split()
        step_env["PATH"] = os.pathsep.join([*reversed(added), step_env.get("PATH", "")])
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd / step.get("working-directory", "."),
            env=step_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if "id" in step:
            result.outputs[step["id"]] = _key_values(output)
        result.steps.append(
            StepResult(
                name,
                skipped=False,
                returncode=completed.returncode,
                output=completed.stdout + completed.stderr,
                summary=summary.read_text(encoding="utf-8"),
            )
        )
        if completed.returncode != 0:
            break
    return result
