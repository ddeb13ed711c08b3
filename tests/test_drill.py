"""`handover drill`: the take-over as a test, with the commands the generated documents write.

The fast tests read rendered projects: every step of the drill finds its commands in the
README or runbook, and the README's take-over is at most 12 commands. The slow tests run the
whole drill on a freshly generated project (classification and regression; GitLab CI as a
`variants` test, and tests/test_team_server.py on a team server): a real clone in
another folder, uv installing the lock (handover from this checkout's wheel), the vendor's
history imported, the pipeline reproduced, a variant, a retrain, promotion, rollback, drift and
the audit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import handover_new, run, tool
from mlops_handover.drill import PLAN, README, TAKE_OVER, bash_blocks, commands_of, plan_commands
from mlops_handover.errors import HandoverError


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_step_finds_its_commands_in_the_documents(render, task: str) -> None:
    project = render({"ml_task": task}, name=task)
    steps = {step.name: step for step in plan_commands(project)}
    assert list(steps) == [step.name for step in PLAN]
    assert all(step.commands for step in steps.values())
    assert steps["restore"].commands == ["dvc pull", "handover history import"]
    assert steps["doctor"].commands == ["handover doctor"]
    assert steps["variant"].commands[0].startswith("dvc exp run --temp -S train.")
    assert any("registry rollback" in c for c in steps["rollback"].commands)
    assert not any("promote" in c for c in steps["rollback"].commands)

    readme = (project / README).read_text(encoding="utf-8")
    take_over = [c for block in bash_blocks(readme, (TAKE_OVER,)) for c in commands_of(block)]
    assert 8 <= len(take_over) <= 12, take_over


def test_a_server_project_restores_no_history(render) -> None:
    """On a team server the history is already in the client's store: nothing to import."""
    project = render(
        {"mlflow_tracking": "server", "mlflow_tracking_uri": "https://mlflow.acme.example"},
        name="server",
    )
    restore = next(s for s in plan_commands(project) if s.name == "restore")
    assert restore.commands == ["dvc pull"]


def test_a_missing_section_is_named(render) -> None:
    project = render(name="cut")
    readme = project / README
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("### 7. Roll back", "### 7. Something else"), encoding="utf-8")
    with pytest.raises(HandoverError, match=r"README.md > Take over this repository > Roll back"):
        plan_commands(project)


def test_bash_blocks_follow_the_heading_path() -> None:
    text = (
        "# T\n## Take over this repository\n### 1. Set up\n```bash\na\nb # c\n```\n"
        "```text\nnot run\n```\n### 2. Restore\n```bash\n# only a comment\nc\n```\n"
        "## Retrain\n```bash\nd\n```\n### Inner\n```bash\ne\n```\n"
    )
    assert bash_blocks(text, (TAKE_OVER, "Set up")) == ["a\nb # c\n"]
    assert commands_of(bash_blocks(text, (TAKE_OVER, "Restore"))[0]) == ["c"]
    assert bash_blocks(text, ("Retrain",)) == ["d\n", "e\n"]  # its subsections too
    assert bash_blocks(text, ("Retrain", "Inner")) == ["e\n"]
    assert bash_blocks(text, ("Set up",)) == ["a\nb # c\n"]


VARIANTS = {
    "classification": (),
    "regression": ("--data", "ml_task=regression", "--data", "primary_metric=r2"),
    "gitlab": ("--data", "ci_provider=gitlab"),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    ["classification", "regression", pytest.param("gitlab", marks=pytest.mark.variants)],
)
def test_the_drill_passes_on_a_generated_project(
    template_repo: Path, tmp_path: Path, wheelhouse: Path, variant: str
) -> None:
    vendor = tmp_path / "vendor" / "demo-model"
    vendor.parent.mkdir()
    handover_new(template_repo, vendor, *VARIANTS[variant])
    store_before = sorted(
        p.name for p in (tmp_path / "vendor" / "demo-model-dvc-storage").rglob("*")
    )
    report_path = tmp_path / "drill.json"
    env = dict(os.environ) | {"UV_FIND_LINKS": str(wheelhouse)}
    result = run(
        tool("handover"), "drill", vendor, "--report", report_path, "--workdir", tmp_path,
        cwd=tmp_path, env=env, check=False, timeout=1500,
    )  # fmt: skip
    report = json.loads(report_path.read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert result.returncode == 0, result.stderr[-8000:]
    assert report["passed"] and [s["verdict"] for s in report["steps"]] == ["passed"] * len(PLAN)
    assert set(steps) == {step.name for step in PLAN}
    assert report["commit"] == run("git", "rev-parse", "HEAD", cwd=vendor).stdout.strip()
    assert "drill PASSED" in result.stdout
    for line in ("setup", "restore", "reproduce", "variant", "rollback", "audit"):
        assert f"] {line}" in result.stderr
    # The vendor's repository, remote and store are untouched.
    assert not run("git", "status", "--porcelain", cwd=vendor).stdout
    after = sorted(p.name for p in (tmp_path / "vendor" / "demo-model-dvc-storage").rglob("*"))
    assert after == store_before
