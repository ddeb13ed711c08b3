"""`handover new`: answers are validated before anything is written, destinations are guarded,
the first commit works without a git identity, and the CLI speaks JSON and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_template, handover_new, run, tool
from mlops_handover.cli import main

INVALID = [
    ({"project_name": "  "}, "project_name"),
    ({"package_name": "1abc"}, "package_name"),
    ({"package_name": "my-model"}, "package_name"),
    ({"package_name": "class"}, "package_name"),
    ({"client_email_domain": "Acme"}, "client_email_domain"),
    ({"client_email_domain": "@acme.example"}, "client_email_domain"),
    ({"client_owner_email": "not-an-email"}, "client_owner_email"),
    ({"client_owner_email": "pat@vendor.example"}, "client_owner_email"),
    ({"python_version": "3.9"}, "python_version"),
    ({"ml_task": "clustering"}, "ml_task"),
    ({"primary_metric": "r2"}, "primary_metric"),
    ({"ml_task": "regression", "primary_metric": "f1"}, "primary_metric"),
    ({"acceptance_threshold": "1.5"}, "acceptance_threshold"),
    ({"acceptance_threshold": "-0.1"}, "acceptance_threshold"),
    (
        {"ml_task": "regression", "primary_metric": "rmse", "acceptance_threshold": "0"},
        "acceptance_threshold",
    ),
    ({"ci_provider": "jenkins"}, "ci_provider"),
    (
        {"mlflow_tracking": "server", "mlflow_tracking_uri": "ftp://mlflow.acme.example"},
        "mlflow_tracking_uri",
    ),
    (
        {"mlflow_tracking": "server", "mlflow_tracking_uri": "https://user:pw@mlflow.acme.example"},
        "mlflow_tracking_uri",
    ),
    ({"dvc_remote": "hdfs"}, "dvc_remote"),
    ({"dvc_remote_url": "data/store"}, "dvc_remote_url"),
    ({"dvc_remote_url": "s3://bucket/x"}, "dvc_remote_url"),
    ({"dvc_remote": "s3", "dvc_remote_url": "gs://bucket/x"}, "dvc_remote_url"),
    ({"dvc_remote": "s3", "dvc_remote_url": "s3://key:secret@bucket/x"}, "dvc_remote_url"),
    ({"dvc_remote": "s3", "dvc_s3_endpoint_url": "minio:9000"}, "dvc_s3_endpoint_url"),
    ({"license": "GPL-3.0"}, "license"),
    ({"vendor_email_domain": "Vendor"}, "vendor_email_domain"),
    ({"vendor_email_domain": "acme.example"}, "vendor_email_domain"),
    ({"engagement_model": "body_shopping"}, "engagement_model"),
    ({"data_sensitivity": "secret"}, "data_sensitivity"),
    ({"data_residency": " "}, "data_residency"),
    ({"data_deletion_days": "0"}, "data_deletion_days"),
    ({"data_deletion_days": "400"}, "data_deletion_days"),
    ({"audit_level": "L0"}, "audit_level"),
    # Where the project installs `handover` from: no credentials, no moving refs.
    ({"handover_source": "https://user:token@pypi.acme.example/simple/"}, "handover_source"),
    ({"handover_source": "https://token@pypi.acme.example/simple/"}, "handover_source"),
    ({"handover_source": "https://pypi.acme.example/simple/?token=abc123"}, "handover_source"),
    ({"handover_source": "git+https://git.acme.example/ml/mlops-handover@main"}, "handover_source"),
    (
        {"handover_source": "git+https://git.acme.example/ml/mlops-handover@v0.3.0"},
        "handover_source",
    ),
    ({"handover_source": "git+https://ghp_x@github.com/acme/h@" + "a" * 40}, "handover_source"),
    ({"handover_source": "wheels/mlops_handover-0.0.1-py3-none-any.whl"}, "handover_source"),
    ({"handover_source": "https://files.acme.example/mlops_handover.whl"}, "handover_source"),
    ({"handover_source": "pip"}, "handover_source"),
    ({"audit_level": "L5"}, "audit_level"),
    ({"audit_level": "owned"}, "audit_level"),
]


def data_args(data: dict[str, str]) -> list[str]:
    return [arg for key, value in data.items() for arg in ("--data", f"{key}={value}")]


def new_no_run(template_repo: Path, dest: Path, *extra: str) -> int:
    """`handover new DEST --defaults --no-run` from the test snapshot of the template."""
    return new_in(template_repo, dest, "--no-run", *extra)


def new_in(template_repo: Path, dest: Path, *extra: str) -> int:
    """`handover new DEST --defaults` from the test snapshot of the template."""
    return main(
        [
            "new",
            str(dest),
            "--defaults",
            "--template",
            str(template_repo),
            "--vcs-ref",
            "HEAD",
            *extra,
        ]
    )


@pytest.mark.parametrize(("data", "question"), INVALID, ids=[q for _, q in INVALID])
def test_invalid_answer_is_rejected_before_writing(
    template_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], data, question
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    code = new_no_run(template_repo, dest, *data_args(data))
    err = capsys.readouterr().err
    assert code == 2
    assert f"'{question}'" in err, err
    assert list(dest.iterdir()) == [], "a file was written despite the invalid answer"


def test_invalid_answer_leaves_no_new_directory(template_repo: Path, tmp_path: Path) -> None:
    """Through the installed command: exit code 2, message on stderr, nothing created."""
    dest = tmp_path / "never"
    result = handover_new(template_repo, dest, "--data", "package_name=1abc", check=False)
    assert result.returncode == 2
    assert "Validation error for question 'package_name'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not dest.exists()


def test_unknown_data_key_is_rejected(tmp_path: Path, capsys) -> None:
    code = main(["new", str(tmp_path / "x"), "--defaults", "--data", "ml_taks=regression"])
    err = capsys.readouterr().err
    assert code == 2
    assert "did you mean 'ml_task'" in err
    assert not (tmp_path / "x").exists()


def test_malformed_data_pair_is_rejected(tmp_path: Path, capsys) -> None:
    assert main(["new", str(tmp_path / "x"), "--defaults", "--data", "ml_task"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_non_empty_destination_is_refused(tmp_path: Path, capsys) -> None:
    dest = tmp_path / "existing"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    assert main(["new", str(dest), "--defaults"]) == 2
    assert "not empty and was not generated from the template" in capsys.readouterr().err
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]


def test_generated_project_destination_points_to_update(generate, capsys) -> None:
    project = generate()
    before = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True).stdout
    assert main(["new", str(project), "--defaults"]) == 2
    assert "handover update" in capsys.readouterr().err
    after = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True).stdout
    assert before == after


def test_no_terminal_without_defaults_is_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115
    assert main(["new", str(tmp_path / "x")]) == 2
    assert "pass --defaults" in capsys.readouterr().err


@pytest.mark.usefixtures("no_git_identity")
def test_new_without_git_identity_json(template_repo: Path, tmp_path: Path) -> None:
    """No user.name/email anywhere: the first commit uses the client owner from the answers."""
    dest = tmp_path / "p"
    result = handover_new(
        template_repo,
        dest,
        "--no-run",
        "--json",
        "--data",
        "client_owner_name=Pat Client",
        "--data",
        "client_owner_email=pat@acme.example",
    )
    payload = json.loads(result.stdout)  # stdout is pure JSON; progress went to stderr
    assert payload["dest"] == str(dest)
    assert payload["pipeline_ran"] is False
    assert payload["answers"]["client_owner_email"] == "pat@acme.example"
    assert "authored by Pat Client <pat@acme.example>" in result.stderr
    author = run("git", "log", "-1", "--format=%an <%ae>", cwd=dest).stdout.strip()
    assert author == "Pat Client <pat@acme.example>"
    assert payload["commit"] == run("git", "rev-parse", "HEAD", cwd=dest).stdout.strip()
    assert run("git", "status", "--porcelain", cwd=dest).stdout == ""


def test_post_copy_setup(generate, tmp_path: Path) -> None:
    """git repository on main, DVC-tracked example data, local remote filled, one clean commit."""
    project = generate({"ml_task": "regression", "primary_metric": "r2"})
    assert run("git", "branch", "--show-current", cwd=project).stdout.strip() == "main"
    assert run("git", "rev-list", "--count", "HEAD", cwd=project).stdout.strip() == "1"
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""
    tracked = run("git", "ls-files", cwd=project).stdout.split()
    assert "data/raw/diabetes.csv.dvc" in tracked
    assert "data/raw/diabetes.csv" not in tracked
    assert ".copier-answers.yml" in tracked and "requirements.lock" in tracked
    dvc_file = yaml.safe_load((project / "data/raw/diabetes.csv.dvc").read_text())
    md5 = dvc_file["outs"][0]["md5"]
    store = tmp_path / "demo-model-dvc-storage"
    assert (store / "files" / "md5" / md5[:2] / md5[2:]).is_file(), "raw data not pushed"
    run(sys.executable, "-m", "dvc", "status", "--quiet", "data/raw/diabetes.csv.dvc", cwd=project)


def test_post_copy_task_is_idempotent(generate) -> None:
    """Running the task again changes nothing: no new commit, no rewritten data."""
    project = generate()
    head = run("git", "rev-parse", "HEAD", cwd=project).stdout
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    run(
        sys.executable,
        ROOT / "hooks" / "post_copy.py",
        f"--task={answers['ml_task']}",
        f"--dvc-remote={answers['dvc_remote']}",
        f"--dvc-remote-url={answers['dvc_remote_url']}",
        "--owner-name=x",
        "--owner-email=x@acme.example",
        cwd=project,
    )
    assert run("git", "rev-parse", "HEAD", cwd=project).stdout == head
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""


def test_example_data_matches_scikit_learn(generate) -> None:
    """The hook reads scikit-learn's files without importing it; the values must agree."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer, load_diabetes

    for task, loader, name in [
        ("classification", load_breast_cancer, "breast_cancer"),
        ("regression", lambda **kw: load_diabetes(scaled=False, **kw), "diabetes"),
    ]:
        project = generate({"ml_task": task}, name=task)
        ours = pd.read_csv(project / "data" / "raw" / f"{name}.csv")
        theirs = loader(as_frame=True).frame
        theirs.columns = [c if c == "target" else c.replace(" ", "_") for c in theirs.columns]
        assert list(ours.columns) == list(theirs.columns)
        pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def test_help_imports_nothing_heavy() -> None:
    """`handover --help` must not pay for copier, mlflow, dvc, pandas or scikit-learn."""
    code = (
        "import sys\n"
        "from mlops_handover.cli import build_parser\n"
        "for args in (['--help'], ['new', '--help']):\n"
        "    try:\n"
        "        build_parser().parse_args(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = {'copier', 'mlflow', 'dvc', 'pandas', 'sklearn'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    result = run(sys.executable, "-c", code, cwd=ROOT)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_help_explains_options_and_exit_codes() -> None:
    result = run(tool("handover"), "new", "--help", cwd=ROOT)
    for text in (
        "--data",
        "--defaults",
        "--vcs-ref",
        "--no-run",
        "--json",
        "exit codes",
        "--trust",
    ):
        assert text in result.stdout


def test_destination_names_the_project(template_repo: Path, tmp_path: Path) -> None:
    """`handover new churn-model` makes Churn Model / churn-model / churn_model by default."""
    dest = tmp_path / "churn-model"
    assert new_no_run(template_repo, dest) == 0
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "Churn Model"
    assert answers["package_name"] == "churn_model"
    assert (dest / "src" / "churn_model").is_dir()
    store = tmp_path.resolve() / "churn-model-dvc-storage"  # absolute: any clone finds it
    assert f"url = {store}\n" in (dest / ".dvc" / "config").read_text()
    named = tmp_path / "other"
    assert new_no_run(template_repo, named, "--data", "project_name=Fraud Radar") == 0
    assert (
        yaml.safe_load((named / ".copier-answers.yml").read_text())["package_name"] == "fraud_radar"
    )


def test_unreachable_tracking_server_fails_fast(
    template_repo: Path, tmp_path: Path, capsys
) -> None:
    """Server mode with nothing listening: exit 1 naming the server, the project kept."""
    dest = tmp_path / "team"
    code = new_in(
        template_repo,
        dest,
        "--data",
        "mlflow_tracking=server",
        "--data",
        "mlflow_tracking_uri=http://127.0.0.1:9",
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "the MLflow tracking server http://127.0.0.1:9 does not answer" in err
    assert (dest / ".copier-answers.yml").is_file()
    assert not (dest / "dvc.lock").exists()


# --- answers validated at the edge (issue 17) -------------------------------------------------

#: Answers that must be refused, visible questions and hidden ones alike, with the question
#: the message names. Rules of copier.yml (plain Copier refuses them too) ...
REFUSED_BY_TEMPLATE = [
    ({"project_slug": "../evil"}, "project_slug"),
    ({"project_slug": "a/b"}, "project_slug"),
    ({"project_slug": "x" * 65}, "project_slug"),
    ({"package_name": "__init__"}, "package_name"),
    ({"package_name": "_"}, "package_name"),
    ({"package_name": "p" * 65}, "package_name"),
    ({"project_name": "P" * 65}, "project_name"),
    ({"project_name": "!!!"}, "project_name"),
]
#: ... and types, which Copier casts before its validators see them (handover new only).
REFUSED_TYPES = [
    ({"personal_data": "maybe"}, "personal_data"),
    ({"acceptance_threshold": "abc"}, "acceptance_threshold"),
    ({"data_deletion_days": "3.5"}, "data_deletion_days"),
    (
        {"ml_task": "regression", "primary_metric": "rmse", "acceptance_threshold": "inf"},
        "acceptance_threshold",
    ),
]
SECRET = "s3cr3tVALUE"
S3, SERVER = {"dvc_remote": "s3"}, {"mlflow_tracking": "server"}
ENDPOINT = "https://s3.acme.example/"
#: Credentials in a URL or path answer (question, value, the answers it needs): refused, the
#: value not echoed.
CREDENTIAL_FORMS = [
    ("dvc_remote_url", "s3://acme-data/AKIAIOSFODNN7EXAMPLE/dvc", S3),
    ("dvc_remote_url", f"s3://acme-data/dvc?aws_secret_access_key={SECRET}", S3),
    ("dvc_remote_url", f"gs://acme-data/dvc?access_token={SECRET}", {"dvc_remote": "gcs"}),
    ("dvc_remote_url", f"azure://data/dvc?sv=2022-11-02&sig={SECRET}", {"dvc_remote": "azure"}),
    ("dvc_remote_url", f"ssh://dvc:{SECRET}@storage.acme.example/srv", {"dvc_remote": "ssh"}),
    ("dvc_remote_url", f"/srv/dvc/password={SECRET}/store", {}),
    ("dvc_s3_endpoint_url", f"{ENDPOINT}?X-Amz-Credential={SECRET}", S3),
    ("dvc_s3_endpoint_url", f"{ENDPOINT}?access_key={SECRET}", S3),
    ("dvc_s3_endpoint_url", f"{ENDPOINT}?token={SECRET}", S3),
    ("dvc_s3_endpoint_url", f"{ENDPOINT}?password={SECRET}", S3),
    ("dvc_s3_endpoint_url", f"{ENDPOINT}?a=1&sig={SECRET}", S3),
    ("mlflow_tracking_uri", f"https://mlflow.acme.example/?token={SECRET}", SERVER),
    ("mlflow_tracking_uri", f"https://mlflow.acme.example/#access_token={SECRET}", SERVER),
    ("mlflow_tracking_uri", f"https://pat:{SECRET}@mlflow.acme.example", SERVER),
    ("mlflow_tracking_uri", "https://mlflow.acme.example/ghp_" + "a1" * 18, SERVER),
    ("handover_source", f"https://pypi.acme.example/simple/?api_key={SECRET}", {}),
]
CREDENTIALS = [
    ({**needs, question: value}, question) for question, value, needs in CREDENTIAL_FORMS
]
#: Where each kind of credential belongs, as the message says.
BELONGS = {
    "dvc_remote_url": "DVC local config",
    "dvc_s3_endpoint_url": "DVC local config",
    "mlflow_tracking_uri": "MLFLOW_TRACKING_TOKEN",
    "handover_source": "~/.netrc",
}


def entries(*folders: Path) -> dict[Path, list[str]]:
    return {folder: sorted(os.listdir(folder)) for folder in folders}


def error_lines(err: str) -> list[str]:
    """The lines of stderr that are not progress ("[  0.0s] ...")."""
    return [line for line in err.splitlines() if line.strip() and not line.startswith("[")]


@pytest.mark.parametrize(
    ("data", "question"),
    REFUSED_BY_TEMPLATE + REFUSED_TYPES + CREDENTIALS,
    ids=[f"{q}-{i}" for i, (_, q) in enumerate(REFUSED_BY_TEMPLATE + REFUSED_TYPES + CREDENTIALS)],
)
def test_bad_answer_is_refused_in_one_line_before_writing(
    template_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], data, question
) -> None:
    """Visible or hidden, every answer is checked before anything is written, beside DEST too
    (`project_slug=../evil` made ../evil-dvc-storage): one line naming the question, exit 2."""
    parent = tmp_path / "work"
    parent.mkdir()
    before = entries(tmp_path, parent)
    code = new_no_run(template_repo, parent / "dest", *data_args(data))
    err = capsys.readouterr().err
    assert code == 2
    assert entries(tmp_path, parent) == before, "something was written"
    assert error_lines(err) == [error_lines(err)[0]] and f"'{question}'" in err, err
    assert "Traceback" not in err and "could not convert" not in err
    assert SECRET not in err and "AKIA" not in err and "ghp_" not in err, "a credential echoed"


@pytest.mark.parametrize(
    ("data", "question"), CREDENTIALS, ids=[f"{q}-{i}" for i, (_, q) in enumerate(CREDENTIALS)]
)
def test_credentials_are_refused_by_plain_copier_without_echoing_them(
    template_repo: Path, tmp_path: Path, data, question
) -> None:
    """copier.yml's validators are the edge for plain Copier: the message names the answer
    and where credentials belong, and does not repeat the secret."""
    with pytest.raises(ValueError, match=f"question '{question}'") as refused:
        copy_template(template_repo, tmp_path / "plain", data, skip_tasks=True)
    message = str(refused.value)
    assert BELONGS[question] in message and "a file of the repository" in message
    assert SECRET not in message and "AKIA" not in message and "ghp_" not in message
    assert not (tmp_path / "plain").exists()


@pytest.mark.parametrize(
    ("data", "question"),
    REFUSED_BY_TEMPLATE,
    ids=[f"{q}-{i}" for i, (_, q) in enumerate(REFUSED_BY_TEMPLATE)],
)
def test_names_are_refused_by_plain_copier(
    template_repo: Path, tmp_path: Path, data, question
) -> None:
    with pytest.raises(ValueError, match=f"question '{question}'"):
        copy_template(template_repo, tmp_path / "plain", data, skip_tasks=True)
    assert sorted(os.listdir(tmp_path)) == []


def test_names_are_limited_to_64_characters(template_repo: Path, tmp_path: Path) -> None:
    """64 characters make file names that fit; 65 are refused (300 overflowed a file name)."""
    dest = tmp_path / "long"
    assert new_no_run(template_repo, dest, "--data", "project_name=" + "Model " * 10 + "Long") == 0
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert len(answers["package_name"]) == 64
    too_long = "project_name=" + "Model " * 10 + "Longer"
    assert new_no_run(template_repo, tmp_path / "longer", "--data", too_long) == 2


# --- no traceback from the file system (issue 17) ----------------------------------------------


def one_error_line(code: int, err: str, cause: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and cause in lines[0], err


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (lambda base: (base / "afile").write_text("x") and base / "afile" / "dest", "is a file"),
        (lambda base: (base / "dest").symlink_to(base / "gone") or base / "dest", "does not exist"),
        (lambda base: base / ("d" * 300), "File name too long"),
        (lambda base: Path("/proc/handover-test/dest"), "No such file or directory"),
    ],
    ids=["under-a-file", "dangling-symlink", "name-too-long", "proc"],
)
def test_unusable_destination_is_one_line_exit_1(
    template_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make, cause
) -> None:
    dest = make(tmp_path)
    before = entries(tmp_path)
    code = new_no_run(template_repo, dest)
    one_error_line(code, capsys.readouterr().err, cause)
    assert entries(tmp_path) == before


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount size-limited or read-only tmpfs folders (unmounted at the end); skip where
    `mount` is not permitted. Tests run as root, where chmod stops no write; `setpriv` to an
    unprivileged user cannot reach pytest's private temporary folder."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}): needs root")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


def test_read_only_destination_is_one_line_exit_1(
    template_repo: Path, tmpfs, capsys: pytest.CaptureFixture[str]
) -> None:
    readonly = tmpfs("size=1m,ro")
    code = new_no_run(template_repo, readonly / "dest")
    one_error_line(code, capsys.readouterr().err, "read-only file system")
    assert os.listdir(readonly) == []


def test_full_disk_is_one_line_exit_1_and_leaves_nothing(
    template_repo: Path, tmpfs, capsys: pytest.CaptureFixture[str]
) -> None:
    """A disk that fills while rendering, then while the post-copy task writes the data, the
    DVC remote and the first commit: each is one line naming the cause, and everything the
    run created (the project, the local DVC remote beside it) is removed; what was there stays."""
    probe = tmpfs("size=64m")
    assert new_no_run(template_repo, probe / "p") == 0
    usage = os.statvfs(probe)
    needed = (usage.f_blocks - usage.f_bfree) * usage.f_frsize // 1024  # KiB a generation takes
    capsys.readouterr()
    causes = []
    for fraction in (0.05, 0.5, 0.8):
        disk = tmpfs(f"size={int(needed * fraction)}k")
        (disk / "kept.txt").write_text("here before")
        code = new_no_run(template_repo, disk / "p")
        err = capsys.readouterr().err
        one_error_line(code, err, "")
        causes.append(error_lines(err)[0])
        assert os.listdir(disk) == ["kept.txt"], f"left behind at {fraction}: {os.listdir(disk)}"
    assert any("No space left on device" in c for c in causes), causes
    assert any("the post-copy setup failed" in c for c in causes), causes


# --- errors a script can use (issue 17) ------------------------------------------------------


def test_new_json_failure_prints_an_error_object(
    template_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = new_no_run(template_repo, tmp_path / "d", "--json", "--data", "project_slug=a/b")
    out, err = capsys.readouterr()
    assert code == 2
    document = json.loads(out)
    assert document["command"] == "new" and document["exit_code"] == 2
    assert "'project_slug'" in document["error"]
    assert "error: " in err


def test_update_json_failure_prints_an_error_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain").mkdir()
    code = main(["update", str(tmp_path / "plain"), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    document = json.loads(out)
    assert document == {"command": "update", "error": document["error"], "exit_code": 2}
    assert document["error"] in err


def test_audit_error_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In terminal format too: stdout is the report, and an error is not a report."""
    code = main(["audit", str(tmp_path / "nonexistent")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "no such directory" in err
