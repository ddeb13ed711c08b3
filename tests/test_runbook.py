"""Every command in the generated runbook works: run its bash blocks in order, as an engineer would.

The project comes from `handover new` (pipeline run, version 1 is `champion`). The runbook's
bash blocks then reproduce, retrain on a new extract of the data (uncommitted when the pipeline
runs, so version 2 is a candidate until the block commits and promotes it), promote, compare,
roll back (version 1 is `champion` again) and check drift; the registry is checked after the
commands that move an alias and after each block, against what its heading says. Finally the
command `registry status` gives after the rollback makes the working tree agree again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from conftest import handover_new, project_env, run, tool

pytestmark = pytest.mark.slow

BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)
HEADING = re.compile(r"^#{2,3} (.+)$", re.M)
RAW = Path("data/raw/breast_cancer.csv")


def runbook_blocks(runbook: Path) -> list[tuple[str, list[str]]]:
    """(nearest heading, command lines) of each bash block, in order (other blocks are
    illustrations)."""
    text = runbook.read_text(encoding="utf-8")
    headings = [(m.start(), m.group(1).strip()) for m in HEADING.finditer(text)]
    blocks = []
    for match in BASH_BLOCK.finditer(text):
        heading = [title for start, title in headings if start < match.start()][-1]
        lines = [
            line.strip()
            for line in match.group(1).splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        blocks.append((heading, lines))
    return blocks


def aliases(project: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    model = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model("demo-model")
    return {alias: str(version) for alias, version in model.aliases.items()}


def new_extract(project: Path) -> None:
    """What "Retrain" asks for first: the raw data replaced by a new extract (fewer rows)."""
    path = project / RAW
    frame = pd.read_csv(path)
    frame.iloc[: len(frame) - 60].to_csv(path, index=False)


def test_runbook_blocks_work_in_order(template_repo: Path, tmp_path: Path) -> None:
    project = tmp_path / "demo-model"
    handover_new(template_repo, project)
    assert aliases(project) == {"champion": "1"}
    blocks = runbook_blocks(project / "docs" / "runbook.md")
    assert [heading for heading, _ in blocks] == [
        "Reproduce",
        "Retrain",
        "Promote",
        "Compare two versions",
        "Roll back",
        "Check drift",
        "Update the model card",
    ]
    roll_back = dict(blocks)["Roll back"]
    assert not any("promote" in line for line in roll_back), "a rollback block must not undo it"

    env = project_env(project)
    registry = "python -m demo_model.registry"
    expected_after = {
        # The new extract is not committed yet: gated, registered, not promoted.
        "dvc repro --force": {"champion": "1"},
        # Committed, then promoted; in "Promote" there is nothing left to do.
        f"{registry} promote latest": {"champion": "2", "previous": "1"},
        f"{registry} rollback": {"champion": "1", "previous": "2"},
    }
    checked, outputs = set(), {}
    for heading, lines in blocks:
        if heading == "Retrain":
            new_extract(project)
        outputs[heading] = ""
        for command in lines:
            # The test runs the project's tools from this repository's environment, not the
            # locked one, so the doctor's `environment` item fails here (exit 1); its other
            # items are what the block is for.
            doctor = command == "handover doctor"
            result = run("bash", "-c", command, cwd=project, env=env, check=not doctor)
            if doctor:
                assert result.returncode in (0, 1), result.stdout + result.stderr
            outputs[heading] += result.stdout + result.stderr
            if command in expected_after:
                assert aliases(project) == expected_after[command], f"after `{command}`"
                checked.add(command)
        if heading == "Retrain":
            held = f"not promoted: uncommitted changes to {RAW}.dvc"
            assert held in outputs[heading]
            subject = run("git", "log", "-1", "--format=%s", cwd=project, env=env).stdout
            assert subject.strip() == "Retrain demo-model", "the retrain commit is missing"
            assert run("git", "status", "--porcelain", cwd=project, env=env).stdout == ""
    assert checked == set(expected_after), "the runbook lost a command this test relies on"

    compared = outputs["Compare two versions"].splitlines()
    assert "champion (version 2)" in compared[1] and "previous (version 1)" in compared[1]
    marked = {line.split()[0] for line in compared[2:] if line.split()[1:2] == ["*"]}
    assert "run_id" in marked, compared
    assert any(name.startswith("metric.eval_") for name in marked), "a new extract, other metrics"
    assert "train.C" not in marked
    # `handover doctor` (item `working tree`) says the pipeline files describe the version
    # rolled back from.
    assert "handover doctor" in roll_back
    assert (
        "working tree" in outputs["Roll back"]
        and "models/train.json describes version 2" in outputs["Roll back"]
    )
    assert (project / "reports" / "drift.json").exists()
    champion_run = json.loads(run("git", "show", "HEAD~1:models/train.json", cwd=project).stdout)
    assert champion_run["version"] == "1"
    card = (project / "docs" / "model-card.md").read_text()
    assert champion_run["run_id"] in card, "handover card did not write the champion's run id"

    # The fix the doctor gives: the pipeline's files of the commit that recorded the champion.
    def working_tree() -> dict[str, str]:
        doctor = run(tool("handover"), "doctor", "--json", cwd=project, env=env, check=False)
        (found,) = [f for f in json.loads(doctor.stdout)["findings"] if f["item"] == "working tree"]
        return found

    tree = working_tree()
    assert tree["status"] == "warn" and tree["fix"].endswith(f"; or {registry} promote 2"), tree
    assert tree["fix"].startswith("git checkout "), tree
    run("bash", "-c", tree["fix"].partition(" (then commit)")[0], cwd=project, env=env)
    tree = working_tree()
    assert tree["status"] == "ok" and "describes version 1" in tree["detail"], tree
    run(tool("dvc"), "status", "-q", cwd=project, env=env)  # code, data and lock agree again
    assert json.loads((project / "models" / "train.json").read_text()) == champion_run
    assert aliases(project) == {"champion": "1", "previous": "2"}
