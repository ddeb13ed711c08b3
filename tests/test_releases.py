"""Template versions without tags (issue 15): a release is the commit at which `__version__`
changes. The finder on real git histories, the tagged clone and the history bundle, freshness
of a tagless template, and (slow) a project generated from one built wheel and updated from
the next, offline.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from audit_repos import commit, git, make_repo, write_files
from packaging.version import Version
from template_history import set_version

from conftest import ROOT, run, tool
from mlops_handover import __version__, template
from mlops_handover.errors import HandoverError
from mlops_handover.releases import VERSION_FILE, find_releases, tagged_clone, write_history
from mlops_handover.template import copier_source, resolve_source, template_freshness


def version_file(version: str, doc: str = "The package.") -> dict[str, str]:
    return {VERSION_FILE: f'"""{doc}"""\n\n__version__ = "{version}"\n'}


def released(repo: Path, version: str) -> str:
    """Commit `version` as the package's version; returns the commit."""
    write_files(repo, version_file(version))
    return commit(repo, f"release {version}")


def small_history(path: Path) -> tuple[Path, str, str, str]:
    """Releases 0.1.0 and 0.2.0, each followed by a commit that is not one; the three SHAs
    (0.1.0, 0.2.0, HEAD)."""
    repo = make_repo(path, {**version_file("0.1.0"), "copier.yml": "x: 1\n"})
    first = git(repo, "rev-parse", "HEAD")
    write_files(repo, {"copier.yml": "x: 2\n"})
    commit(repo, "an ordinary commit")
    second = released(repo, "0.2.0")
    write_files(repo, {"copier.yml": "x: 3\n"})
    return repo, first, second, commit(repo, "another ordinary commit")


def test_a_release_is_the_first_commit_to_carry_a_higher_version(tmp_path: Path) -> None:
    repo, first, second, _ = small_history(tmp_path / "template")
    write_files(repo, version_file("0.2.0", "The package, reworded."))
    commit(repo, "the version file changes, the version does not")
    released(repo, "0.1.0")  # back: a revert is no release
    released(repo, "0.2.0")  # again: a repeat is no release
    # A version bumped on a branch is released where main takes it: the merge.
    git(repo, "checkout", "-q", "-b", "next")
    on_branch = released(repo, "0.3.0")
    git(repo, "checkout", "-q", "main")
    write_files(repo, {"README.md": "# Template\n"})
    commit(repo, "main moves on")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge next", "next")
    merge = git(repo, "rev-parse", "HEAD")

    found = [(str(r.version), r.commit, r.tag) for r in find_releases(repo)]

    assert found == [
        ("0.1.0", first, "v0.1.0"),
        ("0.2.0", second, "v0.2.0"),
        ("0.3.0", merge, "v0.3.0"),
    ]
    assert on_branch != merge
    assert [r.tag for r in find_releases(repo, second)] == ["v0.1.0", "v0.2.0"]


def test_a_shallow_clone_tells_no_release_but_still_builds_and_generates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CI checkout is often shallow: no release is guessed from it, nothing fails either."""
    repo, *_, head = small_history(tmp_path / "template")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    with pytest.raises(HandoverError, match="shallow clone"):
        find_releases(shallow)
    bundle = tmp_path / "history.bundle"
    assert write_history(shallow, bundle) == []
    assert git(tmp_path, "bundle", "list-heads", str(bundle)) == f"{head} HEAD"
    with copier_source(str(shallow)) as template:
        assert (template.read, template.record, template.ref) == (str(shallow),) * 2 + ("HEAD",)
    assert "is a shallow clone" in capsys.readouterr().err


def test_the_tagged_clone_has_the_releases_and_the_checkout_stays_as_it_is(
    tmp_path: Path,
) -> None:
    repo, first, _, head = small_history(tmp_path / "template")
    git(repo, "tag", "v0.2.0", first)  # a tag the checkout already has is kept, even elsewhere
    write_files(repo, {"copier.yml": "x: uncommitted\n", "new.txt": "untracked\n"})
    (repo / VERSION_FILE).unlink()
    before = git(repo, "status", "--porcelain")

    with tagged_clone(repo) as clone:
        tags = {tag: git(clone, "rev-list", "-n", "1", tag) for tag in git(clone, "tag").split()}
        assert tags == {"v0.1.0": first, "v0.2.0": first}
        assert git(clone, "rev-parse", "HEAD") == head
        # The working tree is the checkout's: Copier adds it as a draft when it renders HEAD.
        assert (clone / "copier.yml").read_text() == "x: uncommitted\n"
        assert (clone / "new.txt").is_file() and not (clone / VERSION_FILE).exists()
    assert not clone.exists()
    assert git(repo, "tag") == "v0.2.0" and git(repo, "status", "--porcelain") == before


def test_the_history_bundle_has_head_and_the_release_tags(tmp_path: Path) -> None:
    repo, first, second, head = small_history(tmp_path / "template")
    bundle = tmp_path / "history.bundle"

    assert write_history(repo, bundle) == ["v0.1.0", "v0.2.0"]

    listed = git(tmp_path, "ls-remote", str(bundle)).splitlines()
    refs = dict(line.split("\t")[::-1] for line in listed)
    assert refs == {"HEAD": head, "refs/tags/v0.1.0": first, "refs/tags/v0.2.0": second}
    git(tmp_path, "clone", "-q", str(bundle), "from-bundle")
    assert git(tmp_path / "from-bundle", "describe", "--tags") == f"v0.2.0-1-g{head[:7]}"
    assert git(repo, "tag") == ""


def test_freshness_of_a_tagless_template_follows_the_rule(tmp_path: Path) -> None:
    repo, first, second, head = small_history(tmp_path / "template")
    behind = template_freshness(str(repo), "v0.1.0")
    assert (behind.state, behind.latest) == ("behind", "v0.2.0")
    assert "the latest is v0.2.0" in behind.note
    for commit_ in ("v0.2.0", f"v0.2.0-1-g{head[:7]}", second[:7]):
        assert template_freshness(str(repo), commit_).state == "current", commit_
    assert template_freshness(str(repo), first[:7]).state == "behind"
    # A tag the template has is honoured beside the rule's releases.
    git(repo, "tag", "v0.3.0")
    tagged = template_freshness(str(repo), "v0.2.0")
    assert (tagged.state, tagged.latest) == ("behind", "v0.3.0")


def test_a_path_into_an_installed_template_means_this_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = tmp_path / "site-packages" / "mlops_handover" / "_template"
    bundled.mkdir(parents=True)
    (bundled / "history.bundle").write_bytes(b"")
    monkeypatch.setattr(template, "BUNDLED_TEMPLATE", bundled)
    history = str(bundled / "history.bundle")
    removed = "/old/venv/lib/python3.10/site-packages/mlops_handover/_template/history.bundle"

    assert resolve_source(removed) == resolve_source(str(bundled)) == history
    for other in ("/work/mlops-handover", "https://example.com/mlops_handover/_template"):
        assert resolve_source(other) == other


# --- wheels -----------------------------------------------------------------------------------


def next_version() -> str:
    current = Version(__version__)
    return f"{current.major}.{current.minor}.{current.micro + 1}"


@pytest.fixture(scope="module")
def uv_cache() -> str:
    """uv's own cache, which is warm (hatchling, the `generate` extra's packages): the isolated
    HOME of each test would make it an empty one. Module-scoped, so it is read before that."""
    return run(tool("uv"), "cache", "dir", cwd=ROOT).stdout.strip()


def build(source: Path, out: Path, env: dict[str, str]) -> Path:
    """`uv build` (the sdist, then the wheel from it, without .git); the wheel."""
    uv_build = [tool("uv"), "build", "--offline", "--quiet", "--out-dir", out]
    run(*uv_build, cwd=source, env=env, timeout=300)
    return next(out.glob("*.whl"))


@pytest.mark.slow
def test_a_project_from_one_wheel_updates_from_the_next_offline(
    tmp_path: Path, uv_cache: str
) -> None:
    """Wheel N+1's history bundle holds N's release too: an update needs no checkout of this
    repository and no network (no URL anywhere; git may use file paths only)."""
    uv_env = {**os.environ, "UV_CACHE_DIR": uv_cache}
    source = tmp_path / "mlops-handover"
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        if (ROOT / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, source / rel)
    git(source, "init", "-q", "-b", "main")
    commit(source, f"mlops-handover {__version__}")
    wheel_n = build(source, tmp_path / "dist-n", uv_env)
    set_version(source, next_version())
    added = "template/docs/handover/from-the-next-wheel.md"
    write_files(source, {added: "# Added by the next release\n"})
    commit(source, f"mlops-handover {next_version()}")
    wheel_next = build(source, tmp_path / "dist-next", uv_env)

    venv = tmp_path / "venv"
    run(tool("uv"), "venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    install = [tool("uv"), "pip", "install", "--offline", "--quiet", "--python", python]
    run(*install, f"{wheel_n}[generate]", cwd=tmp_path, env=uv_env, timeout=600)
    offline = {
        **os.environ,
        "GIT_ALLOW_PROTOCOL": "file",
        **{proxy: "http://127.0.0.1:9" for proxy in ("http_proxy", "https_proxy", "all_proxy")},
    }
    handover = venv / "bin" / "handover"
    run(handover, "new", "p", "--defaults", "--no-run", cwd=tmp_path, env=offline)
    project = tmp_path / "p"
    first = yaml.safe_load((project / ".copier-answers.yml").read_text())
    history = next(venv.glob("lib/python*/site-packages/mlops_handover/_template/history.bundle"))
    assert (first["_commit"], first["_src_path"]) == (f"v{__version__}", str(history))
    train = next(project.glob("src/*/train.py"))
    edited = train.read_text() + "\n# Client change: kept across template updates.\n"
    train.write_text(edited)
    commit(project, "Client edit")

    run(*install, wheel_next, cwd=tmp_path, env=uv_env, timeout=600)
    update = run(handover, "update", cwd=project, env=offline)

    after = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert f"to v{next_version()}" in update.stdout
    assert (after["_commit"], after["_src_path"]) == (f"v{next_version()}", str(history))
    assert "://" not in after["_src_path"]
    assert (project / added.removeprefix("template/")).is_file()
    assert train.read_text() == edited
