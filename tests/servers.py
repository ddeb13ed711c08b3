"""Real servers on loopback for the team-setup tests: PostgreSQL, an S3 endpoint, MLflow.

- PostgreSQL from the machine's binaries: `initdb` with a password (scram-sha-256) and `pg_ctl`,
  run as a non-root user (PostgreSQL refuses root; as root the tests run it as `postgres`).
- S3: moto's server mode (`moto_server`), a separate process speaking the S3 API.
- MLflow: the generated project's own `deploy/mlflow/start-server.sh`, so the script ops would
  run is the one under test: `mlflow db upgrade`, then `mlflow server --app-name basic-auth`
  on PostgreSQL with artifacts proxied to the bucket.

Each server is a context manager that stops its processes and removes its files on exit.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "handover-test-key",
    "AWS_SECRET_ACCESS_KEY": "handover-test-secret-9f2c",
    "AWS_DEFAULT_REGION": "us-east-1",
    # moto checks no request checksums; real S3-compatible stores may reject botocore's default.
    "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
}


def postgres_bin() -> Path | None:
    """The directory of `initdb` and `pg_ctl`: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    if found := shutil.which("pg_ctl"):
        bindir = Path(found).resolve().parent  # /usr/local/bin/pg_ctl may link into the real one
        if all((bindir / tool).exists() for tool in ("initdb", "createdb")):
            return bindir
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready, what: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll `ready()` until true; fail with the process's exit status if it died first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready")
        with contextlib.suppress(OSError, urllib.error.URLError):
            if ready():
                return
        time.sleep(0.25)
    raise TimeoutError(f"{what} was not ready within {timeout:.0f} s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process group (the server and its workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with a password-protected superuser."""

    bindir: Path
    user: str = "mlflow"
    password: str = "pg-test-password-7d1e"
    port: int = field(default_factory=free_port)
    root: Path = field(init=False)

    def _as_owner(self, *args: str | os.PathLike[str]) -> list[str]:
        """Run as a non-root user: PostgreSQL refuses to start as root."""
        command = [str(a) for a in args]
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def _run(self, *args: str | os.PathLike[str]) -> None:
        env = {**os.environ, "PGPASSWORD": self.password}
        result = subprocess.run(
            self._as_owner(*args), env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr}"
                f"\n{log_tail(self.root / 'postgres.log')}"
            )

    def __enter__(self) -> Postgres:
        self.root = Path(tempfile.mkdtemp(prefix="handover-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            self._run(
                self.bindir / "initdb",
                "--pgdata", self.root / "data",
                "--username", self.user,
                "--pwfile", pwfile,
                "--auth", "scram-sha-256",
                "--no-sync",
                "--encoding", "UTF8",
            )  # fmt: skip
            self._run(
                self.bindir / "pg_ctl",
                "--pgdata", self.root / "data",
                "--log", self.root / "postgres.log",
                "--wait",
                "--options", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}",
                "start",
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def createdb(self, name: str) -> None:
        self._run(
            self.bindir / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name
        )

    def uri(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(self.bindir / "pg_ctl", "--pgdata", self.root / "data", "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class S3Server:
    """moto's S3 server on 127.0.0.1, a separate process, with keys the tests hand to clients."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> S3Server:
        moto = BIN / "moto_server"
        self.process = subprocess.Popen(
            [
                str(moto if moto.exists() else "moto_server"),
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(lambda: http_ok(f"{self.endpoint}/moto-api/"), "moto_server", 30, self.process)
        return self

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_KEYS["AWS_DEFAULT_REGION"],
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under the prefix (paginated)."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_group(self.process)


@dataclass
class MlflowServer:
    """`deploy/mlflow/start-server.sh` of a generated project, on 127.0.0.1 with basic auth."""

    script: Path
    settings: Mapping[str, str]
    admin_password: str = "admin-test-password-41"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    state: Path = field(init=False)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        env.update(S3_KEYS)
        env.update(
            {
                "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
                "MLFLOW_ENV_FILE": os.devnull,  # settings from this environment only
                "MLFLOW_PYTHON": sys.executable,
                "MLFLOW_PORT": str(self.port),
                "MLFLOW_WORKERS": "2",
                "MLFLOW_STATE_DIR": str(self.state),
                "MLFLOW_AUTH_ADMIN_PASSWORD": self.admin_password,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key-for-sessions",
                "MLFLOW_DISABLE_TELEMETRY": "true",
                # As .env.example has it: the GenAI job runner costs 7 processes and ~1.4 GB.
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                **self.settings,
            }
        )
        return env

    def __enter__(self) -> MlflowServer:
        self.state = Path(tempfile.mkdtemp(prefix="handover-mlflow-"))
        log = self.state / "server.log"
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                ["bash", str(self.script)],
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(lambda: http_ok(f"{self.uri}/health"), "mlflow server", 120, self.process)
        except (RuntimeError, TimeoutError) as error:
            self.__exit__()
            raise RuntimeError(f"{error}\n{log_tail(log)}") from error
        return self

    def request(self, method: str, path: str, body: Mapping | None = None) -> dict:
        """One REST call as the admin; the parsed JSON answer."""
        token = base64.b64encode(f"admin:{self.admin_password}".encode()).decode()
        request = urllib.request.Request(
            f"{self.uri}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        return json.loads(text) if text else {}

    def create_user(self, username: str, password: str) -> None:
        self.request(
            "POST", "/api/2.0/mlflow/users/create", {"username": username, "password": password}
        )

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_group(self.process)
        shutil.rmtree(self.state, ignore_errors=True)


@contextlib.contextmanager
def mlflow_stack(
    script: Path, bindir: Path, bucket: str
) -> Iterator[tuple[Postgres, S3Server, MlflowServer]]:
    """PostgreSQL + moto + the MLflow server on them, artifacts under s3://BUCKET/mlflow."""
    with Postgres(bindir) as pg, S3Server() as s3:
        pg.createdb("mlflow")
        pg.createdb("mlflow_auth")
        s3.create_bucket(bucket)
        settings = {
            "MLFLOW_BACKEND_STORE_URI": pg.uri("mlflow"),
            "MLFLOW_AUTH_DATABASE_URI": pg.uri("mlflow_auth"),
            "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{bucket}/mlflow",
            "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
        }
        with MlflowServer(script, settings) as server:
            yield pg, s3, server
