"""Every command in the generated runbook works: run them in order, as an engineer would.

The project comes from `handover new` (pipeline run, version 1 is `champion`). The runbook's
bash blocks then reproduce, retrain (version 2 becomes `champion`, version 1 `previous`), promote,
roll back and check drift; the registry is checked after the commands that move an alias.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import handover_new, project_env, run

pytestmark = pytest.mark.slow

BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)


def runbook_commands(runbook: Path) -> list[str]:
    """Command lines of the runbook's bash blocks, in order (other blocks are illustrations)."""
    return [
        line.strip()
        for block in BASH_BLOCK.findall(runbook.read_text(encoding="utf-8"))
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def aliases(project: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    model = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model("demo-model")
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_runbook_commands_work_in_order(template_repo: Path, tmp_path: Path) -> None:
    project = tmp_path / "demo-model"
    handover_new(template_repo, project)
    assert aliases(project) == {"champion": "1"}
    commands = runbook_commands(project / "docs" / "runbook.md")
    assert len(commands) >= 10, commands

    env = project_env(project)
    expected_after = {
        "dvc repro --force": {"champion": "2", "previous": "1"},
        "python -m demo_model.registry rollback": {"champion": "1", "previous": "2"},
        "python -m demo_model.registry promote latest": {"champion": "2", "previous": "1"},
    }
    checked = set()
    for command in commands:
        run("bash", "-c", command, cwd=project, env=env)
        if command in expected_after:
            assert aliases(project) == expected_after[command], f"after `{command}`"
            checked.add(command)
    assert checked == set(expected_after), "the runbook lost a command this test relies on"

    assert (project / "reports" / "drift.json").exists()
    subject = run("git", "log", "-1", "--format=%s", cwd=project, env=env).stdout.strip()
    assert subject == "Retrain demo-model", "the retrain commit is missing"
    info = json.loads((project / "models" / "train.json").read_text())
    card = (project / "docs" / "model-card.md").read_text()
    assert info["run_id"] in card, "handover card did not write the champion's run id"
