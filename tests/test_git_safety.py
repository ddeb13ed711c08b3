"""Reading a repository handover does not trust runs none of its commands (issue 17).

A hostile repository plants a command, which leaves a marker file when run, under every config
key git runs one from: core.fsmonitor, hooks (core.hooksPath and .git/hooks), core.sshCommand,
diff.external, a textconv driver, clean/smudge and long-running process filter drivers that
.gitattributes names, core.alternateRefsCommand and core.pager; once in .git/config and once in
a file that .git/config pulls in with include.path. Plain git runs each of them (the control),
the hardened runner and `handover audit`, `doctor` and `adopt` run none, and the audit and
doctor leave .git/index byte for byte and its mtime as they were (plain `git status` rewrites
it).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from audit_repos import commit, git, make_repo

from mlops_handover.audit.fixtures import GitRepo
from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import run_git, status

HANDOVER = [sys.executable, "-m", "mlops_handover"]
HOOKS = (
    "pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout",
    "post-merge", "post-rewrite", "pre-auto-gc", "reference-transaction", "post-index-change",
    "pre-push", "fsmonitor-watchman",
)  # fmt: skip
#: The planted commands: scripts that append to markers/<name> (`filter-*` and `pager` then pass
#: their input through). `hook` is every hook, in core.hooksPath and in .git/hooks.
COMMANDS = (
    "fsmonitor", "hook", "ssh", "diff-external", "textconv", "filter-clean", "filter-smudge",
    "filter-process", "alternate-refs", "pager",
)  # fmt: skip
IDENTITY = {
    f"GIT_{role}_{field}": value
    for role in ("AUTHOR", "COMMITTER")
    for field, value in (("NAME", "Client Dev"), ("EMAIL", "dev@client.example"))
}
#: Non-UTF-8 bytes (Latin-1 "café") in a file name.
LATIN1_NAME = b"caf\xe9.txt"


class Hostile:
    """A committed repository with every planted command armed, and where markers appear."""

    def __init__(self, root: Path, place: str) -> None:
        self.repo = make_repo(root / "delivery", {"README.md": "# delivery\n"})
        self.markers = root / "markers"
        self.markers.mkdir()
        bin_dir = root / "bin"
        bin_dir.mkdir()
        for name in COMMANDS:
            tail = "exec cat" if name in ("filter-clean", "filter-smudge", "pager") else "exit 0"
            script = bin_dir / name
            script.write_text(f'#!/bin/sh\necho "$*" >> "{self.markers / name}"\n{tail}\n')
            script.chmod(script.stat().st_mode | stat.S_IEXEC)
        # Files the drivers apply to, committed before anything is armed.
        (self.repo / "data.txt").write_text("rows\n")
        (self.repo / "model.dat").write_text("weights\n")
        (self.repo / ".gitattributes").write_text(
            "*.txt filter=evil diff=evil\n*.dat filter=evilproc\n"
        )
        commit(self.repo, "data")
        # Not racily clean: git trusts model.dat's stat and reads it only when checking it out.
        for name in ("data.txt", "model.dat", ".gitattributes", "README.md"):
            os.utime(self.repo / name, (1_000_000_000, 1_000_000_000))
        git(self.repo, "update-index", "--refresh")
        # An alternate object store: fetching then asks core.alternateRefsCommand for its refs.
        self.other = make_repo(root / "other", {"other.md": "other\n"})
        alternates = self.repo / ".git" / "objects" / "info" / "alternates"
        alternates.write_text(f"{self.other / '.git' / 'objects'}\n")
        hooks = root / "hooks"
        hooks.mkdir()
        for hook in HOOKS:
            for directory in (hooks, self.repo / ".git" / "hooks"):
                shutil.copy(bin_dir / "hook", directory / hook)
        settings = {
            "core.fsmonitor": bin_dir / "fsmonitor",
            "core.hooksPath": hooks,
            "core.sshCommand": bin_dir / "ssh",
            "core.alternateRefsCommand": bin_dir / "alternate-refs",
            "core.pager": bin_dir / "pager",
            "diff.external": bin_dir / "diff-external",
            "diff.evil.textconv": bin_dir / "textconv",
            "filter.evil.clean": bin_dir / "filter-clean",
            "filter.evil.smudge": bin_dir / "filter-smudge",
            "filter.evil.required": "true",
            "filter.evilproc.process": bin_dir / "filter-process",
        }
        target = self.repo / ".git" / "config"
        if place == "include":
            target = root / "included.cfg"
            git(self.repo, "config", "include.path", str(target))
        for key, value in settings.items():
            git(self.repo, "config", "--file", str(target), key, str(value))
        git(self.repo, "remote", "add", "origin", "ssh://git.vendor.invalid/delivery.git")
        # Racy: git must read data.txt again (through the clean filter) to know it is clean.
        os.utime(self.repo / "data.txt", ns=(1, 1))
        self.index = self.repo / ".git" / "index"
        assert self.ran() == []

    def ran(self) -> list[str]:
        return sorted(path.name for path in self.markers.iterdir())

    def index_state(self) -> tuple[bytes, int]:
        return self.index.read_bytes(), self.index.stat().st_mtime_ns


@pytest.fixture(params=["config", "include"])
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> Hostile:
    return Hostile(tmp_path, request.param)


def operations(run: Callable[..., object], hostile: Hostile) -> None:
    """The git operations that reach every planted command, through `run(*args)`."""
    repo = hostile.repo
    run("status")  # fsmonitor, clean filter (the racy file), the index refresh
    (repo / "data.txt").write_text("rows changed\n")
    run("diff")  # diff.external
    run("diff", "--no-ext-diff")  # textconv
    run("-p", "log", "-1")  # core.pager (asked for with -p)
    run("fetch", "origin")  # core.sshCommand
    run("fetch", "--quiet", str(hostile.other), "HEAD")  # core.alternateRefsCommand
    run("commit", "--allow-empty", "-qm", "hooked")  # pre-commit, post-commit ...
    (repo / "model.dat").unlink()
    run("checkout", "--", "data.txt", "model.dat")  # smudge, process filter, post-checkout


def test_plain_git_runs_every_planted_command(hostile: Hostile) -> None:
    """The control: the repository is armed, so the tests below prove something."""

    def plain(*args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("GIT_PAGER", "PAGER")}
        # `script` gives git a terminal, as a user's shell does, so that the pager runs.
        subprocess.run(
            ["script", "-qec", " ".join(["git", *args]), "/dev/null"],
            cwd=hostile.repo, env={**env, **IDENTITY}, capture_output=True,
            stdin=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip

    operations(plain, hostile)
    assert hostile.ran() == sorted(COMMANDS)


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
def test_the_hardened_runner_runs_none_of_them(hostile: Hostile, trusted: bool) -> None:
    before = hostile.index_state()
    run_git(hostile.repo, "status", trusted=trusted)
    assert hostile.index_state() == before
    operations(lambda *a: run_git(hostile.repo, *a, trusted=trusted, env=IDENTITY), hostile)
    assert hostile.ran() == []


def test_audit_doctor_and_adopt_run_none_and_the_reads_leave_the_index(hostile: Hostile) -> None:
    before = hostile.index_state()
    for command in (["audit", "--offline", "--show", "all"], ["doctor", "--project"]):
        ran = subprocess.run(
            [*HANDOVER, *command, str(hostile.repo)], capture_output=True, text=True, timeout=120
        )
        assert "Traceback" not in ran.stderr, ran.stderr
        assert ran.returncode in (0, 1), ran.stderr
        assert hostile.ran() == [], command
        assert hostile.index_state() == before, command
    adopted = subprocess.run(
        [*HANDOVER, "adopt", str(hostile.repo)], capture_output=True, text=True, timeout=300
    )
    assert adopted.returncode == 0, adopted.stderr
    assert hostile.ran() == []
    assert hostile.index_state() == before  # adopt stages into a copy of the index


def test_a_filter_driver_whose_name_holds_an_equals_sign_is_neutralised(tmp_path: Path) -> None:
    """`-c filter.a=b.clean=cat` cannot name it: the override goes through GIT_CONFIG_KEY_n."""
    hostile = Hostile(tmp_path, "config")
    (hostile.repo / ".gitattributes").write_text("*.txt filter=a=b\n")
    git(hostile.repo, "config", "filter.a=b.clean", str(tmp_path / "bin" / "filter-clean"))
    git(hostile.repo, "config", "--unset", "core.fsmonitor")
    subprocess.run(["git", "status"], cwd=hostile.repo, capture_output=True, check=True)
    assert "filter-clean" in hostile.ran()
    shutil.rmtree(hostile.markers)
    hostile.markers.mkdir()
    run_git(hostile.repo, "add", "--all")
    assert hostile.ran() == []


def test_the_audit_leaves_the_index_that_plain_git_status_rewrites(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"data.txt": "rows\n", "train.py": "print(1)\n"})
    os.utime(repo / "data.txt", ns=(1, 1))  # its stat no longer matches the index
    control = tmp_path / "control"
    shutil.copytree(repo, control)
    index = ".git/index"
    before = (control / index).stat().st_mtime_ns
    subprocess.run(["git", "status"], cwd=control, capture_output=True, check=True)
    assert (control / index).stat().st_mtime_ns != before
    before_bytes, before = (repo / index).read_bytes(), (repo / index).stat().st_mtime_ns
    audited = subprocess.run([*HANDOVER, "audit", str(repo)], capture_output=True, timeout=120)
    assert audited.returncode in (0, 1), audited.stderr
    assert (repo / index).read_bytes() == before_bytes
    assert (repo / index).stat().st_mtime_ns == before


def test_a_submodule_s_own_filter_driver_does_not_run(tmp_path: Path) -> None:
    """`git status` looks into a submodule with a git run on the submodule's own config."""
    sub = make_repo(tmp_path / "sub", {"data.txt": "rows\n", ".gitattributes": "*.txt filter=s\n"})
    repo = make_repo(tmp_path / "delivery", {"README.md": "# delivery\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
    commit(repo, "submodule")
    marker = tmp_path / "ran"
    git(repo / "sub", "config", "filter.s.clean", f"sh -c 'touch {marker}; cat'")
    os.utime(repo / "sub" / "data.txt", (1_000_000_000, 1_000_000_000))
    control = tmp_path / "control"
    shutil.copytree(repo, control, symlinks=True)
    subprocess.run(["git", "status"], cwd=control, capture_output=True, check=True)
    assert marker.exists()
    marker.unlink()
    audited = subprocess.run([*HANDOVER, "audit", str(repo)], capture_output=True, timeout=120)
    assert audited.returncode in (0, 1), audited.stderr
    assert not marker.exists()


@pytest.fixture
def latin1_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "latin1", {"train.py": "print('train')\n"})
    (repo / os.fsdecode(LATIN1_NAME)).write_bytes(b"rows\n")
    commit(repo, "a file name that is not UTF-8")
    return repo


def test_adopt_and_audit_read_a_file_name_that_is_not_utf8(latin1_repo: Path) -> None:
    audited = subprocess.run(
        [*HANDOVER, "audit", "--format", "json", str(latin1_repo)], capture_output=True, timeout=120
    )
    assert audited.returncode in (0, 1), audited.stderr
    assert json.loads(audited.stdout)
    adopted = subprocess.run(
        [*HANDOVER, "adopt", str(latin1_repo)], capture_output=True, text=True, timeout=300
    )
    assert adopted.returncode == 0, adopted.stderr
    assert (latin1_repo / ".copier-answers.yml").is_file()


def test_status_lists_paths_as_they_are(latin1_repo: Path) -> None:
    """-z: no quoting of non-ASCII, spaces or newlines, so the dirty-tree message names files."""
    names = [os.fsdecode(LATIN1_NAME), "a b.txt", "line\nbreak.txt", "é.txt"]
    for name in names:
        (latin1_repo / name).write_bytes(b"changed\n")
    assert sorted(entry["path"] for entry in status(latin1_repo)) == sorted(names)
    assert {entry["status"] for entry in status(latin1_repo)} == {"M", "??"}


def test_a_hung_git_is_an_error_naming_the_command(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    os.mkfifo(repo / "pipe")  # opening it for reading waits for a writer forever
    with pytest.raises(HandoverError, match=r"`git hash-object pipe` did not finish in 0.5 s"):
        run_git(repo, "hash-object", "pipe", timeout=0.5)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a repository to another uid needs root")
def test_a_delivery_owned_by_another_user_is_read(tmp_path: Path) -> None:
    """A tarball unpacked as its owner's uid: git's ownership check would refuse it."""
    repo = make_repo(tmp_path / "delivery", {"a.txt": "a\n"})
    for path in [repo, *repo.rglob("*")]:
        os.lchown(path, 65534, 65534)
    assert "dubious ownership" in run_git(repo, "status", trusted=True).stderr.decode()
    assert GitRepo(repo).tracked == ("a.txt",)
