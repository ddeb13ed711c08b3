"""A generated project, audited at each stage of an engagement, lands at the expected level.

One project goes through the stages in order (each builds on the last):

1. fresh from `handover new --no-run`: reproducible (L1), nothing tracked in MLflow yet;
2. after `dvc repro` and a commit: a champion exists, so at least retrainable (L2);
3. after a second model version, `handover card`, the history exported, a second client
   engineer's commit, the documents filled and the sign-offs recorded: owned (L4).

The audit runs through the installed `handover audit --offline --format json`, as CI runs it.
A stage that lands elsewhere fails with the pillars' blockers and the checks that fell short.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_repos import commit, git

from conftest import handover_new, project_env, run, tool

pytestmark = pytest.mark.slow

SECOND_ENGINEER = "Tomas Berg <tomas.berg@acme.example>"


def audit(project: Path) -> dict[str, Any]:
    result = run(
        tool("handover"), "audit", "--offline", "--format", "json", ".", cwd=project, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    (report,) = json.loads(result.stdout)["repositories"]
    return report


def explain(report: dict[str, Any]) -> str:
    """Why a report is at its level: each pillar's blockers and the checks short of pass."""
    lines = [f"level L{report['level']}"]
    for pillar in report["pillars"]:
        lines.append(f"  {pillar['name']} L{pillar['level']}: {'; '.join(pillar['blockers'])}")
    for check_id, result in report["checks"].items():
        if result["outcome"] not in ("pass", "attested", "n/a"):
            lines.append(f"  {check_id} {result['outcome']}: {result['message']}")
    return "\n".join(lines)


def outcome(report: dict[str, Any], check_id: str) -> str:
    return report["checks"][check_id]["outcome"]


def test_generated_project_levels_through_the_engagement(
    template_repo: Path, tmp_path: Path
) -> None:
    project = tmp_path / "demo-model"
    handover_new(template_repo, project, "--no-run")
    env = project_env(project)

    # 1. Fresh: everything needed to reproduce is there, but nothing is tracked in MLflow.
    fresh = audit(project)
    assert fresh["level"] == 1, explain(fresh)
    assert fresh["fail_under"] == 1  # the audit_level answer's default
    # No tracking store yet: nothing a client could retrain from or roll back to.
    assert outcome(fresh, "RT206") == "fail", explain(fresh)
    assert outcome(fresh, "RT203") == "fail", explain(fresh)
    assert not (project / "mlflow.db").exists()

    # 2. The pipeline ran and its lock and metrics are committed: the champion is traceable.
    run(tool("dvc"), "repro", cwd=project, env=env)
    commit(project, "Run the pipeline (dvc repro)", author=SECOND_ENGINEER)
    piped = audit(project)
    # Retrainable, not yet operable: no version to roll back to and the runbook's FILLs.
    assert piped["level"] == 2, explain(piped)
    assert next(p for p in piped["pillars"] if p["name"] == "Operate")["level"] == 2
    for check_id in ("RP105", "RT203", "RT206"):
        assert outcome(piped, check_id) == "pass", explain(piped)
    assert outcome(piped, "OP302") == "fail"  # one version: nothing to roll back to yet
    assert outcome(piped, "OW612") == "fail"  # the history is only on this machine
    assert piped["level"] < 4, explain(piped)  # the documents are still templates

    # 3. A second version (a retrain), the card written from the registry, a second client
    # engineer, the documents filled and every sign-off recorded.
    run(tool("dvc"), "repro", "--force", cwd=project, env=env)
    commit(project, "Retrain: champion version 2", author=SECOND_ENGINEER)
    run(tool("handover"), "card", cwd=project, env=env)
    commit(project, "Model card from the registry", author=SECOND_ENGINEER)
    # The exit: the history exported into the bundle DVC keeps (autostage adds its .dvc file).
    run(tool("handover"), "history", "export", cwd=project, env=env)
    commit(project, "Export the MLflow history", author=SECOND_ENGINEER)
    fill_documents = pytest.importorskip("audit_documents_fill").fill_documents
    filled = fill_documents(project)
    assert git(project, "status", "--porcelain") == ""
    owned = audit(project)
    assert owned["level"] == 4, explain(owned)
    assert outcome(owned, "OP302") == "pass", explain(owned)
    assert outcome(owned, "OW611") == "attested", explain(owned)
    assert outcome(owned, "OW612") == "pass", explain(owned)
    assert owned["git"]["commit"] == filled.signoffs_commit

    # The pre-commit hook's command agrees: L4 is at or above the configured L1.
    hook = run(tool("handover"), "audit", "--offline", cwd=project, env=env, check=False)
    assert hook.returncode == 0, hook.stdout + hook.stderr
    assert "L4 owned" in hook.stdout
