"""Security checks (RP108, SC501-SC507) and the history evidence, on real git repositories.

Secrets in this file are assembled from pieces at run time, so that this repository itself
holds no string a scanner would take for a credential.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from audit_repos import check_result, commit, git, make_repo, write_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_handover.audit.checks.security import github_repository
from mlops_handover.audit.history import mask, scan_text
from mlops_handover.audit.model import Outcome

AWS_ID = "AKIA" + "QWERTYUIOPASDFGH"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzzKEYval12"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
GITLAB = "glpat-" + "x9Y8w7V6u5T4s3R2q1P0"
SLACK = "xoxb-" + "1234567890-0987654321-AbCdEfGhIjKlMnOp"
PASSWORD = "Hunter2" + "Correct9Horse"
PEM = (
    "-----BEGIN RSA " + "PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA7bq5Wn4pE9bqI7GxOZ1Bn4w5K3lJpUuQdQnVv9Y3aX7VxT2m\n"
    "q1Z8lQ4N0bWqkP3s5r6T7u8v9w0x1y2z3A4B5C6D7E8F9G0H1I2J3K4L5M6N7O8P\n"
    "-----END RSA " + "PRIVATE KEY-----\n"
)
SHA = "3d3c42e5aac5ba805825da76410c181273ba90b1"


def outcome_of(repo: Path, check_id: str, **kwargs) -> Outcome:
    return check_result(repo, check_id, **kwargs).outcome


def assert_outcome(repo: Path, check_id: str, expected: Outcome, **kwargs) -> str:
    item = check_result(repo, check_id, **kwargs)
    assert item.outcome is expected, item.result.message
    assert "internal error" not in item.result.message
    return item.result.message


# --- the scanner ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "line", "kind"),
    [
        ("settings.py", f'AWS_KEY = "{AWS_ID}"', "aws"),
        ("conf.ini", f"aws_secret_access_key = {AWS_SECRET}", "awssecret"),
        ("ci.sh", f"export GH={GITHUB}", "github"),
        ("ci.sh", f"TOKEN={GITLAB}", "gitlab"),
        ("notify.py", f"hook = '{SLACK}'", "slack"),
        ("db.py", f'DB_PASSWORD = "{PASSWORD}"', "key"),
        ("config.yaml", f"api_key: {PASSWORD}", "key"),
        ("params.yaml", f"tracking_uri: https://ml:{PASSWORD}@mlflow.acme.com", "url"),
        ("README.md", f"`postgresql://app:{PASSWORD}@db:5432/app`", "url"),
    ],
)
def test_scanner_finds_each_kind_and_masks_it(path: str, line: str, kind: str) -> None:
    found = scan_text(path, f"# header\n{line}\n")
    assert [s.kind for s in found] == [kind]
    assert found[0].line == 2
    secret = line.split("=", 1)[-1].split(":", 1)[-1]
    for value in (AWS_ID, AWS_SECRET, GITHUB, GITLAB, SLACK, PASSWORD):
        if value in secret:
            assert value not in found[0].masked and value not in found[0].describe()


@pytest.mark.parametrize(
    "line",
    [
        "token: ${{ secrets.GITHUB_TOKEN }}",
        'password = os.environ["DB_PASSWORD"]',
        "password: $DB_PASSWORD",
        'api_key = "<your-api-key>"',
        "password: [FILL: the client's vault path]",
        'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        'password = "changeme123"',
        'secret = "********"',
        "MLFLOW_TRACKING_URI=https://user:${MLFLOW_PASSWORD}@mlflow.acme.example",
        "url = https://user:password@host.example/path",
        "postgres://postgres:postgres@db:5432/db",
        f"postgresql://scott:{PASSWORD}@localhost/test",
        f"see https://ml:{PASSWORD}@mlflow.acme.example for the server",
        f"models://scope:{PASSWORD}@databricks/model-name",
        'next = {"api_key": "sk-...xyz123"}',
        'token_name = "MLFLOW_TRACKING_TOKEN"',
        "tokenizer: bert-base-uncased-whole-word",
        "max_tokens = 100000000",
        'token = "refresh_token"',
        'if password == "something-long":',
        "private_key: ./keys/deploy.pem",
        "-----BEGIN OPENSSH " + "PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----",
        f'AWS_KEY = "{AWS_ID}"  # handover:allow (a revoked test key)',
    ],
)
def test_scanner_ignores_placeholders(line: str) -> None:
    assert scan_text("config.yaml", line + "\n") == []


def test_private_key_block_with_a_body_is_found() -> None:
    found = scan_text("deploy/id_rsa", "notes\n" + PEM)
    assert [(s.kind, s.line) for s in found] == [("pem", 2)]
    assert "MIIE" not in found[0].describe()


def test_mask_keeps_only_a_prefix() -> None:
    assert mask(AWS_ID, 4) == "AKIA" + "*" * 12
    assert mask("short", 4) == "*****"


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=2000))
def test_scanner_never_raises(data: bytes | str) -> None:
    for secret in scan_text(".env", data):
        assert secret.line is not None and secret.line >= 1


_FRAGMENTS = st.sampled_from(
    [
        "password",
        "token",
        "api_key",
        "secret",
        "=",
        ":",
        '"',
        "'",
        " ",
        "\n",
        "://",
        "@",
        "AKIA",
        "ghp_",
        "glpat-",
        "xoxb-",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "${{",
        "}}",
        "$",
        "A1b2C3d4E5",
        "QWERTYUIOPASDFGH",
        "\x00",
        "é",
        "\t",
        "<",
        ">",
    ]
)


@settings(max_examples=50, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=60).map("".join))
def test_scanner_never_raises_on_near_misses(text: str) -> None:
    scan_text("settings.py", text)


# --- RP108 ---------------------------------------------------------------------------------


def test_rp108_passes_on_a_small_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"src/app.py": "print(1)\n", "data/raw.csv.dvc": "outs: []\n"})
    assert_outcome(repo, "RP108", Outcome.PASS)


def test_rp108_fails_on_a_large_blob_deleted_later(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "x\n"})
    write_files(repo, {"data/big.bin": b"\x00" * (11 * 1024 * 1024)})
    added = commit(repo, "add data")
    (repo / "data/big.bin").unlink()
    commit(repo, "remove data")
    message = assert_outcome(repo, "RP108", Outcome.FAIL)
    assert "data/big.bin" in message and "11.0 MB" in message and added[:12] in message
    item = check_result(repo, "RP108")
    assert ("data/big.bin", None) in item.result.locations


def test_rp108_threshold_is_configurable(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {
            "pyproject.toml": "[tool.handover.audit.thresholds]\nmax-file-size-mb = 20\n",
            "data/big.bin": b"\x01" * (11 * 1024 * 1024),
        },
    )
    assert_outcome(repo, "RP108", Outcome.PASS)


def test_rp108_ignores_a_large_blob_no_ref_reaches(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "x\n"})
    write_files(repo, {"big.bin": b"\x02" * (11 * 1024 * 1024)})
    git(repo, "add", "big.bin")
    git(repo, "rm", "-q", "--cached", "big.bin")  # the blob stays in .git/objects, dangling
    (repo / "big.bin").unlink()
    assert_outcome(repo, "RP108", Outcome.PASS)


def test_rp108_fails_on_a_tracked_model_binary(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"models/model.pkl": b"\x80\x04small pickle"})
    message = assert_outcome(repo, "RP108", Outcome.FAIL)
    assert "models/model.pkl (model binary)" in message


def test_rp108_accepts_git_lfs_pointers(tmp_path: Path) -> None:
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 9\n"
    repo = make_repo(tmp_path / "r", {"models/model.pt": pointer})
    message = assert_outcome(repo, "RP108", Outcome.PASS)
    assert "Git LFS" in message


# --- SC501 ---------------------------------------------------------------------------------


def test_sc501_passes_on_a_clean_repository(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {
            ".gitignore": ".env\n",
            ".env.example": "MLFLOW_TRACKING_PASSWORD=changeme\n",
            "src/app.py": 'import os\npassword = os.environ["DB_PASSWORD"]\n',
        },
    )
    (repo / ".env").write_text(f"DB_PASSWORD={PASSWORD}\n")  # ignored: fine
    assert_outcome(repo, "SC501", Outcome.PASS)


def test_sc501_fails_on_a_secret_in_a_tracked_file_with_its_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"src/settings.py": f'"""Settings."""\nKEY = "{AWS_ID}"\n'})
    item = check_result(repo, "SC501")
    assert item.outcome is Outcome.FAIL
    assert ("src/settings.py", 2) in item.result.locations
    assert AWS_ID not in item.result.message and "AKIA****" in item.result.message


def test_sc501_fails_on_a_staged_secret(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "x\n"})
    write_files(repo, {"deploy.sh": f"export GITHUB_TOKEN={GITHUB}\n"})
    git(repo, "add", "deploy.sh")  # the pre-commit hook's situation: staged, not committed
    assert_outcome(repo, "SC501", Outcome.FAIL)


def test_sc501_fails_on_a_secret_committed_then_deleted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "x\n"})
    write_files(repo, {"notebooks/scratch.py": f"conn = 'mysql://etl:{PASSWORD}@db.acme.com'\n"})
    added = commit(repo, "scratch")
    (repo / "notebooks/scratch.py").unlink()
    commit(repo, "oops, remove it")
    item = check_result(repo, "SC501")
    assert item.outcome is Outcome.FAIL, item.result.message
    assert "only in history" in item.result.message
    assert "notebooks/scratch.py:1" in item.result.message and added[:12] in item.result.message
    assert PASSWORD not in item.result.message


def test_sc501_fails_on_a_secret_replaced_in_a_later_version(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"config.yaml": f"slack: {SLACK}\n"})
    write_files(repo, {"config.yaml": "slack: ${SLACK_TOKEN}\n"})
    commit(repo, "read it from the environment")
    message = assert_outcome(repo, "SC501", Outcome.FAIL)
    assert "Slack token" in message and "config.yaml:1" in message


def test_sc501_ignores_a_secret_amended_away(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "x\n"})
    write_files(repo, {"app.py": f'TOKEN = "{GITLAB}"\n'})
    commit(repo, "wip")
    write_files(repo, {"app.py": 'import os\nTOKEN = os.environ["GITLAB_TOKEN"]\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--amend", "-m", "read the token")
    git(repo, "reflog", "expire", "--expire=now", "--all")  # the blob is now dangling
    assert_outcome(repo, "SC501", Outcome.PASS)


def test_sc501_fails_on_a_private_key_in_history(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"keys/id_rsa": PEM})
    git(repo, "rm", "-q", "keys/id_rsa")
    commit(repo, "remove key")
    message = assert_outcome(repo, "SC501", Outcome.FAIL)
    assert "private key" in message and "keys/id_rsa:1" in message


def test_sc501_fails_when_env_is_tracked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".env": "DEBUG=1\n"})
    message = assert_outcome(repo, "SC501", Outcome.FAIL)
    assert ".env is tracked" in message


def test_sc501_fails_when_env_is_present_and_not_ignored(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "x\n"})
    (repo / ".env").write_text("DEBUG=1\n")
    message = assert_outcome(repo, "SC501", Outcome.FAIL)
    assert "not git-ignored" in message


def test_sc501_is_unknown_without_git(tmp_path: Path) -> None:
    folder = make_repo(tmp_path / "r", {"app.py": "x = 1\n"}, git_init=False)
    assert_outcome(folder, "SC501", Outcome.UNKNOWN)


# --- GitHub workflows: SC502, SC503, SC504 -------------------------------------------------

GOOD_WORKFLOW = f"""\
name: CI
on:
  pull_request:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      checks: write
    steps:
      - uses: actions/checkout@{SHA} # v7.0.1
        with:
          persist-credentials: false
      - uses: ./.github/actions/setup
      - uses: docker://alpine@sha256:{"a" * 64}
      - name: Greet
        env:
          TITLE: ${{{{ github.event.pull_request.title }}}}
        run: echo "$TITLE"
"""


def workflow_repo(tmp_path: Path, *workflows: str, name: str = "r") -> Path:
    files = {f".github/workflows/w{i}.yml": text for i, text in enumerate(workflows)}
    return make_repo(tmp_path / name, files or {"README.md": "x\n"})


def test_workflow_checks_pass_on_a_hardened_workflow(tmp_path: Path) -> None:
    repo = workflow_repo(tmp_path, GOOD_WORKFLOW)
    for check_id in ("SC502", "SC503", "SC504"):
        assert_outcome(repo, check_id, Outcome.PASS)


def test_workflow_checks_are_not_applicable_without_workflows(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".gitlab-ci.yml": "test:\n  script: [pytest]\n"})
    for check_id in ("SC502", "SC503", "SC504"):
        assert_outcome(repo, check_id, Outcome.NOT_APPLICABLE)


def test_workflow_checks_fail_on_malformed_yaml(tmp_path: Path) -> None:
    repo = workflow_repo(tmp_path, "on: [push\njobs: {")
    for check_id in ("SC502", "SC503", "SC504"):
        message = assert_outcome(repo, check_id, Outcome.FAIL)
        assert "w0.yml" in message


@pytest.mark.parametrize(
    ("permissions", "expected"),
    [
        ("permissions: read-all\n", Outcome.PASS),
        ("permissions: {}\n", Outcome.PASS),
        ("", Outcome.FAIL),
        ("permissions: write-all\n", Outcome.FAIL),
        ("permissions:\n  contents: write\n", Outcome.FAIL),
    ],
)
def test_sc502_top_level_permissions(tmp_path: Path, permissions: str, expected: Outcome) -> None:
    text = f"on: push\n{permissions}jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: make\n"
    assert_outcome(workflow_repo(tmp_path, text), "SC502", expected)


def test_sc502_accepts_per_job_permissions_and_scores_a_mix(tmp_path: Path) -> None:
    scoped = "on: push\njobs:\n  a:\n    permissions:\n      contents: write\n    steps: []\n"
    open_ = "on: push\njobs:\n  a:\n    steps: []\n"
    assert_outcome(workflow_repo(tmp_path, scoped, name="one"), "SC502", Outcome.PASS)
    item = check_result(workflow_repo(tmp_path, scoped, open_, name="two"), "SC502")
    assert item.outcome is Outcome.PARTIAL and item.result.score == 0.5
    assert "w1.yml has no top-level permissions" in item.result.message


def test_sc503_fails_on_a_pull_request_target_checkout_of_the_head(tmp_path: Path) -> None:
    text = f"""\
on: pull_request_target
permissions: read-all
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@{SHA}
        with:
          ref: ${{{{ github.event.pull_request.head.sha }}}}
      - run: make test
"""
    item = check_result(workflow_repo(tmp_path, text), "SC503")
    assert item.outcome is Outcome.FAIL
    assert "pull_request_target checks out the pull request" in item.result.message
    assert (".github/workflows/w0.yml", 9) in item.result.locations


def test_sc503_fails_on_script_injection(tmp_path: Path) -> None:
    text = """\
on: issues
permissions: read-all
jobs:
  triage:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "triaging"
          echo "${{ github.event.issue.title }}"
      - uses: actions/github-script@v7
        with:
          script: console.log("${{ github.head_ref }}")
"""
    item = check_result(workflow_repo(tmp_path, text), "SC503")
    assert item.outcome is Outcome.FAIL
    assert "github.event.issue.title" in item.result.message
    assert "github.head_ref" in item.result.message
    assert (".github/workflows/w0.yml", 9) in item.result.locations


def test_sc503_allows_pull_request_target_without_the_head(tmp_path: Path) -> None:
    text = "on: pull_request_target\njobs:\n  label:\n    steps:\n      - uses: actions/labeler@v5"
    assert_outcome(workflow_repo(tmp_path, text), "SC503", Outcome.PASS)


def test_sc504_scores_unpinned_actions(tmp_path: Path) -> None:
    steps = f"      - uses: actions/checkout@{SHA}\n      - uses: actions/setup-python@v5\n"
    text = f"on: push\njobs:\n  a:\n    steps:\n{steps}"
    item = check_result(workflow_repo(tmp_path, text, name="mixed"), "SC504")
    assert item.outcome is Outcome.PARTIAL and item.result.score == 0.5
    assert "actions/setup-python@v5" in item.result.message
    assert (".github/workflows/w0.yml", 6) in item.result.locations
    unpinned = "on: push\njobs:\n  a:\n    uses: org/wf/.github/workflows/x.yml@main\n"
    item = check_result(workflow_repo(tmp_path, unpinned, name="tags"), "SC504")
    assert item.outcome is Outcome.FAIL
    docker = "on: push\njobs:\n  a:\n    steps:\n      - uses: docker://alpine:3.20\n"
    assert_outcome(workflow_repo(tmp_path, docker, name="docker"), "SC504", Outcome.FAIL)


def test_sc504_covers_local_composite_actions(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {
            ".github/workflows/ci.yml": GOOD_WORKFLOW,
            ".github/actions/setup/action.yml": (
                "runs:\n  using: composite\n  steps:\n    - uses: actions/cache@v4\n"
            ),
        },
    )
    item = check_result(repo, "SC504")
    assert item.outcome is Outcome.PARTIAL
    assert ".github/actions/setup/action.yml: actions/cache@v4" in item.result.message


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repository whose workflow and DVC config the fuzz tests rewrite in place."""
    return make_repo(
        tmp_path_factory.mktemp("fuzz") / "r",
        {".github/workflows/ci.yml": GOOD_WORKFLOW, ".dvc/config": "[core]\n"},
        author="Fuzz <fuzz@client.example>",
    )


_YAMLISH = st.sampled_from(
    [
        "on:",
        " push",
        "permissions:",
        " write-all",
        " read",
        "jobs:",
        "  a:",
        "    steps:",
        "      - uses:",
        " actions/checkout@v4",
        "      - run:",
        " echo ${{ github.head_ref }}",
        "        with:",
        "          ref:",
        " ${{ github.event.pull_request.head.sha }}",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ": ",
        "\n",
        "  ",
        "null",
        "42",
        "'",
        '"',
        "&a",
        "*a",
        "!!binary",
        "pull_request_target",
        "uses: 7",
        "steps: 3",
        "jobs: []",
    ]
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_YAMLISH, max_size=40).map("".join) | st.text(max_size=300))
def test_workflow_checks_never_crash(fuzz_repo: Path, text: str) -> None:
    (fuzz_repo / ".github/workflows/ci.yml").write_text(text, encoding="utf-8")
    for check_id in ("SC502", "SC503", "SC504"):
        item = check_result(fuzz_repo, check_id)
        assert "internal error" not in item.result.message, item.result.message


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(
            [
                "[core]",
                "['remote \"s\"']",
                "url = s3://b",
                "password = x",
                "key",
                "=",
                "\n",
                "[",
                "]",
                " ",
                "access_key_id = AK",
                "%(x)s",
                "\x00",
                "é",
            ]
        ),
        max_size=30,
    ).map("".join)
)
def test_sc507_never_crashes_on_a_dvc_config(fuzz_repo: Path, text: str) -> None:
    (fuzz_repo / ".dvc/config").write_text(text, encoding="utf-8")
    item = check_result(fuzz_repo, "SC507")
    assert "internal error" not in item.result.message, item.result.message
    assert item.outcome in (Outcome.PASS, Outcome.FAIL, Outcome.UNKNOWN)


# --- SC505 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/churn.git", ("acme", "churn")),
        ("https://x-access-token:abc@github.com/acme/churn", ("acme", "churn")),
        ("git@github.com:acme/churn.git", ("acme", "churn")),
        ("ssh://git@github.com/acme/churn.git", ("acme", "churn")),
        ("https://gitlab.com/acme/churn.git", None),
        ("https://github.com.evil.example/acme/churn", None),
        (None, None),
    ],
)
def test_github_repository(url: str | None, expected: tuple[str, str] | None) -> None:
    assert github_repository(url) == expected


@pytest.fixture
def github_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    repo = make_repo(tmp_path / "r", {"README.md": "x\n"})
    git(repo, "remote", "add", "origin", "https://github.com/acme/churn.git")
    return repo


def test_sc505_is_unknown_offline_without_token_or_github(
    tmp_path: Path, github_repo: Path
) -> None:
    token = {"GITHUB_TOKEN": "t"}
    assert "offline" in assert_outcome(github_repo, "SC505", Outcome.UNKNOWN, environ=token)
    message = assert_outcome(github_repo, "SC505", Outcome.UNKNOWN, offline=False, environ={})
    assert "GITHUB_TOKEN" in message and "GH_TOKEN" in message
    other = make_repo(tmp_path / "other", {"README.md": "x\n"})
    git(other, "remote", "add", "origin", "https://u:pw@gitlab.example/acme/churn.git")
    message = assert_outcome(other, "SC505", Outcome.UNKNOWN, offline=False, environ=token)
    assert "not on github.com" in message and "pw@" not in message


class _FakeGitHub(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, object]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, {"message": "Not Found"}))
        if self.headers.get("Authorization") != "Bearer test-token":
            status, body = 401, {"message": "Bad credentials"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_github() -> Iterator[tuple[str, dict[str, tuple[int, object]]]]:
    routes: dict[str, tuple[int, object]] = {"/repos/acme/churn": (200, {"default_branch": "main"})}
    handler = type("Handler", (_FakeGitHub,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", routes
    server.shutdown()
    server.server_close()


RULES = "/repos/acme/churn/rules/branches/main"
PROTECTION = "/repos/acme/churn/branches/main/protection"


@pytest.mark.parametrize(
    ("routes", "expected", "words"),
    [
        (
            {RULES: (200, [
                {"type": "pull_request", "parameters": {"required_approving_review_count": 1}},
                {"type": "non_fast_forward"},
            ])},
            Outcome.PASS, "requires 1 approving review",
        ),
        (
            {RULES: (200, []), PROTECTION: (404, {"message": "Branch not protected"})},
            Outcome.FAIL, "not protected",
        ),
        (
            {RULES: (200, []), PROTECTION: (200, {
                "required_status_checks": {"contexts": ["ci"]},
                "allow_force_pushes": {"enabled": False},
            })},
            Outcome.PARTIAL, "needs no approving review",
        ),
        (
            {RULES: (200, []), PROTECTION: (403, {"message": "Resource not accessible"})},
            Outcome.UNKNOWN, "administration read",
        ),
    ],
)  # fmt: skip
def test_sc505_reads_rulesets_and_branch_protection(
    github_repo: Path, fake_github, routes, expected: Outcome, words: str
) -> None:
    api, table = fake_github
    table.update(routes)
    environ = {"GH_TOKEN": "test-token", "GITHUB_API_URL": api}
    message = assert_outcome(github_repo, "SC505", expected, offline=False, environ=environ)
    assert words in message


def test_sc505_gives_up_after_the_network_timeout(github_repo: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections are accepted by the kernel and never answered
    try:
        environ = {
            "GITHUB_TOKEN": "test-token",
            "GITHUB_API_URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
        }
        started = time.monotonic()
        message = assert_outcome(
            github_repo, "SC505", Outcome.UNKNOWN, offline=False, environ=environ
        )
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert "did not answer within 5 s" in message
    assert 4.5 <= elapsed < 7.0


# --- SC506, SC507 --------------------------------------------------------------------------


def test_sc506_licence_and_security_policy(tmp_path: Path) -> None:
    both = make_repo(tmp_path / "both", {"LICENSE": "MIT\n", ".github/SECURITY.md": "Mail us.\n"})
    assert_outcome(both, "SC506", Outcome.PASS)
    item = check_result(make_repo(tmp_path / "one", {"LICENSE.md": "MIT\n"}), "SC506")
    assert item.outcome is Outcome.PARTIAL and "SECURITY.md is missing" in item.result.message
    assert_outcome(make_repo(tmp_path / "none", {"README.md": "x\n"}), "SC506", Outcome.FAIL)


DVC_CONFIG = "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://acme-ml/dvc\n"


def test_sc507_passes_on_a_credential_free_config(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {
            ".dvc/config": DVC_CONFIG,
            ".dvc/.gitignore": "/config.local\n",
            "params.yaml": "mlflow:\n  tracking_uri: https://mlflow.acme.example\n",
        },
    )
    (repo / ".dvc/config.local").write_text(f"['remote \"storage\"']\n    password = {PASSWORD}\n")
    assert_outcome(repo, "SC507", Outcome.PASS)


def test_sc507_fails_on_keys_in_the_dvc_config(tmp_path: Path) -> None:
    config = DVC_CONFIG + f"    access_key_id = {AWS_ID}\n    secret_access_key = {AWS_SECRET}\n"
    item = check_result(make_repo(tmp_path / "r", {".dvc/config": config}), "SC507")
    assert item.outcome is Outcome.FAIL
    assert "secret_access_key" in item.result.message and AWS_SECRET not in item.result.message
    assert (".dvc/config", 6) in item.result.locations


def test_sc507_fails_on_a_tracked_config_local_and_a_password_uri(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {
            ".dvc/config": DVC_CONFIG,
            ".dvc/config.local": "['remote \"storage\"']\n    profile = ml\n",
            "params.yaml": f"mlflow:\n  tracking_uri: https://ml:{PASSWORD}@mlflow.acme.com\n",
        },
    )
    message = assert_outcome(repo, "SC507", Outcome.FAIL)
    assert ".dvc/config.local (local credentials) is tracked" in message
    assert "params.yaml:2" in message and PASSWORD not in message


def test_sc507_fails_on_a_malformed_dvc_config(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".dvc/config": "url = s3://no-section\n"})
    assert "not valid" in assert_outcome(repo, "SC507", Outcome.FAIL)


# --- the generated project -----------------------------------------------------------------


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"ci_provider": "gitlab", "dvc_remote": "s3", "mlflow_tracking": "server"},
    ],
)
def test_generated_project_passes_the_security_checks(render, answers: dict) -> None:
    project = render(answers)
    git(project, "init", "-q", "-b", "main")
    commit(project, "generated")
    for check_id in ("RP108", "SC501", "SC502", "SC503", "SC504", "SC507"):
        item = check_result(project, check_id)
        if answers.get("ci_provider") == "gitlab" and check_id in ("SC502", "SC503", "SC504"):
            assert item.outcome is Outcome.NOT_APPLICABLE, (check_id, item.result.message)
        else:
            assert item.outcome is Outcome.PASS, (check_id, item.result.message)


@pytest.mark.parametrize("engine", ["-P", "-E"])
def test_grep_prefilter_works_as_pcre_and_posix_ere(tmp_path: Path, engine: str) -> None:
    """Git without PCRE falls back to -E: the same prefilter must find the same lines."""
    from mlops_handover.audit.history import GREP_PREFILTER

    lines = [f'KEY = "{AWS_ID}"', f"password: {PASSWORD}", f"x = '{GITHUB}'", "nothing here"]
    repo = make_repo(tmp_path / "r", {"a.yaml": "\n".join(lines) + "\n"})
    out = git(repo, "grep", "--cached", "-n", "-i", engine, "-e", GREP_PREFILTER)
    assert [line.split(":")[1] for line in out.splitlines()] == ["1", "2", "3"]


def test_rp108_honours_a_threshold_below_one_megabyte(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {
            "pyproject.toml": "[tool.handover.audit.thresholds]\nmax-file-size-mb = 0.5\n",
            "data/sample.csv": "1,2,3\n" * 100_000,  # 600 kB
        },
    )
    assert "data/sample.csv" in assert_outcome(repo, "RP108", Outcome.FAIL)
