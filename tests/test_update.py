"""`handover update`: user edits survive, template changes land, conflicts fail loudly, the
0.2.0 migration runs only when an update crosses it, and bad input writes nothing.

Projects are generated (post-copy task included) from a template repository whose history has
releases and no tag, as a clone of this repository has (tests/template_history.py), edited and
committed as users would, then updated.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from audit_repos import check_result
from template_history import RELEASES, V021_CI_LINE, V021_GITIGNORE, build_history

from conftest import project_env, run, tool
from mlops_handover.cli import main
from mlops_handover.new import create_project
from mlops_handover.releases import tagged_clone
from mlops_handover.update import find_conflicts, update_project

OLD_REVIEW = Path("docs/handover/weekly-review-template.md")
NEW_REVIEW = Path("docs/handover/reviews/template.md")
CI = Path(".github/workflows/ci.yml")
TRAIN = Path("src/demo_model/train.py")
CARD = Path("docs/model-card.md")
DECISION = Path("docs/decisions/0005-serve-from-the-client-cluster.md")
CI_JOB = """
  docs:
    runs-on: ubuntu-latest
    steps:
      - run: echo "client docs job"
"""


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_history(tmp_path_factory.mktemp("history") / "template")


def generate(history: Path, dest: Path, version: str) -> Path:
    """`handover new --no-run` at a template version, post-copy task included (git, DVC,
    commit); the version is a release by the rule, the history has no tag. The projects keep
    a weekly review template (`weekly_reviews`), the file the 0.2.0 migration moves."""
    create_project(
        dest,
        {"weekly_reviews": True},
        defaults=True,
        vcs_ref=version,
        run=False,
        template=str(history),
    )
    return dest


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout


def commit(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-qm", message)


def snapshot(root: Path) -> dict[str, str]:
    """Hash of every file under `root`, git's own files included (HEAD, index, refs)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def worktree(project: Path) -> dict[str, str]:
    """`snapshot` without git's own files (a refused update may write its reflog)."""
    return {k: v for k, v in snapshot(project).items() if not k.startswith(".git/")}


def answers(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def user_edits(project: Path) -> dict[Path, str]:
    """What a team does to its project between template versions; returns the edited texts."""
    card = (project / CARD).read_text()
    (project / CARD).write_text(card.replace("[FILL:", "[Filled by the client team; was FILL:", 1))
    (project / DECISION).write_text(
        "---\nstatus: accepted\ndate: 2026-11-02\n---\n# Serve from the client cluster\n\n"
        "## Context and Problem Statement\n\nThe model is served by the client.\n"
    )
    train = (project / TRAIN).read_text()
    (project / TRAIN).write_text(train + "\n\n# Client change: seed documented in runbook.\n")
    (project / CI).write_text((project / CI).read_text() + CI_JOB)
    if (project / OLD_REVIEW).exists():
        review = project / OLD_REVIEW
        review.write_text(review.read_text() + "\n## Fairness\n\n- [FILL: client's own item]\n")
    commit(project, "Client edits")
    return {
        path: (project / path).read_text()
        for path in (CARD, DECISION, TRAIN, OLD_REVIEW)
        if (project / path).exists()
    }


def test_update_keeps_every_user_edit_and_lands_the_template_changes(
    history: Path, tmp_path: Path
) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.1.0")
    edited = user_edits(project)
    head = git(project, "rev-parse", "HEAD")
    outside = snapshot(tmp_path / "demo-model-dvc-storage")

    result = update_project(project)

    assert result.clean, result.summary()
    assert (result.version_before, result.version_after) == ("v0.1.0", "v0.2.1")
    assert answers(project)["_commit"] == "v0.2.1"
    assert answers(project)["_src_path"] == result.template == str(history)
    assert [m["version"] for m in result.migrations] == ["v0.2.0"]
    # Every user edit is still there, byte for byte where the template left the file alone.
    for path in (CARD, DECISION, TRAIN):
        assert (project / path).read_text() == edited[path], path
    # The edited review template moved with its edits; the README links follow it.
    assert not (project / OLD_REVIEW).exists()
    assert (project / NEW_REVIEW).read_text() == edited[OLD_REVIEW]
    readme = (project / "docs/handover/README.md").read_text()
    assert "(reviews/template.md)" in readme and "weekly-review-template" not in readme
    # The CI file has both the client's job and the template's change.
    ci = (project / CI).read_text()
    assert CI_JOB in ci and V021_CI_LINE in ci
    assert (project / ".gitignore").read_text().endswith(V021_GITIGNORE)
    assert (project / "docs/handover/glossary.md").is_file()
    # No conflict of any kind, nothing committed, nothing outside the project touched.
    assert find_conflicts(project, [c["path"] for c in result.changes]) == []
    assert not git(project, "ls-files", "--unmerged")
    assert not list(project.rglob("*.rej"))
    assert git(project, "rev-parse", "HEAD") == head
    assert snapshot(tmp_path / "demo-model-dvc-storage") == outside
    # The updated project passes its own linter and audits at its level.
    env = project_env(project)
    run(tool("ruff"), "check", ".", cwd=project, env=env)
    commit(project, "Update the template to v0.2.1")
    audit = run(tool("handover"), "audit", "--offline", "--format", "json", cwd=project, env=env)
    report = json.loads(audit.stdout)["repositories"][0]
    assert report["error"] is None and report["level"] >= 1


def test_conflicting_edit_fails_listing_the_file_and_changes_nothing_else(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    edited = user_edits(project)
    (project / CI).write_text((project / CI).read_text().replace("name: CI\n", "name: Client CI\n"))
    commit(project, "Rename the workflow")
    head = git(project, "rev-parse", "HEAD")

    code = main(["update", str(project)])

    out = capsys.readouterr().out
    assert code == 1
    assert "1 conflict(s) to resolve" in out and f"{CI} (markers, unmerged)" in out
    assert "git reset --hard HEAD" in out
    text = (project / CI).read_text()
    assert "<<<<<<< before updating\nname: Client CI\n" in text
    assert git(project, "ls-files", "--unmerged")
    for path, content in edited.items():
        assert (project / path).read_text() == content, path
    assert git(project, "rev-parse", "HEAD") == head


def test_migration_runs_only_when_the_update_crosses_its_version(
    history: Path, tmp_path: Path
) -> None:
    # Already past 0.2.0: a file at the old path (the user's own) is left where it is.
    late = generate(history, tmp_path / "late", "v0.2.0")
    (late / OLD_REVIEW).write_text("# Our own weekly notes index\n")
    commit(late, "Client file at the old path")
    result = update_project(late)
    assert result.clean and result.migrations == []
    assert (late / OLD_REVIEW).read_text() == "# Our own weekly notes index\n"
    assert result.version_after == "v0.2.1"

    # Crossing 0.2.0 (from 0.1.0 to exactly 0.2.0): the migration moves the file.
    early = generate(history, tmp_path / "early", "v0.1.0")
    result = update_project(early, vcs_ref="v0.2.0")
    assert result.clean
    assert result.migrations == [{"version": "v0.2.0", "command": "v0_2_0_move_weekly_review.py"}]
    assert (early / NEW_REVIEW).is_file() and not (early / OLD_REVIEW).exists()
    assert not (early / "docs/handover/glossary.md").exists()  # 0.2.1 was not asked for


def test_a_tagless_clone_of_the_template_updates_release_to_release(
    history: Path, tmp_path: Path
) -> None:
    """The template as users get it, `git clone` of the main branch (no tag): a project records
    the clone as `_src_path` and a release as `_commit`, from its first commit on, and updates
    from one release to the next by the rule, migration included. Nothing is written into the
    clone, and nothing is left flagged in the project's index."""
    checkout = tmp_path / "mlops-handover"
    git(tmp_path, "clone", "-q", str(history), str(checkout))
    project = generate(checkout, tmp_path / "demo-model", "v0.1.0")
    first = yaml.safe_load(git(project, "show", "HEAD:.copier-answers.yml"))
    assert (first["_commit"], first["_src_path"]) == ("v0.1.0", str(checkout))

    result = update_project(project, vcs_ref="v0.2.0")

    assert result.clean and (result.version_before, result.version_after) == RELEASES[:2]
    assert result.migrations == [{"version": "v0.2.0", "command": "v0_2_0_move_weekly_review.py"}]
    assert (project / NEW_REVIEW).is_file() and not (project / OLD_REVIEW).exists()
    assert answers(project)["_src_path"] == result.template == str(checkout)
    assert not [e for e in git(project, "ls-files", "-v").splitlines() if not e.startswith("H ")]
    commit(project, "Update the template to v0.2.0")
    result = update_project(project)
    assert (result.version_after, result.migrations) == (RELEASES[-1], [])
    assert answers(project)["_src_path"] == str(checkout)
    assert git(checkout, "tag") == "" and git(checkout, "status", "--porcelain") == ""


def test_pretend_reports_the_update_and_writes_nothing(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.1.0")
    before = snapshot(project)

    code = main(["update", str(project), "--pretend", "--json"])

    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["pretend"] and result["clean"]
    assert (result["version_before"], result["version_after"]) == ("v0.1.0", "v0.2.1")
    assert result["migrations"] == [
        {"version": "v0.2.0", "command": "v0_2_0_move_weekly_review.py"}
    ]
    changed = {c["path"] for c in result["changes"]}
    assert {".copier-answers.yml", str(CI), "docs/handover/glossary.md"} <= changed
    assert snapshot(project) == before


def test_update_and_check_exit_codes_through_the_installed_command(
    history: Path, tmp_path: Path
) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    check = run(tool("handover"), "update", "--check", cwd=project, check=False)
    assert check.returncode == 1, check.stderr
    assert "behind the template" in check.stdout and "v0.2.1" in check.stdout

    update = run(tool("handover"), "update", cwd=project, check=False)
    assert update.returncode == 0, update.stderr
    assert "updated from template version v0.2.0 to v0.2.1" in update.stdout
    commit(project, "Update the template")

    check = run(tool("handover"), "update", "--check", "--json", cwd=project, check=False)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["state"] == "current"
    again = run(tool("handover"), "update", cwd=project, check=False)
    assert again.returncode == 0 and "already at template version v0.2.1" in again.stdout


def test_audit_reports_a_project_behind_the_template(history: Path, tmp_path: Path) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    result = check_result(project, "OW606")
    assert result.outcome.value == "partial"
    assert "the latest is v0.2.1" in result.result.message


def test_post_copy_task_does_not_run_on_a_plain_copier_update(
    history: Path, tmp_path: Path
) -> None:
    """`copier update --trust` (no --skip-tasks) renders the template three times; the
    post-copy task (git init, dvc add, first commit) must run in none of them. Plain Copier
    needs tags: it reads a clone that has them."""
    import copier

    with tagged_clone(history) as clone:
        project = tmp_path / "demo-model"
        copier.run_copy(
            str(clone), str(project), defaults=True, vcs_ref="v0.1.0", unsafe=True, quiet=True
        )
        commands: list[str] = []

        def watch(event: str, args: tuple) -> None:
            if event == "subprocess.Popen" and watching:
                commands.append(
                    " ".join(map(str, args[1])) if isinstance(args[1], list) else str(args[1])
                )

        watching = True
        sys.addaudithook(watch)
        try:
            copier.run_update(str(project), defaults=True, overwrite=True, unsafe=True, quiet=True)
        finally:
            watching = False
    assert any("v0_2_0_move_weekly_review.py" in c for c in commands)  # the hook sees tasks
    assert not [c for c in commands if "post_copy.py" in c]
    assert answers(project)["_commit"] == "v0.2.1"


# --- bad input: a clear error, exit 2, nothing written -----------------------------------------


def test_dirty_tree_is_refused(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.1.0")
    (project / TRAIN).write_text((project / TRAIN).read_text() + "# uncommitted\n")
    (project / "notes.txt").write_text("untracked\n")
    before = snapshot(project)
    assert main(["update", str(project)]) == 2
    err = capsys.readouterr().err
    assert "uncommitted changes" in err and str(TRAIN) in err and "notes.txt" in err
    assert "git stash --include-untracked" in err
    assert snapshot(project) == before


def test_missing_answers_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    (project / "README.md").write_text("# Plain\n")
    git(project, "init", "-q")
    commit(project, "init")
    before = snapshot(project)
    assert main(["update", str(project)]) == 2
    assert main(["update", str(project), "--check"]) == 2
    err = capsys.readouterr().err
    assert "has no .copier-answers.yml" in err and "handover adopt" in err
    assert snapshot(project) == before


@pytest.mark.parametrize("shape", ["not a repository", "missing", "a file"])
def test_path_that_is_not_a_repository_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    path = tmp_path / "target"
    if shape == "not a repository":
        path.mkdir()
        (path / ".copier-answers.yml").write_text("_src_path: x\n_commit: v0.1.0\n")
    elif shape == "a file":
        path.write_text("not a directory\n")
    before = snapshot(tmp_path)
    assert main(["update", str(path)]) == 2
    err = capsys.readouterr().err
    expected = {"not a repository": "is not a git repository", "missing": "does not exist",
                "a file": "is not a directory"}[shape]  # fmt: skip
    assert expected in err
    assert snapshot(tmp_path) == before


def test_downgrade_and_unknown_version_are_refused(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    before = worktree(project)
    assert main(["update", str(project), "--vcs-ref", "v0.1.0"]) == 2
    assert "downgrading" in capsys.readouterr().err
    assert main(["update", str(project), "--vcs-ref", "v9.9.9"]) == 2
    assert "v9.9.9" in capsys.readouterr().err
    assert worktree(project) == before


def test_changing_an_answer_at_the_current_version(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(history, tmp_path / "demo-model", "v0.2.0")
    args = ["update", str(project), "--vcs-ref", ":current:", "--data", "ci_provider=gitlab"]
    assert main(args) == 0
    assert "re-rendered at template version v0.2.0" in capsys.readouterr().out
    assert answers(project)["ci_provider"] == "gitlab"
    assert answers(project)["_commit"] == "v0.2.0"
    assert (project / ".gitlab-ci.yml").is_file() and not (project / CI).exists()
    commit(project, "Move CI to GitLab")
    assert main(["update", str(project), "--data", "ci_provder=github"]) == 2
    assert "did you mean 'ci_provider'?" in capsys.readouterr().err


def test_refused_answer_after_a_migration_leaves_the_project_as_it_was(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 0.2.0 migration runs before Copier validates the new answers: the update is undone."""
    project = generate(history, tmp_path / "demo-model", "v0.1.0")
    user_edits(project)
    head = git(project, "rev-parse", "HEAD")
    before = worktree(project)
    assert main(["update", str(project), "--data", "package_name=1abc"]) == 2
    err = capsys.readouterr().err
    assert "migration 0.2.0: moved" in err or (project / OLD_REVIEW).exists()
    assert "the update was refused, nothing changed" in err and "1abc" in err
    assert worktree(project) == before
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == head


@pytest.fixture(scope="module")
def this_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's own history (a clone, tagless as CI's is) with the working tree's
    template committed on top, so its newest release is the template under test."""
    from conftest import ROOT, TEMPLATE_PARTS, copy_part

    clone = tmp_path_factory.mktemp("this") / "mlops-handover"
    run("git", "clone", "-q", "--no-tags", ROOT, clone, cwd=clone.parent)
    for part in TEMPLATE_PARTS:
        run("git", "rm", "-rq", "--ignore-unmatch", part, cwd=clone)
        copy_part(part, clone)
    ident = ["-c", "user.name=Template", "-c", "user.email=template@example.invalid"]
    run("git", "add", "-A", cwd=clone)
    run("git", *ident, "commit", "-qm", "the working tree", "--allow-empty", cwd=clone)
    return clone


@pytest.mark.slow
def test_a_0_3_0_project_moves_its_estimator_to_model_py(
    this_history: Path, tmp_path: Path
) -> None:
    """A client who changed the estimator in train.py and a parameter in params.yaml updates to
    the layout with model.py: both edits survive, without a conflict to resolve."""
    import copier

    project = tmp_path / "churn"
    with tagged_clone(this_history) as tagged:
        copier.run_copy(
            str(tagged), str(project), vcs_ref="v0.3.0", defaults=True, unsafe=True, quiet=True
        )
    answers = project / ".copier-answers.yml"
    answers.write_text(
        answers.read_text().replace(f"_src_path: {tagged}", f"_src_path: {this_history}")
    )
    train, params = project / TRAIN, project / "params.yaml"
    train.write_text(
        train.read_text().replace(
            "LogisticRegression(**hyperparameters)",
            'LogisticRegression(class_weight="balanced", **hyperparameters)',
        )
    )
    params.write_text(params.read_text().replace("  C: 1.0\n", "  C: 0.5\n"))
    run("git", "commit", "-qam", "the client's model", cwd=project)

    result = update_project(project)
    assert result.clean, result
    assert {m["version"] for m in result.migrations} == {"v0.5.0"}
    model = (project / "src/demo_model/model.py").read_text()
    assert 'LogisticRegression(class_weight="balanced", **hyperparameters)' in model
    assert "build_model" not in (project / TRAIN).read_text()
    assert "  C: 0.5\n" in params.read_text() and "task:" not in params.read_text()
    assert not (project / "src/demo_model/config.py").exists()
    assert (project / "docs/handover/reviews/template.md").is_file(), "0.3.0 had it"
    built = run(
        sys.executable,
        "-c",
        "from demo_model import model; from demo_model.settings import Settings; "
        "print(model.build(**Settings.load().train).get_params()['model__class_weight'])",
        cwd=project,
        env=project_env(project),
    )
    assert built.stdout.strip() == "balanced"
