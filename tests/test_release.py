"""Release bookkeeping that must agree: the version, the CHANGELOG, the migrations, the tags."""

from __future__ import annotations

import re
import subprocess

import yaml
from packaging.version import Version

from conftest import ROOT
from mlops_handover import __version__

CONFIG = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_changelog_has_an_entry_for_this_version() -> None:
    headings = re.findall(r"^## (\d+\.\d+\.\d+) - (\d{4}-\d{2}-\d{2})$", CHANGELOG, re.MULTILINE)
    versions = [Version(v) for v, _ in headings]
    assert versions and versions[0] == Version(__version__), "newest CHANGELOG entry"
    assert versions == sorted(versions, reverse=True), "CHANGELOG entries newest first"
    assert "## Unreleased" in CHANGELOG


def test_every_migration_has_its_script_a_release_and_a_changelog_line() -> None:
    migrations = CONFIG["_migrations"]
    assert migrations
    for migration in migrations:
        version = Version(migration["version"])
        assert version <= Version(__version__), f"migration {version} is for an unreleased version"
        (script,) = [c for c in migration["command"] if c.endswith(".py")]
        script = script.replace("{{ _copier_conf.src_path }}/", "")
        assert (ROOT / script).is_file(), script
        assert "_stage" in migration["when"], "say the stage: Copier's default is 'after'"
        assert f"**Migration {version}**" in CHANGELOG, f"CHANGELOG does not announce {version}"


def test_release_tags_are_pep440_and_not_ahead_of_the_package() -> None:
    """Tags may be absent (a shallow or tag-less clone); those present must be sane."""
    tags = subprocess.run(
        ["git", "tag", "--list", "v*"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    for tag in tags:
        assert Version(tag) <= Version(__version__), f"tag {tag} is newer than {__version__}"
