"""The template renders for every combination of the answers that shape the repository."""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import iter_files, run
from mlops_handover import __version__

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
        assert f"url = {project.parent.resolve() / 'demo-model-dvc-storage'}\n" in dvc_config
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


# --- the handover audit: level, domains, hook source ------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, {"fail-under": "L1", "client-domains": ["acme.example"]}),
        (
            {"audit_level": "L3", "vendor_email_domain": "vendor.example"},
            {
                "fail-under": "L3",
                "client-domains": ["acme.example"],
                "vendor-domains": ["vendor.example"],
            },
        ),
        (
            # In house: no vendor, so no vendor domain, even one passed with --data.
            {
                "vendor_org": "",
                "vendor_email_domain": "initech.example",
                "client_email_domain": "globex.example",
                "audit_level": "L2",
            },
            {"fail-under": "L2", "client-domains": ["globex.example"]},
        ),
    ],
)
def test_audit_configuration(render, data: dict, expected: dict) -> None:
    """pyproject.toml's [tool.handover.audit] holds the level and the domains, and is valid."""
    from mlops_handover.audit import config as audit_config

    project = render(data)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    table = pyproject["tool"]["handover"]["audit"]
    assert table == expected
    config = audit_config.load(project)
    assert config.problems == []
    assert config.fail_under == int(expected["fail-under"][1])
    assert config.client_domains == tuple(expected["client-domains"])


@pytest.mark.parametrize("ci", CI)
def test_security_policy_and_dependabot(render, ci: str) -> None:
    project = render({"ci_provider": ci, "vendor_org": "Initech"})
    security = (project / "SECURITY.md").read_text()
    assert "ml-owner@acme.example" in security and "Initech" in security
    assert ("private vulnerability reporting" in security) == (ci == "github")
    dependabot = project / ".github" / "dependabot.yml"
    assert dependabot.is_file() == (ci == "github")
    if ci == "github":
        updates = yaml.safe_load(dependabot.read_text())["updates"]
        assert {u["package-ecosystem"] for u in updates} == {"pip", "github-actions"}
        assert all(u["cooldown"]["default-days"] >= 7 for u in updates)
    renovate = project / "renovate.json"
    assert renovate.is_file() == (ci != "github")
    if ci != "github":
        assert json.loads(renovate.read_text())["extends"] == ["config:recommended"]


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("source", "requirement", "lock_line", "option"),
    [
        ("pypi", f"mlops-handover[generate]=={__version__}", f"mlops-handover=={__version__}", ""),
        (
            "https://pypi.acme.example/simple/",
            f"mlops-handover[generate]=={__version__}",
            f"mlops-handover=={__version__}",
            "--index-url https://pypi.acme.example/simple/",
        ),
        (
            f"wheels/mlops_handover-{__version__}-py3-none-any.whl",
            f"mlops-handover[generate]=={__version__}",
            f"mlops-handover=={__version__}",
            "--find-links wheels",
        ),
        (
            f"git+https://git.acme.example/ml/mlops-handover@{SHA}",
            f"mlops-handover[generate] @ git+https://git.acme.example/ml/mlops-handover@{SHA}",
            f"mlops-handover @ git+https://git.acme.example/ml/mlops-handover@{SHA}",
            "",
        ),
    ],
)
def test_handover_source_is_one_answer_for_pyproject_lock_and_readme(
    render, source: str, requirement: str, lock_line: str, option: str
) -> None:
    """The development extra, the lock and the runbook's relock command follow the answer."""
    project = render({"handover_source": source})
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert requirement in pyproject["project"]["optional-dependencies"]["dev"]
    lock = (project / "requirements.lock").read_text().splitlines()
    assert lock.count(lock_line) == 1
    options = [line for line in lock if line.startswith("--")]
    assert options == ([option] if option else [])
    runbook = (project / "docs/runbook.md").read_text()
    relock = next(line for line in runbook.splitlines() if line.startswith("uv pip compile"))
    header = next(line for line in lock if line.startswith("#    uv pip compile"))
    assert relock == header.removeprefix("#    "), "runbook and lock header give one command"
    if option:
        assert f" {option} --emit-" in relock
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["handover_source"] == source
    for computed in ("handover_version", "handover_requirement", "handover_index_option"):
        assert computed not in answers, f"{computed} is computed, never recorded"


def test_handover_version_is_the_package_version(render) -> None:
    readme = (render() / "README.md").read_text()
    assert f"mlops-handover {__version__}, the tool that generated this repository" in readme


#: A URL, index or git reference a generated file may hold: only real, public places. The
#: package comes from the index under its name (no URL); the pinned actions and docs links exist.
ALLOWED_HOSTS = {
    "docs.astral.sh", "pre-commit.com", "dvc.org", "mlflow.org", "github.com", "gitlab.com",
    "docs.github.com", "docs.gitlab.com", "huggingface.co", "www.apache.org", "adr.github.io",
    "opensource.org", "choosealicense.com", "spdx.org", "json-schema.org", "arxiv.org",
    "keepachangelog.com", "semver.org", "copier.readthedocs.io", "scikit-learn.org",
    "archive.ics.uci.edu", "www4.stat.ncsu.edu", "docs.renovatebot.com", "www.python.org",
    "peps.python.org", "packaging.python.org", "pypi.org", "docs.aws.amazon.com",
    "cloud.google.com", "learn.microsoft.com", "www.postgresql.org", "docs.docker.com",
    "hub.docker.com", "ghcr.io", "docs.pydantic.dev", "doi.org", "raw.githubusercontent.com",
    "schemas.acme.example",
}  # fmt: skip


@pytest.mark.parametrize("ci", CI)
@pytest.mark.parametrize("tracking", TRACKING)
def test_no_generated_file_installs_from_a_url_or_tag_that_does_not_exist(
    render, ci: str, tracking: str
) -> None:
    """No `git+` URL, no mlops-handover repository URL, no release tag of this project.

    This repository is published as its main branch only: a tag or a repository URL that a
    generated file installed from would fail on the client's first CI run.
    """
    project = render({"ci_provider": ci, "mlflow_tracking": tracking})
    for path in iter_files(project):
        rel = path.relative_to(project).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        assert "git+" not in text, f"{rel} installs from a git URL"
        assert not re.search(r"mlops-handover/mlops-handover|mlops-handover@v?\d", text), rel
        assert not re.search(r"mlops-handover[^\n]*\bv\d+\.\d+\.\d+", text), f"{rel} names a tag"
        for host in re.findall(r"https?://([A-Za-z0-9.-]+)", text):
            assert (
                host in ALLOWED_HOSTS
                or host.endswith(("acme.example", "example.com", "localhost"))
                or host in {"127.0.0.1", "0.0.0.0"}
            ), f"{rel} points at {host}"


def test_local_env_files_are_ignored_and_the_example_tracked(render) -> None:
    """A plain `git add -A` commits no .env variant or .envrc (each committed a token before),
    while the template's own .env.example (the team-server variant ships one) stays tracked."""
    project = render({"mlflow_tracking": "server"})
    secrets = [
        ".env.local",
        ".envrc",
        ".env.production",
        "deploy/mlflow/.env",
        "deploy/mlflow/.env.local",
    ]
    for name in secrets:
        (project / name).write_text("MLFLOW_TRACKING_TOKEN=tok3n\n")
    run("git", "init", "-q", cwd=project)
    run("git", "add", "-A", cwd=project)
    staged = run("git", "diff", "--cached", "--name-only", cwd=project).stdout.split()
    assert not set(secrets) & set(staged), set(secrets) & set(staged)
    assert "deploy/mlflow/.env.example" in staged
    assert ".gitignore" in staged and ".dvc/.gitignore" in staged
