"""`handover adopt`: four differently shaped repositories get the scaffolding without a byte of
theirs changing, the detected answers are right, collisions become proposals beside, a
following `handover update` works, and refused input writes nothing.

The repositories are built with real git (and real `dvc init`), adopted once per module from
the test snapshot of the template, and only read afterwards; tests that change one copy it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from adopt_repos import REMOTE_SECRET, build, plain_package, snapshot
from audit_repos import commit, git, write_files

from conftest import isolated, run, tool
from mlops_handover.adopt import (
    AdoptResult,
    adopt_project,
    dvc_answer,
    identifier,
    proposal_name,
    without_credentials,
)
from mlops_handover.cli import main
from mlops_handover.template import questions

SHAPES = ["plain", "dvc", "ccds", "vendor"]
SCAFFOLD = [
    ".copier-answers.yml",
    ".pre-commit-config.yaml",
    "docs/model-card.md",
    "docs/runbook.md",
    "docs/decisions/0000-use-markdown-architectural-decision-records.md",
    "docs/decisions/0003-primary-metric-and-acceptance-bar.md",
    "docs/handover/README.md",
    "docs/handover/checklist-1-discovery.md",
    "docs/handover/checklist-2-development.md",
    "docs/handover/checklist-3-transition.md",
    "docs/handover/ownership.md",
    "docs/handover/exit-plan.md",
    "docs/handover/signoffs.yaml",
    "evaluation/acceptance.yaml",
]
MARKERS = re.compile(rb"^(<{7}|>{7})( |$)", re.MULTILINE)


@dataclass
class Adopted:
    """One repository, what adopt should find in it, and what adopt did."""

    shape: str
    repo: Path
    expected: dict[str, Any]
    before: dict[str, str]
    result: AdoptResult
    after: dict[str, str]
    messages: list[str]


@pytest.fixture(scope="module", params=SHAPES)
def adopted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, template_repo: Path
) -> Adopted:
    with isolated(tmp_path_factory):
        repo, expected = build(request.param, tmp_path_factory.mktemp(request.param))
        before = snapshot(repo)
        messages: list[str] = []
        result = adopt_project(
            repo, {}, template=str(template_repo), vcs_ref="HEAD", progress=messages.append
        )
        assert "GIT_INDEX_FILE" not in os.environ  # the audit's temporary index is gone
    return Adopted(request.param, repo, expected, before, result, snapshot(repo), messages)


def test_every_pre_existing_file_is_byte_identical_and_none_is_deleted(adopted: Adopted) -> None:
    changed = {p for p, digest in adopted.before.items() if adopted.after.get(p) != digest}
    assert not changed, f"adopt changed or deleted existing files: {sorted(changed)}"
    result = adopted.result
    new = set(adopted.after) - set(adopted.before)
    assert new == set(result.written) | {p["proposal"] for p in result.proposed}


def test_git_index_and_tracked_files_are_untouched(adopted: Adopted) -> None:
    """Nothing staged, nothing committed: every new path is untracked."""
    status = git(adopted.repo, "status", "--porcelain", "--untracked-files=all")
    tracked_changes = [line for line in status.splitlines() if not line.startswith("??")]
    assert not tracked_changes
    assert git(adopted.repo, "log", "--oneline").count("\n") == 0  # still the one commit


def test_the_scaffolding_is_there_and_linked_to_the_template(
    adopted: Adopted, template_repo: Path
) -> None:
    repo, result = adopted.repo, adopted.result
    for path in SCAFFOLD:
        assert (repo / path).is_file() or any(p["file"] == path for p in result.proposed), (
            f"{path} is neither written nor proposed"
        )
    answers = yaml.safe_load((repo / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(template_repo)
    assert answers["_commit"] and answers["_commit"] == result.template_version
    assert {k: v for k, v in answers.items() if not k.startswith("_")} == result.answers
    signoffs = yaml.safe_load((repo / "docs/handover/signoffs.yaml").read_text())
    assert isinstance(signoffs, dict)


def test_the_example_pipeline_is_left_out(adopted: Adopted) -> None:
    package = adopted.expected["package"]
    for path in adopted.result.written:
        assert not path.startswith(("tests/", ".dvc/", f"src/{package}/")), path
        assert path not in {"dvc.yaml", "params.yaml", "requirements.lock", ".dvcignore"}, path
    assert adopted.result.answers["package_name"] == package


def test_collisions_become_proposals_beside(adopted: Adopted) -> None:
    result = adopted.result
    proposals = {p["file"]: p["proposal"] for p in result.proposed}
    assert proposals == adopted.expected["proposed"]
    for proposal in proposals.values():
        assert (adopted.repo / proposal).is_file()
        assert not (adopted.repo / proposal).is_symlink()
    assert result.present == adopted.expected["present"]
    assert result.ignored == adopted.expected.get("ignored", [])
    # A proposed workflow must not run: GitHub runs only *.yml/*.yaml in .github/workflows.
    workflows = adopted.repo / ".github" / "workflows"
    if workflows.is_dir():
        new = [p for p in workflows.iterdir() if p.name not in {"ci.yml"}]
        assert all(not p.name.endswith((".yml", ".yaml")) for p in new), new


def test_detected_answers_are_right(adopted: Adopted) -> None:
    result = adopted.result
    for name, value in adopted.expected["answers"].items():
        assert result.detected[name]["value"] == value, name
        assert result.answers[name] == value, name
        assert name not in result.assumed
    for name, value in adopted.expected["facts"].items():
        assert result.detected[name]["value"] == value, name
    assert {"client_org", "ml_task", "primary_metric"} <= set(result.assumed)
    assert not set(result.assumed) & set(adopted.expected["answers"])


def test_summary_and_json_carry_the_level_and_the_missing_items(adopted: Adopted) -> None:
    result = adopted.result
    assert re.fullmatch(r"L[0-4] [a-z-]+", result.level or ""), result.audit_error
    assert result.missing and len(result.missing) <= 5
    severities = ["critical", "high", "medium", "low"]
    order = [severities.index(m["severity"]) for m in result.missing]
    assert order == sorted(order)
    assert all(set(m) >= {"id", "title", "outcome", "message"} for m in result.missing)
    # The new documents count: the audit does not call the model card missing.
    assert all(not m["message"].startswith("no docs/model-card.md") for m in result.missing)
    data = json.loads(result.to_json())
    assert data["level"] == result.level and data["missing"] == result.missing
    summary = result.summary()
    assert result.level in summary and result.missing[0]["id"] in summary
    for proposal in result.proposed:
        assert proposal["proposal"] in summary
    assert "git add" in summary and "handover update" in summary and "not committed" in summary
    assert [m.split(" ", 1)[0] for m in adopted.messages] == [
        "Detecting",
        "Rendering",
        *(["Recording"] if "adopt_exclude" in result.answers else []),
        "Placing",
        "Auditing",
    ]


def test_no_secret_from_a_remote_url_is_recorded(adopted: Adopted) -> None:
    repo = adopted.repo
    assert REMOTE_SECRET not in adopted.result.to_json()
    for path in adopted.result.written:
        assert REMOTE_SECRET.encode() not in (repo / path).read_bytes()


def test_a_following_handover_update_works(
    adopted: Adopted, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Commit the adopted files, then update at the same template version: clean, and still
    nothing of the repository's own changed."""
    pytest.importorskip("mlops_handover.update", reason="awaits src/mlops_handover/update.py")
    repo = tmp_path / adopted.repo.name
    shutil.copytree(adopted.repo, repo, symlinks=True)
    commit(repo, "Adopt the handover template")
    assert main(["update", str(repo), "--vcs-ref", "HEAD"]) == 0, capsys.readouterr().err
    after = snapshot(repo)
    # Without adopt_exclude, Copier treats a scaffold file that .gitignore hid from the commit
    # as deleted by the project; with it, the template leaves such files alone.
    loose = [] if "adopt_exclude" in adopted.result.answers else adopted.result.ignored
    changed = [
        p for p, digest in adopted.after.items() if after.get(p) != digest and p not in loose
    ]
    assert changed in ([], [".copier-answers.yml"]), changed
    for path, digest in after.items():
        if not digest.startswith("symlink"):
            assert not MARKERS.search((repo / path).read_bytes()), path
    assert not [p for p in after if p.endswith(".rej")]
    if adopted.shape == "vendor":  # SECURITY.md is a symlink to a file outside the repository
        assert (repo / "SECURITY.md").read_text() == "The vendor's security policy.\n"


@pytest.mark.skipif(
    "adopt_exclude" not in questions(str(Path(__file__).resolve().parent.parent)),
    reason="needs the adopt_exclude question in copier.yml (docs/adopt.md)",
)
def test_update_to_a_newer_template_leaves_the_repository_s_own_files_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Across a template version that changes .gitignore, the training code and CI and adds a
    document: the document lands, the repository's own files and package are untouched."""
    from template_history import V021_NEW_FILE, build_history

    history = build_history(tmp_path / "template")
    repo = tmp_path / "scoring"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    plain_package(repo)
    adopt_project(repo, {}, template=str(history), vcs_ref="v0.2.0", progress=print)
    commit(repo, "Adopt the handover template")
    before = snapshot(repo)
    assert main(["update", str(repo)]) == 0, capsys.readouterr()
    after = snapshot(repo)
    glossary = V021_NEW_FILE.removeprefix("template/")
    assert glossary in after and glossary not in before
    own = [".gitignore", "README.md", "pyproject.toml", ".github/workflows/ci.yml"]
    assert all(after[p] == before[p] for p in own)
    assert sorted(p for p in after if p.startswith(("src/", "tests/"))) == sorted(
        p for p in before if p.startswith(("src/", "tests/"))
    )
    assert yaml.safe_load((repo / ".copier-answers.yml").read_text())["_commit"] == "v0.2.1"


# --- data, the CLI and the installed command -------------------------------------------------


@pytest.fixture
def scoring(tmp_path: Path) -> Path:
    repo = tmp_path / "scoring"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    plain_package(repo)
    return repo


def test_data_wins_over_detection_through_the_cli(
    scoring: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "adopt", str(scoring), "--template", str(template_repo), "--vcs-ref", "HEAD",
            "--data", "python_version=3.13", "--data", "client_org=Acme Bank", "--json",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert result["answers"]["python_version"] == "3.13"
    assert result["detected"]["python_version"]["value"] == "3.12"
    assert result["answers"]["client_org"] == "Acme Bank"
    assert set(result["given"]) == {"python_version", "client_org"}
    assert "client_org" not in result["assumed"]
    answers = yaml.safe_load((scoring / ".copier-answers.yml").read_text())
    assert answers["client_org"] == "Acme Bank" and answers["python_version"] == "3.13"


def test_installed_command_prints_only_json_on_stdout(scoring: Path, template_repo: Path) -> None:
    done = run(
        tool("handover"), "adopt", scoring, "--template", template_repo, "--vcs-ref", "HEAD",
        "--json", cwd=scoring.parent,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert result["path"] == str(scoring)
    assert result["detected"]["ci_provider"]["value"] == "github"
    assert result["level"].startswith("L")
    assert "Auditing" in done.stderr


# --- refusals: a clear message, exit 2, nothing written --------------------------------------


def adopt_cli(path: Path, template_repo: Path, *extra: str) -> int:
    args = ["adopt", str(path), "--template", str(template_repo), "--vcs-ref", "HEAD", *extra]
    return main(args)


def test_a_path_that_does_not_exist_is_refused(
    tmp_path: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert adopt_cli(missing, template_repo) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not missing.exists()


def test_a_file_instead_of_a_directory_is_refused(
    tmp_path: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x04.")
    assert adopt_cli(path, template_repo) == 2
    assert "not a directory" in capsys.readouterr().err
    assert snapshot(tmp_path) == {"model.pkl": snapshot(tmp_path)["model.pkl"]}


def test_a_directory_that_is_not_a_repository_is_refused(
    tmp_path: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(tmp_path, {"train.py": "print('hi')\n", "README.md": "# Delivery\n"})
    before = snapshot(tmp_path)
    assert adopt_cli(tmp_path, template_repo) == 2
    err = capsys.readouterr().err
    assert "not a git repository" in err and "git init" in err
    assert snapshot(tmp_path) == before


def unchanged(repo: Path) -> tuple[dict[str, str], str]:
    return snapshot(repo), git(repo, "status", "--porcelain", "--untracked-files=all")


def test_a_repository_already_linked_to_the_template_is_refused(
    scoring: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(scoring, {".copier-answers.yml": "_commit: v0.1.0\n_src_path: gh:x/y\n"})
    commit(scoring, "linked")
    before = unchanged(scoring)
    assert adopt_cli(scoring, template_repo) == 2
    err = capsys.readouterr().err
    assert "already linked" in err and "handover update" in err
    assert unchanged(scoring) == before


def test_invalid_data_is_refused_by_copier_before_anything_is_written(
    scoring: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(scoring, {"scratch.txt": "uncommitted work in progress\n"})  # a dirty tree
    before = unchanged(scoring)
    assert adopt_cli(scoring, template_repo, "--data", "package_name=1abc") == 2
    err = capsys.readouterr().err
    assert "package_name" in err and "1abc" in err
    assert unchanged(scoring) == before


def test_a_symlinked_directory_in_the_way_is_refused_and_not_followed(
    scoring: Path, template_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "shared-docs"
    elsewhere.mkdir()
    (scoring / "docs" / "handover").symlink_to(elsewhere)
    before = unchanged(scoring)
    assert adopt_cli(scoring, template_repo) == 2
    err = capsys.readouterr().err
    assert "symlink" in err and "nothing was written" in err
    assert unchanged(scoring) == before
    assert not any(elsewhere.iterdir())


# --- the naming and mapping rules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "number", "proposal"),
    [
        ("README.md", 1, "README.handover-proposed.md"),
        ("README.md", 2, "README.handover-proposed-2.md"),
        ("pyproject.toml", 1, "pyproject.handover-proposed.toml"),
        (".gitignore", 1, ".gitignore.handover-proposed"),
        ("LICENSE", 1, "LICENSE.handover-proposed"),
        (".pre-commit-config.yaml", 1, ".pre-commit-config.handover-proposed.yaml"),
        (".gitlab-ci.yml", 1, ".gitlab-ci.handover-proposed.yml"),
        (".github/workflows/ci.yml", 1, ".github/workflows/ci.yml.handover-proposed"),
        (
            ".gitlab/merge_request_templates/Default.md",
            1,
            ".gitlab/merge_request_templates/Default.md.handover-proposed",
        ),
    ],
)
def test_proposal_names(path: str, number: int, proposal: str) -> None:
    assert proposal_name(path, number) == proposal


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bot:token@github.com/acme/x.git", "https://github.com/acme/x.git"),
        ("https://token@github.com/acme/x.git", "https://github.com/acme/x.git"),
        ("ssh://git@github.com/acme/x.git", "ssh://git@github.com/acme/x.git"),
        ("s3://key:secret@bucket/x", "s3://bucket/x"),
        ("git@github.com:acme/x.git", "git@github.com:acme/x.git"),
    ],
)
def test_credentials_are_stripped_from_urls(url: str, expected: str) -> None:
    assert without_credentials(url) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("acme-scoring", "acme_scoring"), ("Churn.Model", "churn_model"), ("1abc", None),
     ("class", None), ("tests", None)],
)  # fmt: skip
def test_package_names_from_distribution_names(name: str, expected: str | None) -> None:
    assert identifier(name) == expected


def test_dvc_remotes_map_to_the_template_choices() -> None:
    assert dvc_answer("../../dvc-store") == ("local", "../dvc-store")
    assert dvc_answer("/srv/dvc") == ("local", "/srv/dvc")
    assert dvc_answer("storage") is None  # inside the repository: not a template choice
    assert dvc_answer("gs://bucket/dvc") == ("gcs", "gs://bucket/dvc")
    assert dvc_answer("azure://container/dvc") == ("azure", "azure://container/dvc")
    assert dvc_answer("ssh://dvc@host/srv/dvc") == ("ssh", "ssh://dvc@host/srv/dvc")
    assert dvc_answer("hdfs://namenode/dvc") is None
