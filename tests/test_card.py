"""The model card as generated, and `handover card`, which writes the champion's facts into it.

Rendering tests cover the answers that change the card; `updated_card` is tested on a rendered
card with a made-up champion; the errors that come before MLflow is asked are fast; one
generated project after a real `dvc repro` runs the installed command end to end.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub import ModelCard
from servers import free_port, http_ok, stop_group, wait_until

from conftest import project_env, run, tool
from mlops_handover.card import Champion, DataVersion, updated_card
from mlops_handover.cli import main
from mlops_handover.documents import (
    MODEL_CARD,
    MODEL_CARD_SECTIONS,
    PLACEHOLDER,
    PLACEHOLDER_PATTERN,
    find_placeholders,
    headings,
    read_front_matter,
    region_markers,
)

# Placeholder styles other than the one marker, which the audit would not find.
OTHER_PLACEHOLDERS = re.compile(
    r"\bTODO\b|\bTBD\b|\bFIXME\b|More Information Needed|\{[a-z][^{}\n]*\}|<[a-z][a-z _-]*>"
)
MATRIX = [
    {},  # the defaults: classification, f1, proprietary, a vendor, confidential data
    {
        "project_name": "Progression",
        "ml_task": "regression",
        "primary_metric": "rmse",
        "acceptance_threshold": 60,
        "license": "MIT",
        "vendor_org": "",
        "data_sensitivity": "regulated",
        "personal_data": True,
    },
    {
        "ml_task": "regression",
        "primary_metric": "r2",
        "license": "Apache-2.0",
        "mlflow_tracking": "server",
        "data_sensitivity": "public",
        "client_org": "O'Brien & Sons",
    },
    {"primary_metric": "roc_auc", "acceptance_threshold": 0.97, "data_sensitivity": "internal"},
]
LICENSES = {"proprietary": "other", "MIT": "mit", "Apache-2.0": "apache-2.0"}


def champion(**changes: Any) -> Champion:
    """A champion as the registry would describe it, without a registry."""
    facts: dict[str, Any] = {
        "registered_model": "demo-model",
        "alias": "champion",
        "version": "3",
        "registered_at": "2025-05-01T09:30:00Z",
        "run_id": "a" * 32,
        "experiment": "demo-model",
        "git_commit": "c" * 40,
        "raw_data": DataVersion("raw", "breast_cancer", "data/raw/breast_cancer.csv", "1" * 32),
        "data": [
            DataVersion("training", "train", "data/prepared/train.csv", "2" * 32),
            DataVersion("evaluation", "evaluation", "data/prepared/evaluation.csv", "3" * 32),
        ],
        "metrics": {"f1": 0.97619, "accuracy": 0.982301, "recall": 0.95},
        "primary_metric": "f1",
        "threshold": 0.9,
        "acceptance": "passed",
    }
    return Champion(**(facts | changes))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("data", MATRIX, ids=["defaults", "rmse-mit", "r2-apache", "roc-auc"])
def test_model_card_renders_for_answer_matrix(render, data: dict[str, Any]) -> None:
    project = render(data)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    slug = yaml.safe_load((project / "params.yaml").read_text())["mlflow"]["registered_model"]
    path = project / MODEL_CARD
    text = path.read_text(encoding="utf-8")

    card = ModelCard.load(path)
    metric = answers["primary_metric"]
    assert card.data.license == LICENSES[answers["license"]]
    assert (card.data.license_name == "proprietary") == (answers["license"] == "proprietary")
    assert card.data.library_name == "sklearn"
    assert card.data.metrics == [metric]
    assert set(card.data.tags) == {answers["ml_task"], "tabular", "mlops-handover"}
    (result,) = card.data.eval_results
    assert (result.metric_type, result.metric_value) == (metric, None)
    assert result.task_type == f"tabular-{answers['ml_task']}"

    handover = card.data.to_dict()["handover"]
    assert handover["registered_model"] == slug
    assert handover["alias"] == "champion"
    assert handover["client"] == answers["client_org"]
    assert handover["owner"] == {
        "name": answers["client_owner_name"],
        "email": answers["client_owner_email"],
    }
    assert handover["vendor"] == answers["vendor_org"]
    # The metric only: the bar is in evaluation/acceptance.yaml and on the run's tags.
    assert handover["acceptance"] == {"metric": metric}
    assert str(answers["acceptance_threshold"]) not in text
    assert handover["lineage"] == {}

    assert headings(text, 1) == [f"Model card: {answers['project_name']}"]
    assert headings(text, 2) == list(MODEL_CARD_SECTIONS)
    assert not OTHER_PLACEHOLDERS.search(text), OTHER_PLACEHOLDERS.search(text)
    assert text.count(PLACEHOLDER) == len(find_placeholders(text)) > 10
    for name in ("results", "lineage"):
        begin, end = region_markers(name)
        region = text[text.index(begin) + len(begin) : text.index(end)].strip()
        assert PLACEHOLDER_PATTERN.fullmatch(region), region
        assert "handover card" in region and "dvc repro" in region

    # Operation links the runbook and governance instead of restating their commands.
    assert "`docs/runbook.md`" in text and "`docs/handover/data-governance.md`" in text
    assert answers["business_problem"] in text and answers["business_kpi"] in text
    assert (f"developed by {answers['vendor_org']}" in text) == bool(answers["vendor_org"])
    assert ("holds personal data" in text) == answers["personal_data"]
    dataset = "breast_cancer" if answers["ml_task"] == "classification" else "diabetes"
    assert f"data/raw/{dataset}.csv.dvc" in text


def test_updated_card_writes_only_its_regions_and_keys(render) -> None:
    text = (render() / MODEL_CARD).read_text(encoding="utf-8")
    # The client's edits: a comment in the front matter, a metric of their own, prose.
    text = text.replace("library_name: sklearn", "library_name: sklearn  # for the Hub")
    text = text.replace(
        "            value: null\n",
        "            value: null\n          - type: latency_ms  # measured by ops\n"
        "            value: 12\n",
    )
    text = text.replace(
        "## Quantitative results\n", "## Quantitative results\n\nOur own words stay.\n"
    )

    new = updated_card(text, champion())
    front, body = new.split("\n---\n", 1)
    old_body = text.split("\n---\n", 1)[1]
    outside = [
        re.sub(r"<!-- handover:(\w+):begin -->.*?<!-- handover:\1:end -->", "", t, flags=re.S)
        for t in (old_body, body)
    ]
    assert outside[0] == outside[1], "text outside the regions changed"
    assert "# for the Hub" in front and "# measured by ops" in front
    assert "# The bar itself is in evaluation/acceptance.yaml." in front, (
        "the template's comments must survive"
    )

    metadata = read_front_matter(new)
    metrics = metadata["model-index"][0]["results"][0]["metrics"]
    assert [(m["type"], m["value"]) for m in metrics] == [
        ("f1", 0.97619),
        ("accuracy", 0.982301),
        ("recall", 0.95),
        ("latency_ms", 12),
    ]
    assert metrics[0]["name"] == "F1 score", "keys the client set on a metric stay"
    lineage = metadata["handover"]["lineage"]
    assert lineage["run_id"] == "a" * 32 and lineage["version"] == "3"
    assert lineage["data_md5"] == {"raw": "1" * 32, "training": "2" * 32, "evaluation": "3" * 32}
    assert "| **f1** | 0.97619 | >= 0.9 | passed |" in body
    assert f"git checkout {'c' * 40} && dvc pull && dvc repro" in body
    assert "Our own words stay." in body

    assert updated_card(new, champion()) == new, "a second run must change nothing"
    newer = updated_card(new, champion(version="4", metrics={"f1": 0.99}))
    assert "version 4" in newer and "0.99" in newer and "0.97619" not in newer


def test_lower_is_better_bar(render) -> None:
    text = (render({"ml_task": "regression", "primary_metric": "mae"}) / MODEL_CARD).read_text()
    new = updated_card(
        text, champion(metrics={"mae": 43.1, "r2": 0.45}, primary_metric="mae", threshold=55.0)
    )
    assert "| **mae** | 43.1 | <= 55 | passed |" in new
    (first, *_) = ModelCard(new).data.eval_results
    assert (first.metric_type, first.metric_value) == ("mae", 43.1)


@pytest.mark.parametrize("marker", [*region_markers("results"), region_markers("lineage")[1]])
def test_missing_marker_is_named(render, marker: str, capsys) -> None:
    project = render()
    path = project / MODEL_CARD
    path.write_text(path.read_text().replace(marker, ""))
    assert main(["card", "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert f"`{marker}` is missing" in err and "Restore both markers" in err


def test_no_card_no_front_matter_no_model_index(tmp_path: Path, render, capsys) -> None:
    assert main(["card", "--project", str(tmp_path)]) == 2
    assert f"no model card at {tmp_path / MODEL_CARD}" in capsys.readouterr().err
    project = render()
    path = project / MODEL_CARD
    text = path.read_text()
    path.write_text(text.replace("model-index:", "model-index-was:"))
    assert main(["card", "--project", str(project)]) == 2
    assert "no model-index[0].results[0].metrics list" in capsys.readouterr().err
    path.write_text(text.split("\n---\n", 1)[1])
    assert main(["card", "--project", str(project)]) == 2
    assert "has no YAML front matter" in capsys.readouterr().err


def test_unreachable_tracking_server_fails_fast(render, monkeypatch, capsys) -> None:
    project = render()
    uri = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["card", "--project", str(project)]) == 1
    err = capsys.readouterr().err
    assert f"the MLflow server {uri} did not answer" in err
    assert "(tracking URI from environment variable MLFLOW_TRACKING_URI)" in err


def test_store_the_reader_cannot_read(render, monkeypatch, capsys) -> None:
    """The registry is read without MLflow: SQLite files and tracking servers, nothing else."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://ml:s3cret@db.acme.example/mlflow")
    assert main(["card", "--project", str(render())]) == 1
    err = capsys.readouterr().err
    assert "cannot read the MLflow registry" in err and "is a postgresql store" in err
    assert "s3cret" not in err and "tracking server in front of it" in err


def test_no_store_no_model_no_champion(render, tmp_path: Path, monkeypatch, capsys) -> None:
    project = render()
    assert main(["card", "--project", str(project)]) == 1
    assert "no MLflow database" in capsys.readouterr().err

    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_registered_models()  # creates the database
    assert main(["card", "--project", str(project)]) == 1
    assert "no registered model 'demo-model'" in capsys.readouterr().err
    client.create_registered_model("demo-model")
    assert main(["card", "--project", str(project)]) == 1
    err = capsys.readouterr().err
    assert "no version of 'demo-model' holds the alias 'champion'" in err
    assert "dvc repro" in err


def test_help_names_the_exit_codes(capsys) -> None:
    for command in (["card"], ["decision", "new"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        assert exit_.value.code == 0
        assert "exit codes" in capsys.readouterr().out


def handover_card(project: Path, *args: str, check: bool = True, **env: str) -> Any:
    """The installed `handover card` in the project, as a client runs it."""
    environ = project_env(project) | env
    return run(tool("handover"), "card", *args, cwd=project, env=environ, check=check)


@pytest.mark.slow
def test_card_after_pipeline_run(generate, monkeypatch) -> None:
    from mlflow import MlflowClient

    project = generate(name="demo")
    env = project_env(project)
    path = project / MODEL_CARD
    # The client writes before the first run: prose and a front-matter comment.
    path.write_text(
        path.read_text()
        .replace("## Factors\n", "## Factors\n\nSite A and site B differ.\n")
        .replace("library_name: sklearn", "library_name: sklearn  # do not change")
    )
    # Committed first: only a run on the main line (clean tree, default branch) promotes.
    run("git", "commit", "-qam", "Model card: the client's prose", cwd=project, env=env)
    run(tool("dvc"), "repro", cwd=project, env=env)

    first = handover_card(project)
    assert "updated" in first.stdout
    text = path.read_text()
    info = json.loads((project / "models" / "train.json").read_text())
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_ = client.get_run(info["run_id"])
    assert info["run_id"] in text and f"version {info['version']}" in text
    assert run_.data.tags["mlflow.source.git.commit"] in text
    assert "Site A and site B differ." in text and "# do not change" in text
    (result,) = [r for r in ModelCard.load(path).data.eval_results if r.metric_type == "f1"]
    assert result.metric_value == run_.data.metrics["eval_f1"]
    assert ModelCard.load(path).data.eval_results[0].metric_type == "f1"
    # The card's reader is not MLflow: what it wrote is what MLflow says.
    version = client.get_model_version(info["registered_model"], info["version"])
    registered = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
    inputs = {
        {t.key: t.value for t in i.tags}["mlflow.data.context"]: i.dataset.digest
        for i in run_.inputs.dataset_inputs
    }
    assert read_front_matter(text)["handover"]["lineage"] == {
        "registered_model": info["registered_model"],
        "version": str(info["version"]),
        "alias": "champion",
        "registered_at": registered.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_id": info["run_id"],
        "experiment": client.get_experiment(run_.info.experiment_id).name,
        "git_commit": run_.data.tags["mlflow.source.git.commit"],
        "data_md5": {"raw": run_.data.tags["dvc.raw_data.md5"], **inputs},
        "acceptance": version.tags["acceptance"],
    }

    second = handover_card(project, "--json")
    assert json.loads(second.stdout)["status"] == "unchanged"
    assert path.read_text() == text, "a second run must not change a byte"
    assert handover_card(project, "--check").returncode == 0

    path.write_text(text.replace("| **f1** |", "| **F1 (edited)** |"))
    stale = handover_card(project, "--check", check=False)
    assert stale.returncode == 1 and "OUT OF DATE" in stale.stdout
    assert "F1 (edited)" in path.read_text(), "--check writes nothing"
    handover_card(project)
    assert path.read_text() == text

    # A new champion: the same model registered again and promoted. (The registry looks the
    # logged model up in the default tracking store.)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    source = client.get_model_version(info["registered_model"], info["version"]).source
    new = client.create_model_version(info["registered_model"], source, run_id=info["run_id"])
    client.set_registered_model_alias(info["registered_model"], "champion", new.version)
    assert handover_card(project, "--check", check=False).returncode == 1
    handover_card(project)
    assert f"version {new.version}, alias `champion`" in path.read_text()

    # A tracking server in front of the same store: its REST answers make the same card.
    port = free_port()
    server = subprocess.Popen(
        [tool("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", uri, "--artifacts-destination", str(project.parent / "artifacts")],
        cwd=project.parent, env=env | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{url}/health"), "mlflow server", 90, server)
        served = handover_card(project, "--check", "--json", MLFLOW_TRACKING_URI=url)
    finally:
        stop_group(server)
    assert json.loads(served.stdout)["status"] == "unchanged"
