"""The template renders for every combination of the answers that shape the repository."""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, iter_files
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
#: Where the generated project gets the handover-audit hook when the template came from a path.
CANONICAL = "https://github.com/mlops-handover/mlops-handover"
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


def _hook_source(
    src_path: str, commit: str = "", sha: str | None = "a" * 40, vcs_ref: str = "HEAD"
) -> tuple:
    """The computed handover_repo_url/rev of copier.yml, for a template source and commit."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    questions = yaml.safe_load((ROOT / "copier.yml").read_text())
    env = SandboxedEnvironment(
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
        undefined=StrictUndefined,
    )
    context = {
        "_copier_answers": {"_src_path": src_path, "_commit": commit},
        "_copier_conf": {"vcs_ref": vcs_ref, "vcs_ref_hash": sha},
    }
    return tuple(
        env.from_string(questions[key]["default"]).render(**context).strip()
        for key in ("handover_repo_url", "handover_repo_rev")
    )


@pytest.mark.parametrize(
    ("src", "commit", "expected"),
    [
        ("gh:acme/mlops-handover", "v1.2.0", ("https://github.com/acme/mlops-handover", "a" * 40)),
        ("gl:acme/ml/handover.git", "HEAD", ("https://gitlab.com/acme/ml/handover", "a" * 40)),
        (
            "https://git.acme.example/ml/mlops-handover.git",
            "main",
            ("https://git.acme.example/ml/mlops-handover.git", "a" * 40),
        ),
        (
            "git@github.com:acme/mlops-handover.git",
            "v1.0.0",
            ("ssh://git@github.com/acme/mlops-handover.git", "a" * 40),
        ),
        ("git+https://github.com/acme/h", "v1.0.0", ("https://github.com/acme/h", "a" * 40)),
        # A local checkout at a release tag, or after one: the canonical repository at that tag
        # (Copier's `_commit` of the version being rendered, so an update moves it).
        ("/home/me/mlops-handover", "v0.3.1", (CANONICAL, "v0.3.1")),
        ("/home/me/mlops-handover", "v0.3.1-4-g1a2b3c4", (CANONICAL, "v0.3.1")),
        # A local checkout without tags, or the copy bundled with the CLI.
        ("/home/me/mlops-handover", "1a2b3c4", (CANONICAL, f"v{__version__}")),
        ("/usr/lib/python3/site-packages/mlops_handover/_template", "", (CANONICAL, None)),
    ],
)
def test_hook_source_follows_the_template_source(src: str, commit: str, expected: tuple) -> None:
    url, rev = _hook_source(src, commit)
    assert url == expected[0]
    assert rev == (expected[1] or f"v{__version__}")


def test_bundled_template_without_git_uses_the_release_tag() -> None:
    assert _hook_source("/x/_template", "", None) == (CANONICAL, f"v{__version__}")
    assert _hook_source("gh:acme/h", "", None) == ("https://github.com/acme/h", f"v{__version__}")


def test_generated_pre_commit_and_ci_use_the_same_hook_source(render) -> None:
    project = render({"ci_provider": "github"})
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    repo = next(r for r in config["repos"] if any(h["id"] == "handover-audit" for h in r["hooks"]))
    # The tests render from a local snapshot: the canonical repository stands in for it.
    assert (repo["repo"], repo["rev"]) == (CANONICAL, f"v{__version__}")
    ci = (project / ".github/workflows/ci.yml").read_text()
    assert f'"mlops-handover @ git+{CANONICAL}@v{__version__}"' in ci
    # Computed: not stored in the answers, so `copier update` recomputes them.
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert "handover_repo_url" not in answers and "handover_repo_rev" not in answers
    assert answers["audit_level"] == "L1"
