"""The template renders for every combination of the answers that shape the repository."""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import iter_files

CI = ("github", "gitlab", "none")
TRACKING = ("local", "server")
REMOTES = ("local", "s3", "gcs", "azure", "ssh")
TASKS = ("classification", "regression")
# Jinja left in a rendered file; GitHub's `${{ ... }}` expressions are meant to stay.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#")
DVC_EXTRA = {
    "local": "dvc>",
    "s3": "dvc[s3]",
    "gcs": "dvc[gs]",
    "azure": "dvc[azure]",
    "ssh": "dvc[ssh]",
}
LOCK_PLUGIN = {"s3": "dvc-s3==", "gcs": "dvc-gs==", "azure": "dvc-azure==", "ssh": "dvc-ssh=="}


def answers_for(ci: str, tracking: str, remote: str, task: str) -> dict[str, str]:
    data = {"ci_provider": ci, "mlflow_tracking": tracking, "dvc_remote": remote, "ml_task": task}
    if remote == "s3":
        data["dvc_s3_endpoint_url"] = "https://s3.acme.example"
    return data


def check_parses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yml", ".yaml"} or path.name == ".copier-answers.yml":
        list(yaml.safe_load_all(text))
    elif path.suffix == ".toml":
        tomllib.loads(text)
    elif path.suffix == ".json":
        json.loads(text)


@pytest.mark.parametrize(
    ("ci", "tracking", "remote", "task"), list(itertools.product(CI, TRACKING, REMOTES, TASKS))
)
def test_answer_matrix_renders(render, ci: str, tracking: str, remote: str, task: str) -> None:
    data = answers_for(ci, tracking, remote, task)
    project = render(data)
    files = list(iter_files(project))
    assert files, "nothing rendered"
    for path in files:
        rel = path.relative_to(project)
        assert '"' not in str(rel), f"double quote in file name {rel}"
        assert not path.name.endswith(".jinja"), f"template suffix left on {rel}"
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        assert not UNRENDERED.search(text), f"unrendered Jinja in {rel}"
        check_parses(path)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    for key, value in data.items():
        assert answers[key] == value, f"answer {key} did not round-trip"

    assert (project / ".github").exists() == (ci == "github")
    assert (project / ".gitlab-ci.yml").exists() == (ci == "gitlab")

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == ">=3.11"
    assert any(dep.startswith(DVC_EXTRA[remote]) for dep in pyproject["project"]["dependencies"])
    lock = (project / "requirements.lock").read_text()
    assert "mlflow==" in lock and "scikit-learn==" in lock and "pytest==" in lock
    if remote in LOCK_PLUGIN:
        assert LOCK_PLUGIN[remote] in lock

    dvc_config = (project / ".dvc" / "config").read_text()
    assert "remote = storage" in dvc_config
    if remote == "local":
        assert "url = ../../demo-model-dvc-storage" in dvc_config
    else:
        assert f"url = {answers['dvc_remote_url']}" in dvc_config
    assert ("endpointurl = https://s3.acme.example" in dvc_config) == (remote == "s3")
    assert not re.search(r"(access_key|secret|password|credential)", dvc_config, re.I)


@pytest.mark.parametrize(
    ("license_", "expected"),
    [
        ("proprietary", "All rights reserved"),
        ("MIT", "Permission is hereby granted, free of charge"),
        ("Apache-2.0", "Apache License\n                           Version 2.0, January 2004"),
    ],
)
def test_licence_text(render, license_: str, expected: str) -> None:
    project = render({"license": license_, "client_org": "Globex"})
    text = (project / "LICENSE").read_text()
    assert expected in text
    assert "Globex" in text


def test_local_remote_url_forms(render) -> None:
    """Relative answers are relative to the repository root; DVC reads them from .dvc/."""
    relative = render({"dvc_remote_url": "../shared/store"}, name="relative")
    assert "url = ../../shared/store" in (relative / ".dvc/config").read_text()
    absolute = render({"dvc_remote_url": "/srv/dvc/store"}, name="absolute")
    assert "url = /srv/dvc/store\n" in (absolute / ".dvc/config").read_text()
    home = render({"dvc_remote_url": "~/dvc-store"}, name="home")
    assert "url = ~/dvc-store\n" in (home / ".dvc/config").read_text()


def test_free_text_answers_are_escaped(render) -> None:
    """Quotes and backslashes in answers cannot break the generated TOML."""
    project = render(
        {
            "project_name": 'Churn "Zero" Model',
            "business_problem": 'Say "no" to churn \\ today.',
            "client_owner_name": 'O\'Brien, "Pat"',
        }
    )
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == 'Say "no" to churn \\ today.'
    assert pyproject["project"]["authors"][0]["name"] == 'O\'Brien, "Pat"'
    assert pyproject["project"]["name"] == "churn-zero-model"
