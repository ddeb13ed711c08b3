"""Existing repositories of four shapes for the adopt tests, built with real git (and real DVC).

Each builder writes the files a team of that shape would have, commits them and returns what
`handover adopt` should detect. `snapshot(root)` hashes every file and symlink outside `.git`,
so a test can tell that nothing that was there changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from audit_repos import commit, git, write_files

from conftest import ROOT, run

TRACKING_URI = "https://mlflow.acme.example"
S3_URL = "s3://acme-ml-data/churn"
S3_ENDPOINT = "https://s3.acme.example"
REMOTE_SECRET = "s3cret-token"

MIT = """MIT License

Copyright (c) 2024 Acme Scoring contributors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
"""

WORKFLOW = """name: tests
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install -e . && pytest
"""

GITLAB_CI = """train:
  image: python:3.12
  script:
    - pip install -r requirements.txt
    - dvc pull && dvc repro
"""

DVC_YAML = """stages:
  train:
    cmd: python src/train.py
    deps: [src/train.py]
    params: [train.n_estimators]
    outs: [model.pkl]
"""


def notebook(*cells: str) -> str:
    """A Jupyter notebook whose code cells hold `cells`."""
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": cell.splitlines(keepends=True),
                }
                for cell in cells
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def plain_package(repo: Path) -> dict[str, Any]:
    """A Python package: pyproject, src/ layout, tests, README, .gitignore, a GitHub workflow.

    It already has `README.handover-proposed.md` (so the proposal takes the next free name) and
    the template's ADR template byte for byte (so it is listed as present)."""
    write_files(
        repo,
        {
            "pyproject.toml": '[project]\nname = "acme-scoring"\nversion = "1.4.0"\n'
            'requires-python = ">=3.12"\n',
            "src/acme_scoring/__init__.py": '"""Acme credit scoring."""\n',
            "src/acme_scoring/model.py": "def score(x: float) -> float:\n    return 2 * x\n",
            "tests/test_model.py": "from acme_scoring.model import score\n\n\n"
            "def test_score():\n    assert score(1) == 2\n",
            "README.md": "# Acme scoring\n\nOur own README.\n",
            "README.handover-proposed.md": "A file that happens to have the proposal's name.\n",
            ".gitignore": "__pycache__/\n.venv/\n",
            ".github/workflows/ci.yml": WORKFLOW,
            "LICENSE": MIT,
            "docs/decisions/adr-template.md": (
                ROOT / "template/docs/decisions/adr-template.md"
            ).read_bytes(),
        },
    )
    commit(repo, "Acme scoring 1.4")
    git(
        repo,
        "remote",
        "add",
        "origin",
        f"https://ci-bot:{REMOTE_SECRET}@github.com/acme/scoring.git",
    )
    return {
        "answers": {
            "ci_provider": "github",
            "package_name": "acme_scoring",
            "project_name": "Acme Scoring",
            "python_version": "3.12",
            "license": "MIT",
        },
        "facts": {"git_remote": "https://github.com/acme/scoring.git", "default_branch": "main"},
        "proposed": {
            "README.md": "README.handover-proposed-2.md",
            "pyproject.toml": "pyproject.handover-proposed.toml",
            ".gitignore": ".gitignore.handover-proposed",
            ".github/workflows/ci.yml": ".github/workflows/ci.yml.handover-proposed",
            "LICENSE": "LICENSE.handover-proposed",
        },
        "present": ["docs/decisions/adr-template.md"],
        "package": "acme_scoring",
    }


def dvc_project(repo: Path) -> dict[str, Any]:
    """A DVC project without MLflow: `dvc init`, an S3 remote, a pipeline, GitLab CI."""
    write_files(
        repo,
        {
            "src/train.py": "import pickle\n\npickle.dump(100, open('model.pkl', 'wb'))\n",
            "requirements.txt": "dvc[s3]>=3\nscikit-learn\n",
            "README.md": "# Churn\n\nRun `dvc repro`.\n",
            ".gitlab-ci.yml": GITLAB_CI,
            "params.yaml": "train:\n  n_estimators: 100\n",
            "dvc.yaml": DVC_YAML,
        },
    )
    dvc = (sys.executable, "-m", "dvc")
    run(*dvc, "init", "--quiet", cwd=repo, env=os.environ)
    run(*dvc, "remote", "add", "--default", "storage", S3_URL, cwd=repo, env=os.environ)
    run(*dvc, "remote", "modify", "storage", "endpointurl", S3_ENDPOINT, cwd=repo, env=os.environ)
    commit(repo, "Churn pipeline on DVC")
    return {
        "answers": {
            "ci_provider": "gitlab",
            "dvc_remote": "s3",
            "dvc_remote_url": S3_URL,
            "dvc_s3_endpoint_url": S3_ENDPOINT,
            "project_name": "Churn Dvc",
        },
        "facts": {"dvc": True, "dvc_pipeline": True, "dvc_default_remote": f"storage: {S3_URL}"},
        "proposed": {
            "README.md": "README.handover-proposed.md",
            ".gitlab-ci.yml": ".gitlab-ci.handover-proposed.yml",
            "pyproject.toml": "pyproject.handover-proposed.toml",
        },
        "present": [],
        "package": "churn_dvc",
    }


def cookiecutter_data_science(repo: Path) -> dict[str, Any]:
    """The cookiecutter-data-science layout, with MLflow on the client's tracking server."""
    write_files(
        repo,
        {
            "Makefile": "data:\n\tpython src/churn/dataset.py\n",
            "README.md": "Churn\n==============================\n\nA data science project.\n",
            "requirements.txt": "mlflow\npandas\n",
            "setup.py": "from setuptools import find_packages, setup\n\n"
            "setup(name='churn', packages=find_packages('src'), package_dir={'': 'src'})\n",
            "LICENSE": MIT,
            ".env.example": f"MLFLOW_TRACKING_URI={TRACKING_URI}\nMLFLOW_TRACKING_USERNAME=\n",
            ".gitignore": "*.pyc\n.env\n/data/\n",
            "data/README.md": "Data lives in the client's bucket.\n",
            "models/.gitkeep": "",
            "references/.gitkeep": "",
            "reports/figures/.gitkeep": "",
            "notebooks/1.0-jd-initial-exploration.ipynb": notebook(
                "import mlflow\nimport pandas as pd",
                f'mlflow.set_tracking_uri("{TRACKING_URI}")\nmlflow.set_experiment("churn")',
            ),
            "src/churn/__init__.py": "",
            "src/churn/dataset.py": "import pandas as pd\n",
            "src/churn/train.py": "import mlflow\n\nmlflow.log_metric('f1', 0.9)\n",
        },
    )
    commit(repo, "cookiecutter-data-science project")
    return {
        "answers": {
            "ci_provider": "none",
            "mlflow_tracking": "server",
            "mlflow_tracking_uri": TRACKING_URI,
            "package_name": "churn",
            "license": "MIT",
        },
        "facts": {"mlflow": True},
        "proposed": {
            "README.md": "README.handover-proposed.md",
            ".gitignore": ".gitignore.handover-proposed",
            "LICENSE": "LICENSE.handover-proposed",
            "pyproject.toml": "pyproject.handover-proposed.toml",
        },
        "present": [],
        "package": "churn",
    }


def vendor_delivery(repo: Path, outside: Path) -> dict[str, Any]:
    """What a vendor hands over: notebooks, a pickled model, requirements, no CI; notes with
    CRLF line endings, SECURITY.md a symlink to a file outside the repository, and a
    .gitignore that hides an `evaluation/` directory."""
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "SECURITY.md").write_text("The vendor's security policy.\n")
    write_files(
        repo,
        {
            "notebooks/train.ipynb": notebook(
                'import mlflow\nmlflow.set_tracking_uri("sqlite:///mlflow.db")',
                "mlflow.sklearn.autolog()",
            ),
            "model/model.pkl": pickle.dumps({"weights": [0.1, 0.2]}),
            "requirements.txt": "mlflow==2.9.2\nscikit-learn==1.3.2\n",
            "NOTES.txt": "Delivery notes\r\nRun the notebook top to bottom.\r\n",
            ".gitignore": "evaluation/\n",
        },
    )
    (repo / "SECURITY.md").symlink_to(outside / "SECURITY.md")
    git(repo, "config", "core.autocrlf", "false")  # committed from Windows, CRLF and all
    commit(repo, "Delivery 2024-06")
    return {
        "answers": {"ci_provider": "none", "mlflow_tracking": "local"},
        "facts": {"mlflow": True, "mlflow_store": "sqlite:///mlflow.db"},
        "proposed": {
            "SECURITY.md": "SECURITY.handover-proposed.md",
            ".gitattributes": ".gitattributes.handover-proposed",
            ".gitignore": ".gitignore.handover-proposed",
            "pyproject.toml": "pyproject.handover-proposed.toml",
        },
        "present": [],
        "ignored": ["evaluation/acceptance.yaml"],
        "package": "vendor_delivery",
    }


def build(shape: str, root: Path) -> tuple[Path, dict[str, Any]]:
    """A committed repository of `shape` under `root`, and what adopt should find in it."""
    name = {"plain": "scoring", "dvc": "churn-dvc", "ccds": "churn", "vendor": "vendor-delivery"}
    repo = root / name[shape]
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    if shape == "plain":
        return repo, plain_package(repo)
    if shape == "dvc":
        return repo, dvc_project(repo)
    if shape == "ccds":
        return repo, cookiecutter_data_science(repo)
    return repo, vendor_delivery(repo, root / "outside")


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file outside `.git`; a symlink by its target, never followed."""
    found = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not (directory == str(root) and d == ".git")]
        for name in [*files, *(d for d in dirs if os.path.islink(os.path.join(directory, d)))]:
            path = Path(directory, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = f"symlink -> {os.readlink(path)}"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
