"""CI and pre-commit files of the generated repository, checked with the real tools.

Each answer set is rendered once with Copier's API (tasks skipped: only the files matter here).
The rendered files then go through actionlint, zizmor (offline), GitLab's CI schema and
`pre-commit validate-config`, and the shell steps that decide whether the pipeline can run are
executed against the rendered `.dvc/config` with the real `dvc`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from copier.errors import DirtyLocalWarning

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GITHUB_CI = Path(".github/workflows/ci.yml")
GITLAB_CI = Path(".gitlab-ci.yml")
PRE_COMMIT = Path(".pre-commit-config.yaml")
DEPENDABOT = Path(".github/dependabot.yml")
HOOKS_MANIFEST = ROOT / ".pre-commit-hooks.yaml"
#: The step of every GitHub job that installs the README's locked environment.
INSTALL_STEP = "Install the locked environment"

INDEX = "https://pypi.acme.example/simple/"
# The answer sets: every CI provider, the DVC remotes (a local directory, S3 behind a custom
# endpoint, GCS, Azure, SSH) and both MLflow set-ups, in a handful of renders.
COMBOS: dict[str, dict[str, Any]] = {
    "github-local": {"ci_provider": "github"},
    "github-s3-endpoint-server": {
        "ci_provider": "github",
        "dvc_remote": "s3",
        "dvc_s3_endpoint_url": "https://s3.acme.example",
        "mlflow_tracking": "server",
        "python_version": "3.12",
    },
    "github-gcs": {"ci_provider": "github", "dvc_remote": "gcs", "python_version": "3.13"},
    "github-azure": {"ci_provider": "github", "dvc_remote": "azure"},
    "github-ssh": {"ci_provider": "github", "dvc_remote": "ssh"},
    "gitlab-local-server": {"ci_provider": "gitlab", "mlflow_tracking": "server"},
    "gitlab-s3-endpoint": {
        "ci_provider": "gitlab",
        "dvc_remote": "s3",
        "dvc_s3_endpoint_url": "https://s3.acme.example",
        "python_version": "3.13",
    },
    "gitlab-gcs": {"ci_provider": "gitlab", "dvc_remote": "gcs"},
    "gitlab-ssh": {"ci_provider": "gitlab", "dvc_remote": "ssh"},
    "none-s3": {"ci_provider": "none", "dvc_remote": "s3"},
    # `handover` from the client's own package index: its login reaches CI from secrets.
    "github-index": {"ci_provider": "github", "handover_source": INDEX},
    "gitlab-index": {"ci_provider": "gitlab", "handover_source": INDEX},
}
GITHUB = [name for name, data in COMBOS.items() if data["ci_provider"] == "github"]
GITLAB = [name for name, data in COMBOS.items() if data["ci_provider"] == "gitlab"]
WITH_CI = GITHUB + GITLAB


def answers(name: str) -> dict[str, Any]:
    """The answers of a combo, with the defaults the checks compare against filled in."""
    return {"python_version": "3.11", "dvc_remote": "local", **COMBOS[name]}


@cache
def _render(name: str, base: str) -> Path:
    dst = Path(base) / name
    with warnings.catch_warnings():
        # The template is this working tree, uncommitted changes included on purpose.
        warnings.simplefilter("ignore", DirtyLocalWarning)
        copier.run_copy(
            str(ROOT),
            str(dst),
            data=COMBOS[name],
            defaults=True,
            vcs_ref="HEAD",
            unsafe=True,
            quiet=True,
            skip_tasks=True,
        )
    return dst


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("rendered")
    return lambda name: _render(name, str(base))


def tool(name: str) -> str:
    """A tool installed next to this interpreter (the project's test environment)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: install the test extra")
    return str(path)


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, check=False, timeout=300, env=env
    )


def zizmor(path: Path, cwd: Path, persona: str = "regular") -> subprocess.CompletedProcess:
    """zizmor, offline, on one file: its JSON findings in stdout."""
    return run(
        tool("zizmor"), "--offline", "--no-progress", "--persona", persona, "--format", "json",
        str(path), cwd=cwd,
    )  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def ci_file(name: str) -> Path:
    return GITHUB_CI if COMBOS[name]["ci_provider"] == "github" else GITLAB_CI


# --- which files exist ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMBOS))
def test_ci_files_follow_the_provider(render, name: str) -> None:
    project = render(name)
    provider = COMBOS[name]["ci_provider"]
    assert (project / PRE_COMMIT).is_file()
    assert (project / GITHUB_CI).is_file() == (provider == "github")
    assert (project / GITLAB_CI).is_file() == (provider == "gitlab")
    assert (project / DEPENDABOT).is_file() == (provider == "github")
    assert (project / "SECURITY.md").is_file()
    if provider != "github":
        assert not (project / ".github").exists()
    # No half-rendered names or leftovers of the conditional-file mechanics.
    for path in project.rglob("*"):
        assert "{" not in path.name and '"' not in path.name, path
        assert not path.name.endswith(".jinja"), path


# --- GitHub Actions -------------------------------------------------------------------------


@pytest.mark.parametrize("name", GITHUB)
def test_actionlint_passes(render, name: str) -> None:
    project = render(name)
    result = run(tool("actionlint"), "-no-color", str(GITHUB_CI), cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("name", GITHUB)
def test_zizmor_finds_nothing(render, name: str) -> None:
    project = render(name)
    result = zizmor(GITHUB_CI, project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("name", ["github-s3-endpoint-server", "github-ssh"])
def test_zizmor_auditor_reports_only_the_known_secrets_note(render, name: str) -> None:
    """At the auditor persona (the strictest), the one finding is secrets-outside-env.

    Scoping the DVC remote's secrets to a GitHub deployment environment is the client's call
    (it adds deployment records to every pull request); repository secrets read by one step
    are the default. Any other finding fails here.
    """
    project = render(name)
    result = zizmor(GITHUB_CI, project, "auditor")
    findings = {finding["ident"] for finding in json.loads(result.stdout)}
    assert findings <= {"secrets-outside-env"}, result.stdout


@pytest.mark.parametrize("name", GITHUB)
def test_every_action_is_pinned_to_a_commit(render, name: str) -> None:
    project = render(name)
    text = (project / GITHUB_CI).read_text(encoding="utf-8")
    uses_lines = [line.strip() for line in text.splitlines() if re.match(r"\s*-?\s*uses:", line)]
    assert uses_lines, "the workflow uses no action at all?"
    for line in uses_lines:
        assert re.fullmatch(r"-?\s*uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), (
            f"not pinned to a full commit SHA with a # vX.Y.Z comment: {line}"
        )
    # Few actions: checkout and setup-python, nothing else.
    actions = {re.search(r"uses: ([^@]+)@", line)[1] for line in uses_lines}
    assert actions == {"actions/checkout", "actions/setup-python"}


@pytest.mark.parametrize("name", GITHUB)
def test_github_workflow_is_least_privilege(render, name: str) -> None:
    project = render(name)
    workflow = load(project / GITHUB_CI)
    assert workflow["permissions"] == {"contents": "read"}
    assert "group" in workflow["concurrency"]
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    assert "pull_request_target" not in triggers and "workflow_run" not in triggers
    for job_name, job in workflow["jobs"].items():
        for scope, level in (job.get("permissions") or {}).items():
            assert level != "write", f"{job_name} asks for {scope}: write"
        for step in job["steps"]:
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            if uses.startswith("actions/setup-python@"):
                assert step["with"] == {"python-version": answers(name)["python_version"]}


@pytest.mark.parametrize("name", GITHUB)
def test_secrets_reach_only_step_environments(render, name: str) -> None:
    """A secret is read in a step's `env:`, never expanded into a script or a job."""
    project = render(name)
    workflow = load(project / GITHUB_CI)
    text = (project / GITHUB_CI).read_text(encoding="utf-8")
    for job in workflow["jobs"].values():
        assert "secrets." not in json.dumps({k: v for k, v in job.items() if k != "steps"})
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step["name"]
            for key, value in (step.get("env") or {}).items():
                if "secrets." in str(value):
                    assert value == f"${{{{ secrets.{key} }}}}", (key, value)
    expected = {
        "local": set(),
        "s3": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
        "gcs": {"GCP_SERVICE_ACCOUNT_KEY"},
        "azure": {"AZURE_STORAGE_CONNECTION_STRING"},
        "ssh": {"DVC_SSH_PRIVATE_KEY", "DVC_SSH_KNOWN_HOSTS"},
    }[answers(name)["dvc_remote"]]
    if COMBOS[name].get("handover_source") == INDEX:
        expected |= {"PACKAGE_INDEX_USERNAME", "PACKAGE_INDEX_PASSWORD"}
    assert set(re.findall(r"secrets\.(\w+)", text)) == expected


def test_index_login_goes_to_netrc_from_the_environment_only(render, tmp_path: Path) -> None:
    """The install step's script, run with the secrets set: ~/.netrc gets the index's login
    (mode 600); without them nothing is written, and the lock names the index."""
    project = render("github-index")
    step = next(
        s for s in load(project / GITHUB_CI)["jobs"]["lint"]["steps"] if s["name"] == INSTALL_STEP
    )
    netrc_part = step["run"].split("python -m pip install")[0]
    for login, expected in ((("ci-reader", "s3cr3t-value"), True), (("", ""), False)):
        home = tmp_path / f"home-{expected}"
        home.mkdir()
        env = {**os.environ, "HOME": str(home)}
        env |= {"PACKAGE_INDEX_USERNAME": login[0], "PACKAGE_INDEX_PASSWORD": login[1]}
        result = run("bash", "-e", "-c", netrc_part, cwd=project, env=env)
        assert result.returncode == 0, result.stderr
        netrc = home / ".netrc"
        assert netrc.exists() == expected
        if expected:
            assert (
                netrc.read_text()
                == "machine pypi.acme.example login ci-reader password s3cr3t-value\n"
            )
            assert netrc.stat().st_mode & 0o077 == 0
    assert (project / "requirements.lock").read_text().startswith(f"--index-url {INDEX}\n")


@pytest.mark.parametrize("name", GITHUB)
def test_github_jobs_run_lint_tests_and_the_gated_pipeline(render, name: str) -> None:
    project = render(name)
    workflow = load(project / GITHUB_CI)
    jobs = workflow["jobs"]
    assert set(jobs) == {"lint", "test", "audit", "pipeline"}
    assert set(jobs["pipeline"]["needs"]) == {"lint", "test"}
    assert workflow["env"]["DVC_NO_ANALYTICS"] == "1"
    assert workflow["env"]["MLFLOW_DISABLE_TELEMETRY"] == "true"

    def script(job: str) -> str:
        return "\n".join(step.get("run", "") for step in jobs[job]["steps"])

    setup = readme_setup(project)
    for job in ("lint", "audit", "test", "pipeline"):
        install = next(
            s for s in jobs[job]["steps"] if s["name"] == "Install the locked environment"
        )
        lines = install["run"].strip().splitlines()
        uv = """python -m pip install "$(grep -m1 '^uv==' requirements.lock)\""""
        lines = lines[lines.index(uv) :]  # after the index's login, if any
        assert lines[1:-1] == setup, "CI installs the environment as the README says"
        assert lines[-1] == 'echo "$PWD/.venv/bin" >> "$GITHUB_PATH"'
    assert "ruff check" in script("lint") and "ruff format --check" in script("lint")
    assert "pre-commit run --all-files" in script("lint")
    assert "python -m pytest" in script("test")
    pipeline = script("pipeline")
    order = [pipeline.index(cmd) for cmd in ("dvc pull", "dvc status --quiet", "dvc repro")]
    assert order == sorted(order)
    assert "dvc repro --force" in pipeline
    for job, step_name in (("test", "Run pytest"), ("pipeline", "Reproduce")):
        step = next(s for s in jobs[job]["steps"] if s["name"].startswith(step_name))
        assert step["env"]["MLFLOW_TRACKING_URI"] == "sqlite:///${{ runner.temp }}/mlflow.db"
    # The steps after the remote check only run when the data can be pulled.
    gated = [s for s in jobs["pipeline"]["steps"] if "dvc " in s.get("run", "")]
    assert all(s.get("if") == "steps.remote.outputs.shared == 'true'" for s in gated[1:])


# --- GitLab CI ------------------------------------------------------------------------------


def test_gitlab_ci_matches_the_schema(render) -> None:
    """GitLab's CI schema, for every GitLab render at once (one start of the checker)."""
    files = [str(render(name) / GITLAB_CI) for name in GITLAB]
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", *files, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    """The schema check above is not vacuous: a job with an unknown keyword fails it."""
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text("lint:\n  script: [ruff check .]\n  scripts_typo: true\n", encoding="utf-8")
    result = run(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.gitlab-ci",
        str(broken),
        cwd=tmp_path,
    )
    assert result.returncode != 0


@pytest.mark.parametrize("name", GITLAB)
def test_gitlab_jobs_run_lint_tests_and_the_gated_pipeline(render, name: str) -> None:
    project = render(name)
    ci = load(project / GITLAB_CI)
    assert ci["default"]["image"] == f"python:{answers(name)['python_version']}-slim"
    assert ci["stages"] == ["lint", "test", "pipeline"]
    before = "\n".join(ci["default"]["before_script"])
    assert "install -y -qq --no-install-recommends git" in before
    assert "uv pip sync requirements.lock" in before  # the README's setup, checked in full below
    rules = json.dumps(ci["workflow"]["rules"])
    assert "merge_request_event" in rules and "$CI_DEFAULT_BRANCH" in rules
    assert ci["variables"]["DVC_NO_ANALYTICS"] == "1"
    assert ci["variables"]["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert ci["variables"]["UV_CACHE_DIR"].endswith(".cache/uv")
    assert ci["default"]["cache"][0]["key"]["files"] == ["requirements.lock"]

    lint = "\n".join(ci["lint"]["script"])
    assert "ruff check" in lint and "ruff format --check" in lint
    assert "pre-commit run --all-files" in lint
    assert "python -m pytest" in "\n".join(ci["test"]["script"])
    pipeline = ci["pipeline"]
    assert set(pipeline["needs"]) == {"lint", "test"}
    assert pipeline["allow_failure"] == {"exit_codes": [77]}
    script = "\n".join(pipeline["script"])
    order = [script.index(cmd) for cmd in ("dvc pull", "dvc status --quiet", "dvc repro --force")]
    assert order == sorted(order)
    throwaway = 'MLFLOW_TRACKING_URI="sqlite:///$(mktemp -d)/mlflow.db"\nexport MLFLOW_TRACKING_URI'
    assert throwaway in script
    assert throwaway in "\n".join(ci["test"]["script"])


# --- the handover audit in CI ---------------------------------------------------------------


def readme_setup(project: Path) -> list[str]:
    """The generated README's uv setup ("Take over this repository", step 1), without the
    activation of the environment that its first line chains."""
    readme = (project / "README.md").read_text(encoding="utf-8")
    block = readme.split("### 1. Set up", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    lines[0] = lines[0].removesuffix(" && source .venv/bin/activate")
    return lines


@pytest.mark.parametrize("name", GITHUB)
def test_github_audit_job_gates_on_the_full_history(render, name: str) -> None:
    project = render(name)
    workflow = load(project / GITHUB_CI)
    jobs = workflow["jobs"]
    audit = jobs["audit"]
    assert "permissions" not in audit and "needs" not in audit  # read-only token, runs at once
    checkout = next(s for s in audit["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"persist-credentials": False, "fetch-depth": 0}
    # `handover` comes from the locked environment, as in pre-commit and the README.
    assert any(s["name"] == INSTALL_STEP for s in audit["steps"])
    run_step = next(s for s in audit["steps"] if s["name"].startswith("Audit"))
    lines = run_step["run"].strip().splitlines()
    # The Markdown report goes to the job summary whatever the level; the second run gates on
    # fail-under in pyproject.toml (no --fail-under on the command line to override it).
    assert lines == [
        'handover audit --offline --format markdown --output "$GITHUB_STEP_SUMMARY" '
        "--fail-under L0",
        "handover audit --offline",
    ]
    # The lint job's pre-commit run leaves the audit to this job (its checkout is shallow).
    lint_hooks = next(s for s in jobs["lint"]["steps"] if s["name"] == "pre-commit hooks")
    assert "handover-audit" in lint_hooks["env"]["SKIP"].split(",")


@pytest.mark.parametrize("name", GITLAB)
def test_gitlab_audit_job_gates_on_the_full_history(render, name: str) -> None:
    project = render(name)
    ci = load(project / GITLAB_CI)
    audit = ci["audit"]
    assert audit["stage"] == "lint" and audit["needs"] == []
    assert audit["variables"]["GIT_DEPTH"] == "0"
    # The default before_script installs the locked environment, `handover` included.
    assert "before_script" not in audit
    before = ci["default"]["before_script"]
    setup = readme_setup(project)
    start = before.index(setup[0])
    assert before[start : start + len(setup)] == setup, "CI installs as the README says"
    assert before[start - 1] == """python -m pip install "$(grep -m1 '^uv==' requirements.lock)\""""
    assert before[start + len(setup)] == 'export PATH="$CI_PROJECT_DIR/.venv/bin:$PATH"'
    assert audit["script"] == [
        "handover audit --offline --format markdown --output handover-audit.md --fail-under L0",
        "handover audit --offline",
    ]
    assert audit["artifacts"]["paths"] == ["handover-audit.md"]
    assert audit["artifacts"]["when"] == "always"
    lint = "\n".join(ci["lint"]["script"])
    assert "SKIP=ruff-check,ruff-format,handover-audit pre-commit run" in lint


def test_dependabot_config_is_clean_for_zizmor(render) -> None:
    """Dependabot updates pip and the pinned actions, with a cooldown (zizmor's auditor)."""
    project = render("github-local")
    config = load(project / DEPENDABOT)
    assert config["version"] == 2
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(ecosystems) == {"pip", "github-actions"}
    assert all(u["directory"] == "/" for u in ecosystems.values())
    result = zizmor(DEPENDABOT, project, "auditor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def _audit_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def _set_fail_under(project: Path, level: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    text, count = re.subn(r'(?m)^fail-under = "L\d"$', f'fail-under = "{level}"', text)
    assert count == 1, "pyproject.toml has no fail-under line"
    pyproject.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(("level", "code"), [("L0", 0), ("L4", 1)])
def test_github_audit_step_runs_and_fails_below_the_level(
    render, tmp_path: Path, level: str, code: int
) -> None:
    """The audit step's own script, with the installed `handover`, on a committed project.

    A project rendered without its post-copy setup is far from L4 owned, and at least L0: the
    job fails only below the level in pyproject.toml, and the summary is written either way.
    """
    import shutil

    project = tmp_path / "project"
    shutil.copytree(render("github-local"), project)
    _set_fail_under(project, level)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "generated"]):
        run("git", *args, cwd=project)
    steps = load(project / GITHUB_CI)["jobs"]["audit"]["steps"]
    step = next(step for step in steps if step["name"].startswith("Audit"))
    result = run("bash", "-e", "-c", step["run"], cwd=project, env=_audit_env(tmp_path))
    assert result.returncode == code, result.stdout + result.stderr
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary.lstrip().startswith("#") and "RP101" in summary
    if code:
        assert f"is below the required {level}" in result.stderr


# --- both providers -------------------------------------------------------------------------

CREDENTIAL_LITERALS = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AccountKey=[A-Za-z0-9+/=]{20,}"),  # Azure connection strings
    re.compile(r"\"private_key\"\s*:"),  # GCP service account JSON
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),  # user:password@ in a URL
    re.compile(
        r"(?i)\b[\w-]*(secret|password|passwd|token|access_key|api_key)[\w-]*\s*[:=]\s*"
        r"(?!\s*(\$\{\{\s*secrets\.|\"?\$))['\"]?[^\s'\"#]{8,}"
    ),
]


@pytest.mark.parametrize("name", WITH_CI)
def test_no_credential_literals(render, name: str) -> None:
    project = render(name)
    for path in (ci_file(name), PRE_COMMIT):
        for number, line in enumerate((project / path).read_text().splitlines(), start=1):
            if line.lstrip().startswith("#"):
                continue
            for pattern in CREDENTIAL_LITERALS:
                assert not pattern.search(line), f"{path}:{number}: {line}"


def test_credential_patterns_catch_literals() -> None:
    """The patterns above flag real-looking literals, and let secret references through."""
    flagged = [
        "AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "MLFLOW_TRACKING_PASSWORD: hunter2hunter2",
        "url: https://user:pass@s3.acme.example/bucket",
    ]
    allowed = [
        "AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}",
        'if [ -z "$AWS_SECRET_ACCESS_KEY" ]; then',
        "PIP_CACHE_DIR: $CI_PROJECT_DIR/.cache/pip",
    ]
    for line in flagged:
        assert any(p.search(line) for p in CREDENTIAL_LITERALS), line
    for line in allowed:
        assert not any(p.search(line) for p in CREDENTIAL_LITERALS), line


@pytest.mark.parametrize("name", WITH_CI)
def test_pipeline_step_names_the_credentials_of_the_chosen_remote(render, name: str) -> None:
    text = (render(name) / ci_file(name)).read_text(encoding="utf-8")
    remote = answers(name)["dvc_remote"]
    names = {
        "local": [],
        "s3": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        "gcs": ["GCP_SERVICE_ACCOUNT_KEY"]
        if COMBOS[name]["ci_provider"] == "github"
        else ["GOOGLE_APPLICATION_CREDENTIALS"],
        "azure": ["AZURE_STORAGE_CONNECTION_STRING"],
        "ssh": ["DVC_SSH_PRIVATE_KEY", "DVC_SSH_KNOWN_HOSTS"],
    }[remote]
    for variable in names:
        assert variable in text
    if remote == "s3":
        assert "https://s3.acme.example" in text  # where the keys are used, said in a comment
    if remote in ("gcs", "azure"):
        assert "OIDC" in text


# --- the pipeline's remote check, executed ---------------------------------------------------


def _dvc_env(tmp_path: Path) -> dict[str, str]:
    outputs = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_STEP_SUMMARY": tmp_path / "summary"}
    for path in outputs.values():
        path.write_text("", encoding="utf-8")
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        **{key: str(path) for key, path in outputs.items()},
    }


def _github_step(project: Path, name_start: str) -> dict[str, Any]:
    steps = load(project / GITHUB_CI)["jobs"]["pipeline"]["steps"]
    return next(step for step in steps if step["name"].startswith(name_start))


@pytest.mark.parametrize(
    ("name", "shared"), [("github-local", False), ("github-s3-endpoint-server", True)]
)
def test_github_remote_check_skips_only_a_local_remote(
    render, tmp_path: Path, name: str, shared: bool
) -> None:
    project = render(name)
    env = _dvc_env(tmp_path)
    result = run("bash", "-e", "-c", _github_step(project, "Find")["run"], cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    output = (tmp_path / "output").read_text(encoding="utf-8")
    summary = (tmp_path / "summary").read_text(encoding="utf-8")
    assert output == f"shared={'true' if shared else 'false'}\n"
    if shared:
        assert "::warning" not in result.stdout and summary == ""
    else:
        assert "::warning title=Pipeline not run: the DVC remote is local::" in result.stdout
        assert "copier update" in result.stdout and "dvc push" in result.stdout
        assert "Pipeline not run" in summary


def test_github_pull_fails_clearly_without_credentials(render, tmp_path: Path) -> None:
    project = render("github-s3-endpoint-server")
    step = _github_step(project, "Pull")
    env = {**_dvc_env(tmp_path), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    result = run("bash", "-e", "-c", step["run"], cwd=project, env=env)
    assert result.returncode == 1
    assert "::error title=DVC remote credentials missing::" in result.stdout
    assert "AWS_ACCESS_KEY_ID" in result.stdout


@pytest.mark.parametrize(("name", "code"), [("gitlab-local-server", 77), ("gitlab-gcs", 0)])
def test_gitlab_remote_check_exits_77_only_for_a_local_remote(
    render, tmp_path: Path, name: str, code: int
) -> None:
    project = render(name)
    first = load(project / GITLAB_CI)["pipeline"]["script"][0]
    result = run("bash", "-e", "-c", first, cwd=project, env=_dvc_env(tmp_path))
    assert result.returncode == code, result.stdout + result.stderr
    if code == 77:
        assert "WARNING: pipeline not run" in result.stdout


def test_gitlab_pull_fails_clearly_without_credentials(render, tmp_path: Path) -> None:
    project = render("gitlab-gcs")
    check = load(project / GITLAB_CI)["pipeline"]["script"][1]
    env = {**_dvc_env(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": ""}
    result = run("bash", "-e", "-c", check, cwd=project, env=env)
    assert result.returncode == 1
    assert "GOOGLE_APPLICATION_CREDENTIALS" in result.stdout


# --- pre-commit -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["github-local", "none-s3"])
def test_pre_commit_config_is_valid(render, name: str) -> None:
    project = render(name)
    result = run(tool("pre-commit"), "validate-config", str(PRE_COMMIT), cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


def _hooks(config: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {hook["id"]: (repo, hook) for repo in config["repos"] for hook in repo["hooks"]}


def test_hooks_manifest_offers_the_static_audit() -> None:
    """This repository's .pre-commit-hooks.yaml: valid, and the hook audits the whole repository."""
    result = run(tool("pre-commit"), "validate-manifest", str(HOOKS_MANIFEST), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    (hook,) = load(HOOKS_MANIFEST)
    assert hook["id"] == "handover-audit"
    assert hook["entry"] == "handover audit --offline"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False and hook["always_run"] is True


#: The executable of each hook and the locked package that provides it.
HOOK_PACKAGES = {
    "ruff": "ruff",
    "check-yaml": "pre-commit-hooks",
    "check-toml": "pre-commit-hooks",
    "check-json": "pre-commit-hooks",
    "check-added-large-files": "pre-commit-hooks",
    "detect-private-key": "pre-commit-hooks",
    "check-merge-conflict": "pre-commit-hooks",
    "end-of-file-fixer": "pre-commit-hooks",
    "trailing-whitespace-fixer": "pre-commit-hooks",
    "mixed-line-ending": "pre-commit-hooks",
    "check-jsonschema": "check-jsonschema",
    "handover": "mlops-handover",
    "pytest": "pytest",
}


@pytest.mark.parametrize("name", ["github-local", "gitlab-local-server", "none-s3"])
def test_every_hook_runs_from_the_locked_environment(render, name: str) -> None:
    """No hook repository to download: each hook is a locked package's executable."""
    project = render(name)
    config = load(project / PRE_COMMIT)
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    lock = (project / "requirements.lock").read_text(encoding="utf-8")
    for hook_id, (_, hook) in _hooks(config).items():
        if hook["language"] == "fail":
            continue
        assert hook["language"] == "system", hook_id
        executable = hook["entry"].split()[0]
        package = HOOK_PACKAGES[executable]
        assert re.search(rf"(?m)^{re.escape(package)}==", lock), f"{hook_id}: {package} unlocked"
    _, audit = _hooks(config)["handover-audit"]
    assert audit["entry"] == "handover audit --offline"
    assert audit["pass_filenames"] is False and audit["always_run"] is True


def test_hook_entry_follows_fail_under(render, tmp_path: Path) -> None:
    """The audit hook's entry, run as pre-commit would, in a rendered and committed project.

    The exit code follows `fail-under` in pyproject.toml: 0 at L0, 1 at L4 (a project rendered
    without its post-copy setup and never run is far from owned). The level a real project
    reaches at each stage is tested in test_audit_stages.py.
    """
    import shutil

    project = tmp_path / "project"
    shutil.copytree(render("none-s3"), project)
    _, hook = _hooks(load(project / PRE_COMMIT))["handover-audit"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "generated"]):
        run("git", *args, cwd=project)
    env = _audit_env(tmp_path)
    _set_fail_under(project, "L0")
    assert run("bash", "-c", hook["entry"], cwd=project, env=env).returncode == 0
    _set_fail_under(project, "L4")
    result = run("bash", "-c", hook["entry"], cwd=project, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "below the required L4 owned" in result.stderr


def test_pre_commit_hooks_and_their_arguments(render) -> None:
    hooks = _hooks(load(render("github-local") / PRE_COMMIT))
    for hook_id in (
        "ruff-check", "ruff-format", "check-yaml", "check-toml", "check-json",
        "check-added-large-files", "detect-private-key", "check-merge-conflict",
        "end-of-file-fixer", "trailing-whitespace", "mixed-line-ending",
    ):  # fmt: skip
        assert hook_id in hooks, hook_id
    assert "--fix" in hooks["ruff-check"][1]["entry"].split()
    assert hooks["check-merge-conflict"][1]["entry"].endswith("--assume-in-merge")
    assert hooks["mixed-line-ending"][1]["entry"].endswith("--fix=lf")
    rej = hooks["no-rej-files"]
    assert rej[1]["language"] == "fail"
    assert re.search(rej[1]["files"], "src/pkg/train.py.rej")


def test_signoffs_hook_runs_check_jsonschema_on_the_signoffs(render) -> None:
    """The hook's own entry, run with the real check-jsonschema, accepts the generated file."""
    project = render("github-local")
    _, hook = _hooks(load(project / PRE_COMMIT))["check-jsonschema"]
    signoffs = "docs/handover/signoffs.yaml"
    assert re.search(hook["files"], signoffs) and not re.search(hook["files"], "dvc.yaml")
    result = run(tool(hook["entry"].split()[0]), *hook["entry"].split()[1:], signoffs, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fixers_leave_machine_written_files_alone(render) -> None:
    """DVC's outputs and lock, and Copier's answers, must not be rewritten by the fixers."""
    hooks = _hooks(load(render("github-local") / PRE_COMMIT))
    machine_written = [
        "dvc.lock",
        "metrics.json",
        "plots/predictions.csv",
        "models/train.json",
        "data/raw/breast_cancer.csv.dvc",
        ".dvc/config",
        ".copier-answers.yml",
    ]
    ours = ["src/demo_model/train.py", "dvc.yaml", "params.yaml", "README.md", "docs/metrics.md"]
    for hook_id in ("end-of-file-fixer", "trailing-whitespace", "mixed-line-ending"):
        exclude = hooks[hook_id][1]["exclude"]
        for path in machine_written:
            assert re.search(exclude, path), (hook_id, path)
        for path in ours:
            assert not re.search(exclude, path), (hook_id, path)


@pytest.mark.parametrize("name", ["github-s3-endpoint-server", "gitlab-local-server", "gitlab-gcs"])
def test_ci_tracks_to_a_throwaway_store_even_with_a_server(render, name: str) -> None:
    """CI never needs MLflow credentials: the server is only named, in a comment."""
    text = (render(name) / ci_file(name)).read_text(encoding="utf-8")
    server = COMBOS[name].get("mlflow_tracking") == "server"
    assert ("https://mlflow.acme.example" in text) == server
    for line in text.splitlines():
        if "mlflow.acme.example" in line or "MLFLOW_TRACKING_PASSWORD" in line:
            assert line.lstrip().startswith("#"), line


# --- a fresh project passes its own lint job -------------------------------------------------


@pytest.mark.parametrize("name", ["github-local", "gitlab-s3-endpoint"])
def test_fresh_project_passes_the_lint_job(render, name: str, tmp_path: Path) -> None:
    """The lint job's commands, on a project straight from the template, committed.

    Ruff and every pre-commit hook run for real from this environment, as they run from the
    project's own (the hooks are local: nothing is downloaded). The audit has its own job.
    """
    import shutil

    project = tmp_path / "project"
    shutil.copytree(render(name), project)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "generated"]):
        run("git", *args, cwd=project)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "SKIP": "handover-audit",
    }
    problems = []
    for args in (
        [tool("ruff"), "check", "--no-cache", "."],
        [tool("ruff"), "format", "--check", "--no-cache", "."],
        [tool("pre-commit"), "run", "--all-files", "--show-diff-on-failure"],
    ):
        result = run(*args, cwd=project, env=env)
        if result.returncode != 0:
            problems.append(f"{' '.join(args[1:])}:\n{result.stdout}{result.stderr}")
    assert not problems, "\n".join(problems)
