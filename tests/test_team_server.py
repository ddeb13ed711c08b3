"""The team setup on real servers: PostgreSQL, an S3 endpoint (moto) and MLflow with basic auth.

One stack per module (tests/servers.py), started with the generated project's own
`deploy/mlflow/start-server.sh`. A project generated in server mode with an S3 DVC remote runs
its pipeline against it; the tests then read the server, the bucket and the audit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from servers import S3_KEYS, MlflowServer, Postgres, S3Server, free_port, mlflow_stack, postgres_bin

from conftest import copy_template, isolated, project_env, run, tool

PG_BIN = postgres_bin()
pytestmark = [
    pytest.mark.slow,
    # One stack for the module: xdist (--dist loadgroup) keeps its tests on one worker.
    pytest.mark.xdist_group("team_server"),
    pytest.mark.skipif(
        PG_BIN is None,
        reason="PostgreSQL binaries (initdb, pg_ctl, createdb) not found: install PostgreSQL 15 "
        "(Debian: postgresql-15) to run the team-server tests",
    ),
]

BUCKET = "acme-ml"
ENGINEER = ("vendor-engineer", "engineer-password-5150")
TRACKING_CHECKS = ("RT203", "RT206", "OP302", "OP305")


def server_answers(server_uri: str, endpoint: str) -> dict[str, str]:
    return {
        "mlflow_tracking": "server",
        "mlflow_tracking_uri": server_uri,
        "dvc_remote": "s3",
        "dvc_remote_url": f"s3://{BUCKET}/dvc",
        "dvc_s3_endpoint_url": endpoint,
    }


@dataclass
class Team:
    pg: Postgres
    s3: S3Server
    server: MlflowServer
    project: Path
    script: Path

    def env(self, **changes: str | None) -> dict[str, str]:
        """The project's environment for an engineer: login and S3 keys from the environment."""
        env = project_env(self.project)
        env.update(S3_KEYS)
        env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"] = ENGINEER
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    @property
    def package(self) -> str:
        """The generated package (the one holding the pipeline stages)."""
        return next(p.name for p in (self.project / "src").iterdir() if (p / "train.py").exists())

    @property
    def params(self) -> dict:
        return yaml.safe_load((self.project / "params.yaml").read_text())

    def client(self, monkeypatch: pytest.MonkeyPatch):
        """An MLflow client on the server, as the admin (MLflow reads the login from env)."""
        from mlflow import MlflowClient

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", self.server.admin_password)
        return MlflowClient(tracking_uri=self.server.uri)


@pytest.fixture(scope="module")
def team(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """The stack, an engineer's account on it, and a project generated against it."""
    with isolated(tmp_path_factory):
        ops = copy_template(
            template_repo,
            tmp_path_factory.mktemp("ops") / "ops",
            server_answers("https://mlflow.acme.example", "https://s3.acme.example"),
            skip_tasks=True,
        )
        script = ops / "deploy" / "mlflow" / "start-server.sh"
        assert PG_BIN is not None
        with mlflow_stack(script, PG_BIN, BUCKET) as (pg, s3, server):
            server.create_user(*ENGINEER)
            project = tmp_path_factory.mktemp("team") / "churn-team"
            team = Team(pg, s3, server, project, script)
            answers = server_answers(server.uri, s3.endpoint)
            run(
                tool("handover"), "new", project, "--defaults", "--template", template_repo,
                "--vcs-ref", "HEAD", *(f"--data={k}={v}" for k, v in answers.items()),
                cwd=project.parent, env=team.env(),
            )  # fmt: skip
            yield team


def tracked_text(project: Path) -> dict[str, str]:
    files = run("git", "ls-files", "-z", cwd=project).stdout.split("\0")
    return {
        name: (project / name).read_text(errors="replace")
        for name in files
        if name and (project / name).is_file()
    }


def test_pipeline_records_the_run_version_and_champion_on_the_server(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = team.params["mlflow"]
    client = team.client(monkeypatch)
    experiment = client.get_experiment_by_name(params["experiment"])
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED"]
    champion = client.get_model_version_by_alias(params["registered_model"], "champion")
    assert champion.version == "1" and champion.run_id == runs[0].info.run_id
    assert champion.tags["acceptance"] == "passed"
    # The server proxies artifacts: the client only sees mlflow-artifacts:/, the files are in S3.
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    keys = team.s3.keys(BUCKET, "mlflow/")
    model_files = [k for k in keys if "/models/" in k]
    assert any(k.endswith("/MLmodel") for k in model_files), keys
    assert any(k.endswith("/requirements.txt") for k in model_files), keys
    # Nothing of the laptop store was made.
    assert not (team.project / "mlflow.db").exists() and not (team.project / "mlruns").exists()
    assert run("git", "status", "--porcelain", cwd=team.project).stdout == ""


def test_no_credential_lands_in_a_tracked_file(team: Team) -> None:
    secrets = {
        "engineer password": ENGINEER[1],
        "admin password": team.server.admin_password,
        "PostgreSQL password": team.pg.password,
        "S3 secret key": S3_KEYS["AWS_SECRET_ACCESS_KEY"],
        "S3 access key": S3_KEYS["AWS_ACCESS_KEY_ID"],
    }
    leaks = [
        f"{what} in {name}"
        for name, text in tracked_text(team.project).items()
        for what, secret in secrets.items()
        if secret in text
    ]
    assert not leaks
    config = (team.project / ".dvc" / "config").read_text()
    assert f"endpointurl = {team.s3.endpoint}" in config


def test_dvc_push_and_pull_round_trip_through_the_endpoint(team: Team, tmp_path: Path) -> None:
    project, env = team.project, team.env()
    # Keys the documented way: `dvc remote modify --local`, into the git-ignored config.local.
    no_keys = team.env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    for option, key in (("access_key_id", "AWS_ACCESS_KEY_ID"), ("secret_access_key", None)):
        value = S3_KEYS[key or "AWS_SECRET_ACCESS_KEY"]
        run(tool("dvc"), "remote", "modify", "--local", "storage", option, value, cwd=project)
    run("git", "check-ignore", "-q", ".dvc/config.local", cwd=project)
    # `handover new` leaves the client's bucket alone: the first push is the team's.
    assert not team.s3.keys(BUCKET, "dvc/")
    run(tool("dvc"), "push", cwd=project, env=no_keys)
    assert team.s3.keys(BUCKET, "dvc/files/md5/"), "dvc push stored nothing in the bucket"
    # Comparing with the remote needs the keys: here only config.local has them.
    in_sync = run(tool("dvc"), "status", "--cloud", "--json", cwd=project, env=no_keys)
    assert json.loads(in_sync.stdout) == {}
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""

    # A fresh clone has no config.local: the keys come from the environment instead.
    clone = tmp_path / "clone"
    run("git", "clone", "-q", project, clone, cwd=tmp_path)
    assert not (clone / "data" / "prepared" / "train.csv").exists()
    run(tool("dvc"), "pull", cwd=clone, env=env)
    for out in ("data/prepared/train.csv", "data/prepared/evaluation.csv"):
        assert (clone / out).read_bytes() == (project / out).read_bytes()
    raw = next((project / "data" / "raw").glob("*.csv"))
    assert (clone / raw.relative_to(project)).read_bytes() == raw.read_bytes()
    status = run(tool("dvc"), "status", "--quiet", cwd=clone, env=env, check=False)
    assert status.returncode == 0, status.stdout + status.stderr


def test_eight_training_runs_at_once_are_all_recorded(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = team.params["mlflow"]
    client = team.client(monkeypatch)
    experiment = client.get_experiment_by_name(params["experiment"])
    runs_before = {r.info.run_id for r in client.search_runs([experiment.experiment_id])}
    versions_before = {
        v.version for v in client.search_model_versions(f"name='{params['registered_model']}'")
    }
    # Eight engineers' checkouts, each training at the same moment against the one server.
    copies = []
    for i in range(8):
        copy = tmp_path / f"engineer-{i}"
        shutil.copytree(team.project, copy, ignore=shutil.ignore_patterns(".dvc"))
        copies.append(copy)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", f"{team.package}.train"],
            cwd=copy,
            env={**team.env(), "PYTHONPATH": str(copy / "src")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for copy in copies
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    failed = [err[-2000:] for p, (_, err) in zip(processes, outputs, strict=True) if p.returncode]
    assert not failed, failed

    infos = [json.loads((copy / "models" / "train.json").read_text()) for copy in copies]
    new_runs = {r.info.run_id for r in client.search_runs([experiment.experiment_id])}
    new_runs -= runs_before
    versions = client.search_model_versions(f"name='{params['registered_model']}'")
    new_versions = {v.version: v.run_id for v in versions if v.version not in versions_before}
    assert len(new_runs) == 8 and {i["run_id"] for i in infos} == new_runs
    assert len(new_versions) == 8 and set(new_versions.values()) == new_runs
    assert sorted(str(i["version"]) for i in infos) == sorted(new_versions)


@pytest.fixture(scope="module")
def missing_bucket_server(team: Team) -> Iterator[MlflowServer]:
    """A second server on the same database whose bucket does not exist."""
    settings = {
        "MLFLOW_BACKEND_STORE_URI": team.pg.uri("mlflow"),
        "MLFLOW_AUTH_DATABASE_URI": team.pg.uri("mlflow_auth"),
        "MLFLOW_ARTIFACTS_DESTINATION": "s3://acme-ml-deleted/mlflow",
        "MLFLOW_S3_ENDPOINT_URL": team.s3.endpoint,
    }
    with MlflowServer(team.script, settings) as server:
        yield server


def audit(team: Team, env: dict[str, str]) -> dict[str, dict]:
    """The audit as the engineer runs it: MLFLOW_TRACKING_URI names the server the login is
    for (the audit sends no login to a server only the repository names)."""
    env = {"MLFLOW_TRACKING_URI": team.server.uri, **env}
    result = run(
        tool("handover"), "audit", "--format", "json", ".", cwd=team.project, env=env, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)["repositories"][0]["checks"]


#: How long a stage may take to fail on a broken server: MLflow's client would retry for
#: minutes, the generated config bounds its retries and timeout.
FAIL_WITHIN = 60.0
DOCTOR = "`handover doctor` names the cause"


@pytest.mark.parametrize(
    ("failure", "cause", "audit_reason"),
    [
        ("wrong password", "refused the login of 'vendor-engineer' (HTTP 401)", "HTTP 401"),
        ("no login", "requires a login: set MLFLOW_TRACKING_USERNAME", "without a login"),
        ("server down", "does not answer", "Connection refused"),
        ("bucket missing", "The specified bucket does not exist", "bucket does not exist"),
    ],
)
def test_a_broken_server_is_named_by_the_pipeline_and_the_audit(
    team: Team, request: pytest.FixtureRequest, failure: str, cause: str, audit_reason: str
) -> None:
    changes: dict[str, str | None] = {}
    if failure == "wrong password":
        changes["MLFLOW_TRACKING_PASSWORD"] = "not-the-password"
    elif failure == "no login":
        changes |= {"MLFLOW_TRACKING_USERNAME": None, "MLFLOW_TRACKING_PASSWORD": None}
    elif failure == "server down":
        changes["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{free_port()}"
    else:
        server = request.getfixturevalue("missing_bucket_server")
        changes["MLFLOW_TRACKING_URI"] = server.uri
    env = team.env(**changes)
    # MLflow's own client would retry for minutes: the stage fails fast, in one line, and says
    # where to look; the doctor names the cause.
    started = time.monotonic()
    trained = run(
        sys.executable, "-m", f"{team.package}.train",
        cwd=team.project, env=env, check=False, timeout=FAIL_WITHIN * 2,
    )  # fmt: skip
    took = time.monotonic() - started
    print(f"{failure}: train failed in {took:.1f} s: {trained.stderr.strip()}")
    assert took < FAIL_WITHIN, (took, trained.stderr)
    assert trained.returncode == 1, trained.stderr
    assert "Traceback" not in trained.stderr and DOCTOR in trained.stderr, trained.stderr
    assert trained.stderr.strip().startswith("train: ") and trained.stderr.count("\n") == 1
    started = time.monotonic()
    registry = run(
        sys.executable, "-m", f"{team.package}.registry", "status",
        cwd=team.project, env=env, check=False, timeout=FAIL_WITHIN * 2,
    )  # fmt: skip
    took = time.monotonic() - started
    print(f"{failure}: registry status exited {registry.returncode} in {took:.1f} s")
    assert took < FAIL_WITHIN, (took, registry.stderr)
    if failure != "bucket missing":  # the registry needs no artifacts
        assert registry.returncode == 1, registry.stderr
        assert "Traceback" not in registry.stderr and DOCTOR in registry.stderr, registry.stderr
    doctor = run(tool("handover"), "doctor", "--json", cwd=team.project, env=env, check=False)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    findings = {f["item"]: f for f in json.loads(doctor.stdout)["findings"]}
    server_item = findings["tracking server"]
    assert server_item["status"] == "fail" and cause in server_item["detail"], server_item
    checks = audit(team, env)
    # A missing bucket hides the model's files, not the runs and versions in PostgreSQL.
    unknown = ("OP305",) if failure == "bucket missing" else TRACKING_CHECKS
    for check in unknown:
        assert checks[check]["outcome"] == "unknown", (check, checks[check])
        assert audit_reason in checks[check]["message"], (check, checks[check]["message"])


def test_audit_reads_its_mlflow_evidence_from_the_server(team: Team) -> None:
    checks = audit(team, team.env())
    for check in ("RT203", "RT206", "OP305"):
        assert checks[check]["outcome"] == "pass", (check, checks[check])
        assert "mlflow" in checks[check]["evidence_sources"]
    assert team.server.uri in checks["RT206"]["message"]
    assert "models:/" in checks["RT203"]["message"] and "@champion" in checks["RT203"]["message"]
    # The server and the bucket the answers chose are the client's (OW603).
    assert checks["OW603"]["outcome"] == "pass", checks["OW603"]


def test_start_script_refuses_incomplete_settings(team: Team, tmp_path: Path) -> None:
    """Without a required setting the script names it and starts nothing."""
    complete = {
        "MLFLOW_BACKEND_STORE_URI": team.pg.uri("mlflow"),
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{BUCKET}/mlflow",
        "MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-admin-password",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "secret",
    }
    cases = {
        "MLFLOW_AUTH_ADMIN_PASSWORD is not set": {"MLFLOW_AUTH_ADMIN_PASSWORD": ""},
        "shorter than 12": {"MLFLOW_AUTH_ADMIN_PASSWORD": "short"},
        "write postgresql+psycopg://": {
            "MLFLOW_BACKEND_STORE_URI": "postgresql://mlflow@127.0.0.1/mlflow"
        },
        "not an s3:// URI": {"MLFLOW_ARTIFACTS_DESTINATION": "/var/lib/mlflow"},
        "MLFLOW_FLASK_SERVER_SECRET_KEY is not set": {"MLFLOW_FLASK_SERVER_SECRET_KEY": ""},
    }
    for message, change in cases.items():
        env = {
            "PATH": os.environ["PATH"],
            "MLFLOW_ENV_FILE": os.devnull,
            "MLFLOW_STATE_DIR": str(tmp_path / "state"),
            **complete,
            **change,
        }
        result = run("bash", team.script, "serve", cwd=tmp_path, env=env, check=False)
        assert result.returncode == 2 and message in result.stderr, (message, result.stderr)
        assert not (tmp_path / "state" / "basic_auth.ini").exists()


def test_the_projects_own_checks_pass(team: Team) -> None:
    """Its linter and its test suite, as CI runs them in the team setup."""
    env = team.env()
    run(tool("ruff"), "check", ".", cwd=team.project, env=env)
    run(tool("ruff"), "format", "--check", ".", cwd=team.project, env=env)
    tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                cwd=team.project, env=env)  # fmt: skip
    assert " passed" in tests.stdout and "failed" not in tests.stdout


@pytest.fixture
def scratch_server(team: Team) -> Iterator[MlflowServer]:
    """An empty server on the team's PostgreSQL and bucket, with the engineer's account."""
    team.pg.createdb("scratch")
    team.pg.createdb("scratch_auth")
    settings = {
        "MLFLOW_BACKEND_STORE_URI": team.pg.uri("scratch"),
        "MLFLOW_AUTH_DATABASE_URI": team.pg.uri("scratch_auth"),
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{BUCKET}/scratch",
        "MLFLOW_S3_ENDPOINT_URL": team.s3.endpoint,
    }
    with MlflowServer(team.script, settings) as server:
        server.create_user(*ENGINEER)
        yield server


@pytest.mark.variants
def test_the_drill_passes_on_a_team_server_project(
    team: Team, scratch_server: MlflowServer, wheelhouse: Path, tmp_path: Path
) -> None:
    """The take-over of a team-setup project, against a scratch server: the team's registry and
    bucket prefix are left as they were, and the drill refuses to run without the scratch."""
    env = team.env(UV_FIND_LINKS=str(wheelhouse), MLFLOW_TRACKING_URI=None)
    # The team's first push (`handover new` leaves the client's bucket alone).
    run(tool("dvc"), "push", "--quiet", cwd=team.project, env=env)
    refused = run(tool("handover"), "drill", team.project, cwd=tmp_path, env=env, check=False)
    assert refused.returncode == 2 and "--tracking-uri" in refused.stderr, refused.stderr
    versions = team.server.request("GET", "/api/2.0/mlflow/registered-models/search")
    dvc_keys = team.s3.keys(BUCKET, "dvc")
    report = tmp_path / "drill.json"
    result = run(
        tool("handover"), "drill", team.project, "--tracking-uri", scratch_server.uri,
        "--report", report, "--workdir", tmp_path, cwd=tmp_path, env=env, check=False,
        timeout=1500,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-8000:]
    steps = json.loads(report.read_text())["steps"]
    assert [s["verdict"] for s in steps] == ["passed"] * len(steps), steps
    assert team.server.request("GET", "/api/2.0/mlflow/registered-models/search") == versions
    assert team.s3.keys(BUCKET, "dvc") == dvc_keys
