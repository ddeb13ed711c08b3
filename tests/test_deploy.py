"""deploy/mlflow/ of a project on the team's tracking server, checked statically.

No container is built or started here: the compose file is validated against the Compose
specification's schema, and the wiring between compose.yaml, the Dockerfile, start-server.sh,
.env.example and requirements.txt is read from the rendered files. The script itself runs
against real servers in the team-setup tests (tests/servers.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import run, tool

SERVER = {
    "mlflow_tracking": "server",
    "mlflow_tracking_uri": "https://mlflow.acme.example",
    "dvc_remote": "s3",
    "dvc_remote_url": "s3://acme-data/dvc",
    "dvc_s3_endpoint_url": "https://s3.acme.example",
}
# The same server on AWS S3 (no endpoint) with a local DVC remote.
SERVER_AWS = {"mlflow_tracking": "server", "mlflow_tracking_uri": "https://mlflow.acme.example"}
DEPLOY = Path("deploy/mlflow")
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=(\S*)$")


def compose(project: Path) -> dict:
    return yaml.safe_load((project / DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def env_example(project: Path) -> dict[str, str]:
    """The active KEY=value lines of .env.example; anything else but comments fails."""
    values = {}
    for number, line in enumerate((project / DEPLOY / ".env.example").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = ASSIGNMENT.match(line)
        assert match, (
            f".env.example:{number} is not KEY=value (no spaces, quotes or export): {line!r}"
        )
        values[match[1]] = match[2]
    return values


def required_variables(project: Path) -> set[str]:
    """What start-server.sh's `need` lines and compose's `${VAR:?...}` insist on."""
    script = (project / DEPLOY / "start-server.sh").read_text(encoding="utf-8")
    needed = set(re.findall(r"^need ([A-Z_][A-Z0-9_]*)\b", script, re.M))
    text = (project / DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):?\?", text))
    assert needed and interpolated, "found no required variable: did the files change shape?"
    return needed | interpolated


def test_compose_file_follows_the_compose_specification(render) -> None:
    project = render(SERVER)
    run(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        project / DEPLOY / "compose.yaml",
        cwd=project,
    )


def test_compose_upgrades_once_then_serves(render) -> None:
    project = render(SERVER)
    services = compose(project)["services"]
    assert set(services) == {"postgres", "mlflow-upgrade", "mlflow"}
    dockerfile = (project / DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)
    assert entrypoint and yaml.safe_load(entrypoint[1])[0].endswith("/start-server.sh")

    upgrade, server = services["mlflow-upgrade"], services["mlflow"]
    for service in (upgrade, server):
        assert service["build"] == "." and service["env_file"] == ".env"
        # The containers reach PostgreSQL on the compose network, with its credentials.
        environment = service["environment"]
        for key in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_DATABASE_URI"):
            assert environment[key].startswith("postgresql+psycopg://${POSTGRES_USER:?")
            assert "@postgres:5432/" in environment[key]
    assert upgrade["command"] == ["upgrade"]
    assert server["command"] == ["serve"]
    assert server["environment"]["MLFLOW_HOST"] == "0.0.0.0"
    # Migrations run once, after PostgreSQL is up; the workers start only after they succeeded.
    assert upgrade["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert upgrade["restart"] == "no"
    assert server["depends_on"]["mlflow-upgrade"]["condition"] == "service_completed_successfully"
    assert server["restart"] == "unless-stopped"
    assert "/health" in " ".join(server["healthcheck"]["test"])

    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    init = next(v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v)
    sql = project / DEPLOY / init.split(":")[0] / "10-auth-database.sql"
    assert "CREATE DATABASE mlflow_auth;" in sql.read_text(encoding="utf-8")


def test_only_the_server_is_published_and_only_on_loopback(render) -> None:
    services = compose(render(SERVER))["services"]
    published = {name: s.get("ports", []) for name, s in services.items() if s.get("ports")}
    assert list(published) == ["mlflow"]
    for port in published["mlflow"]:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), port


def test_start_script_is_executable_and_parses(render) -> None:
    project = render(SERVER)
    script = project / DEPLOY / "start-server.sh"
    assert script.stat().st_mode & 0o111, "start-server.sh lost its executable bit"
    run("bash", "-n", script, cwd=project)


@pytest.mark.parametrize("data", [SERVER, SERVER_AWS], ids=["s3-endpoint", "aws"])
def test_env_example_covers_every_required_variable(render, data: dict) -> None:
    project = render(data)
    values = env_example(project)
    missing = required_variables(project) - set(values)
    assert not missing, f".env.example lacks required variables: {sorted(missing)}"
    # Placeholders that no one mistakes for a secret, and no real-looking secret.
    for key, value in values.items():
        if re.search(r"PASSWORD|SECRET|ACCESS_KEY", key) or key.endswith("_URI"):
            assert "CHANGE-ME" in value, f"{key} in .env.example is not an obvious placeholder"
    assert values["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://demo-model-mlflow/artifacts"
    if data.get("dvc_s3_endpoint_url"):
        assert values["MLFLOW_S3_ENDPOINT_URL"] == data["dvc_s3_endpoint_url"]
    else:
        assert "MLFLOW_S3_ENDPOINT_URL" not in values
    # bash reads the file as start-server.sh does (`set -a; . file`) and gets the same values.
    result = run(
        "env",
        "-i",
        "bash",
        "-c",
        'set -a; . "$0"; set +a; for k in "${@}"; do printf "%s=%s\\n" "$k" "${!k}"; done',
        project / DEPLOY / ".env.example",
        *values,
        cwd=project,
    )
    assert dict(line.split("=", 1) for line in result.stdout.splitlines()) == values


def test_real_env_file_is_ignored_and_the_example_is_not(render) -> None:
    project = render(SERVER)
    (project / DEPLOY / ".env").write_text("MLFLOW_AUTH_ADMIN_PASSWORD=not-for-git-123\n")
    run("git", "init", "-q", cwd=project)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(DEPLOY / ".env")], cwd=project, check=False
    )
    assert ignored.returncode == 0, "deploy/mlflow/.env is not git-ignored"
    example = subprocess.run(
        ["git", "check-ignore", "-q", str(DEPLOY / ".env.example")], cwd=project, check=False
    )
    assert example.returncode == 1, "deploy/mlflow/.env.example is git-ignored"


def test_image_installs_the_projects_mlflow(render) -> None:
    project = render(SERVER)
    dockerfile = (project / DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert re.search(r"^COPY requirements\.txt (\S+)$", dockerfile, re.M)
    assert re.search(r"^RUN pip install -r \S*requirements\.txt$", dockerfile, re.M)
    assert re.search(r"^USER (?!root\b)\S+$", dockerfile, re.M), "the server must not run as root"

    requirements = (project / DEPLOY / "requirements.txt").read_text(encoding="utf-8")
    server = re.search(r"^mlflow\[auth\]==(\S+)$", requirements, re.M)
    lock = re.search(r"^mlflow==(\S+)$", (project / "requirements.lock").read_text(), re.M)
    assert server and lock, "mlflow is not pinned in requirements.txt or requirements.lock"
    assert server[1] == lock[1], "the server's MLflow differs from the project's"
    for package in ("psycopg[binary]", "boto3"):
        assert re.search(rf"^{re.escape(package)}[<>=]", requirements, re.M), package


def test_local_tracking_has_no_deploy_directory(render) -> None:
    assert not (render() / "deploy").exists()


def test_links_in_the_ops_guide_resolve(render) -> None:
    project = render(SERVER)
    readme = project / DEPLOY / "README.md"
    text = re.sub(r"^ *```.*?^ *```", "", readme.read_text(encoding="utf-8"), flags=re.M | re.S)
    targets = [
        target.split("#", 1)[0]
        for target in re.findall(r"\]\(([^)\s]+)\)", text)
        if not re.match(r"[a-z][a-z0-9+.-]*:|#", target)
    ]
    assert len(targets) >= 5, targets
    broken = [target for target in targets if not (readme.parent / target).exists()]
    assert not broken, f"links to missing files in deploy/mlflow/README.md: {broken}"
    assert "https://mlflow.acme.example" in readme.read_text(encoding="utf-8")
