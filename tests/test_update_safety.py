"""`handover update` loses nothing: a file the update would delete although the user edited it is
kept as a conflict; an update killed at any moment leaves the project as it was or, once the
next `handover update` has run, as the finished update would; a `*.rej` file fails the update;
and the audit reports unfinished merges (CQ404) in any repository.

Projects are generated from a template repository with release history (tests/template_history.py)
and edited as a team would; kills are real SIGKILLs of the installed `handover update`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import pytest
import yaml
from audit_repos import check_result, make_repo
from template_history import build_history
from test_update import CI, CI_JOB, NEW_REVIEW, OLD_REVIEW, commit, generate, git, user_edits

from conftest import tool
from mlops_handover.audit.model import Outcome
from mlops_handover.cli import main
from mlops_handover.template import set_src_path
from mlops_handover.update import recover_update, update_project


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_history(tmp_path_factory.mktemp("history") / "template")


def state(project: Path) -> dict[str, object]:
    """The working tree byte for byte (git's own files aside), the index and git's view."""
    files = {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if (p.is_file() or p.is_symlink()) and ".git" not in p.relative_to(project).parts[:1]
    }
    return {
        "files": files,
        "index": git(project, "ls-files", "--stage"),
        "status": git(project, "status", "--porcelain", "--untracked-files=all", "--ignored"),
        "flags": git(project, "ls-files", "-v"),
        "worktrees": len(git(project, "worktree", "list", "--porcelain").split("\n\n")),
    }


def test_switching_ci_provider_keeps_the_edited_workflow_as_a_conflict(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    (project / CI).write_text((project / CI).read_text() + CI_JOB)
    commit(project, "Client CI job")
    edited = (project / CI).read_bytes()

    args = ["update", str(project), "--vcs-ref", ":current:", "--data", "ci_provider=gitlab"]
    code = main(args)

    out = capsys.readouterr().out
    assert code == 1, out
    assert f"{CI} (removed)" in out and "kept as you had it" in out
    assert (project / CI).read_bytes() == edited
    assert (project / ".gitlab-ci.yml").is_file()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["ci_provider"] == "gitlab"
    assert str(CI) not in git(project, "status", "--porcelain")  # kept exactly as committed


def test_an_ignored_rej_file_is_kept_and_fails_the_update(history: Path, tmp_path: Path) -> None:
    """Copier takes every `*.rej` in the project, ignored ones included, for its own rejection:
    run in the project, it deleted the user's file and exited 0.
    In the stage it never sees it; the update finds it in the project after the swap."""
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    with (project / ".git/info/exclude").open("a") as handle:
        handle.write("*.rej\n")
    (project / "params.yaml.rej").write_text("@@ -1 +1 @@\n-a\n+b\n")

    params = (project / "params.yaml").read_bytes()

    result = update_project(project)

    assert not result.clean
    assert [(c.path, c.reasons) for c in result.conflicts] == [("params.yaml.rej", ["rejected"])]
    assert (project / "params.yaml.rej").read_text() == "@@ -1 +1 @@\n-a\n+b\n"
    assert (project / "params.yaml").read_bytes() == params


def test_an_update_interrupted_by_an_earlier_version_is_repaired(
    history: Path, tmp_path: Path
) -> None:
    """What an earlier mlops-handover left when killed while Copier ran in the project: the
    answers file hidden from git (`--skip-worktree`) naming a deleted throw-away clone."""
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    set_src_path(project, str(tmp_path / "handover-template-gone" / "template"))
    git(project, "update-index", "--skip-worktree", "--", ".copier-answers.yml")

    result = update_project(project)

    assert result.clean and result.version_after == "v0.2.1"
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_src_path"] == str(
        history
    )
    assert all(line.startswith("H ") for line in git(project, "ls-files", "-v").splitlines())


def test_audit_reports_conflict_markers_and_rej_files(tmp_path: Path) -> None:
    clean = make_repo(
        tmp_path / "clean",
        {
            "train.py": "print('ok')\n",
            # A documented example is no unfinished merge.
            "docs/update.md": "```text\n<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n```\n",
        },
    )
    result = check_result(clean, "CQ404").result
    assert result.outcome is Outcome.PASS, result

    broken = make_repo(
        tmp_path / "broken",
        {
            "train.py": "<<<<<<< HEAD\nseed = 1\n=======\nseed = 2\n>>>>>>> theirs\n",
            "params.yaml.rej": "@@ -1 +1 @@\n-a: 1\n+a: 2\n",
            "model.bin": b"\x00\x01<<<<<<<\x00",
        },
    )
    result = check_result(broken, "CQ404").result
    assert result.outcome is Outcome.FAIL, result
    assert "train.py (conflict markers)" in result.message
    assert "params.yaml.rej (rejected)" in result.message
    assert "model.bin" not in result.message


# --- interrupted updates -------------------------------------------------------------------------

#: When `handover update` is killed, as fractions of an uninterrupted run's duration: Copier's
#: import, the tagged clone, the three renders, the merge, the conflict search. The swap itself
#: is hit by watching the journal (below).
KILL_AT = (0.1, 0.3, 0.5, 0.65, 0.8, 0.9, 0.97)


def _start(project: Path, tmp: Path) -> subprocess.Popen[bytes]:
    """The installed `handover update`, in its own process group (a kill takes Copier's
    subprocesses too), with its temporary files in `tmp`."""
    return subprocess.Popen(
        [tool("handover"), "update", str(project)],
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):  # it may have finished already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _stop_in_swap(process: subprocess.Popen[bytes], journal: Path) -> None:
    """Stop the update (SIGSTOP) as soon as its journal says it is swapping; the swap and the
    clean-up after it take tens of milliseconds, polled every two."""
    while process.poll() is None:
        if journal.is_file() and '"swapping"' in journal.read_text(errors="replace"):
            os.killpg(process.pid, signal.SIGSTOP)
            return
        time.sleep(0.002)


def _assert_user_edits(project: Path, edited: dict[Path, str]) -> None:
    """Every user edit is in the tree: in the file, or in the review template it moved to."""
    for path, text in edited.items():
        if path == OLD_REVIEW:
            moved = [p for p in (project / OLD_REVIEW, project / NEW_REVIEW) if p.is_file()]
            assert any(p.read_text() == text for p in moved), "review template edits lost"
        else:
            assert (project / path).read_text() == text, path
    assert CI_JOB in (project / CI).read_text()


@pytest.mark.slow
def test_an_update_killed_at_any_moment_ends_as_before_or_as_after(
    history: Path, tmp_path: Path
) -> None:
    original = generate(history, tmp_path / "original" / "demo-model", "v0.1.0")
    edited = user_edits(original)
    before = state(original)
    reference = tmp_path / "reference" / "demo-model"
    shutil.copytree(original, reference, symlinks=True)
    started = time.monotonic()
    done = subprocess.run([tool("handover"), "update", str(reference)], capture_output=True)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    after = state(reference)
    assert after != before

    outcomes, rerun = [], False
    for n, delay in enumerate([*(f * seconds for f in KILL_AT), "swap"]):
        project, tmp = tmp_path / f"killed-{n}" / "demo-model", tmp_path / f"tmp-{n}"
        shutil.copytree(original, project, symlinks=True)
        tmp.mkdir()
        journal = project / ".git" / "handover-update" / "journal.json"
        process = _start(project, tmp)
        if delay == "swap":  # the point of no return: as soon as the journal is written
            _stop_in_swap(process, journal)
        else:
            time.sleep(float(delay))
        _kill(process)
        # Nothing the user wrote is lost at the moment of the kill.
        _assert_user_edits(project, edited)
        interrupted = journal.parent.exists()

        recover_update(project)

        now = state(project)
        assert now in (before, after), f"killed at {delay}: neither before nor after"
        outcomes.append((delay, interrupted, "before" if now == before else "after"))
        assert not journal.parent.exists() and not list(tmp.glob("handover-update-*"))
        if now == before and not rerun:  # the next update ends where an uninterrupted one does
            again = subprocess.run([tool("handover"), "update", str(project)], capture_output=True)
            assert again.returncode == 0, again.stderr
            assert state(project) == after, f"killed at {delay}: the next update differs"
            rerun = True
    # Both ends were hit: undone before the journal was written, finished after.
    assert outcomes[0][1:] == (True, "before") and outcomes[-1] == ("swap", True, "after"), outcomes


@pytest.mark.slow
def test_the_next_update_finishes_an_interrupted_swap(history: Path, tmp_path: Path) -> None:
    """Through the command: `handover update` after a kill in the swap reports the finished
    update (its conflicts included) instead of starting another."""
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    (project / CI).write_text((project / CI).read_text().replace("name: CI\n", "name: Client CI\n"))
    commit(project, "Rename the workflow")
    journal = project / ".git" / "handover-update" / "journal.json"
    process = _start(project, tmp_path)
    _stop_in_swap(process, journal)
    _kill(process)
    assert journal.is_file(), "the update was not stopped in its swap"

    again = subprocess.run(
        [tool("handover"), "update", str(project), "--json"], capture_output=True, text=True
    )

    assert again.returncode == 1, again.stderr
    assert "Finished an update" in again.stderr and "interrupted" in again.stderr
    result = json.loads(again.stdout)
    assert result["version_after"] == "v0.2.1"
    assert {c["path"] for c in result["conflicts"]} == {str(CI)}
    assert "<<<<<<< before updating\nname: Client CI\n" in (project / CI).read_text()
    assert not journal.parent.exists()


@pytest.mark.slow
def test_another_command_in_the_project_settles_an_interrupted_update(
    history: Path, tmp_path: Path
) -> None:
    """A command that writes into the project (here `handover decision new`) first finishes an
    update killed in its swap, so it never works on a half-updated tree."""
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    journal = project / ".git" / "handover-update" / "journal.json"
    process = _start(project, tmp_path)
    _stop_in_swap(process, journal)
    _kill(process)
    assert journal.is_file(), "the update was not stopped in its swap"

    made = subprocess.run(
        [tool("handover"), "decision", "new", "Keep the weekly retrain", "--project", project],
        capture_output=True, text=True,
    )  # fmt: skip

    assert made.returncode == 0, made.stderr
    assert "Finished an update" in made.stderr
    assert not journal.parent.exists()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.2.1"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"zU\n", "is not a mapping of answers"),
        (b"- _commit: v1\n", "is not a mapping of answers"),
        (b"_commit: [v1\n", "is not valid YAML"),
        (b"_commit: 2030-13-01\n", "is not valid YAML"),
        (b"\xff\xfe_commit: v1\n", "is not UTF-8 text"),
        (b"_commit: v1\n", "has no _src_path"),
    ],
)
def test_a_damaged_answers_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    """Found by the fuzz suite: an answers file that is not a mapping was a traceback."""
    project = make_repo(tmp_path / "p", {".copier-answers.yml": content})
    assert main(["update", str(project)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and reason in err[-1], err
    assert "Traceback" not in "\n".join(err)
