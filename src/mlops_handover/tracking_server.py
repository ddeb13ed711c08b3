"""Is an MLflow tracking server usable? Three requests that tell the causes apart, in seconds.

MLflow's client retries a server that is down, or whose bucket is gone, for minutes and then
reports a bare retry error. `handover doctor` and `handover new` ask instead: does it answer
(`/health`), does it take the login (an experiment search), can it store artifacts (the proxied
artifact root). Credentials come from the environment only, as MLflow reads them:
MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN; TLS follows
MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping

TIMEOUT = 10.0


class ServerProblem(Exception):
    """The tracking server cannot take runs; the message names the cause and the fix."""


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def redact(uri: str) -> str:
    """The URI without a password (`https://user:***@host`)."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", uri)


def _headers(environ: Mapping[str, str]) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "mlops-handover"}
    if user := environ.get("MLFLOW_TRACKING_USERNAME"):
        login = f"{user}:{environ.get('MLFLOW_TRACKING_PASSWORD', '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
    elif token := environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _tls(uri: str, environ: Mapping[str, str]) -> ssl.SSLContext | None:
    if not uri.startswith("https://"):
        return None
    context = ssl.create_default_context(
        cafile=environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
    )
    if environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def check(uri: str, environ: Mapping[str, str], timeout: float = TIMEOUT) -> str:
    """What the server at `uri` answered, as one line; ServerProblem naming cause and fix."""
    shown = redact(uri)
    base, headers, context = uri.rstrip("/"), _headers(environ), _tls(uri, environ)
    user = environ.get("MLFLOW_TRACKING_USERNAME")

    def get(path: str) -> tuple[int, str]:
        request = urllib.request.Request(base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
                return answer.status, answer.read(65536).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            body = error.read(65536).decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):  # not MLflow's JSON error
                body = str(json.loads(body).get("message") or body)
            return error.code, body.strip()[:300] or str(error.reason)
        except (OSError, ValueError) as error:
            raise ServerProblem(
                f"the MLflow tracking server {shown} does not answer "
                f"({getattr(error, 'reason', error)}): is it running, and is the address right? "
                "It comes from MLFLOW_TRACKING_URI, else `mlflow.tracking_uri` in params.yaml."
            ) from None

    status, text = get("/health")
    if status != 200:
        raise ServerProblem(
            f"the MLflow tracking server {shown} is not healthy: /health answered HTTP {status} "
            f"({text})"
        )
    status, text = get("/api/2.0/mlflow/experiments/search?max_results=1")
    if status == 401 and "Authorization" not in headers:
        raise ServerProblem(
            f"the MLflow tracking server {shown} requires a login: set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD in the environment (never in a file git tracks); "
            "the server's admin creates the account."
        )
    if status == 401:
        raise ServerProblem(
            f"the MLflow tracking server {shown} refused the login of "
            f"{repr(user) if user else 'MLFLOW_TRACKING_TOKEN'} (HTTP 401): check "
            "MLFLOW_TRACKING_PASSWORD (or the token), or ask the server's admin whether the "
            "account still exists."
        )
    if status == 403:
        raise ServerProblem(
            f"the MLflow tracking server {shown} does not let {user or 'this token'!r} read "
            "experiments (HTTP 403): ask the server's admin for permission."
        )
    if status != 200:
        raise ServerProblem(
            f"the MLflow tracking server {shown} answered HTTP {status} to a search: {text}"
        )
    # A server that proxies artifacts (the default) lists its artifact store here; one started
    # with --no-serve-artifacts answers 503 and the client writes to the store itself.
    status, text = get("/api/2.0/mlflow-artifacts/artifacts")
    if status not in (200, 503):
        raise ServerProblem(
            f"the MLflow tracking server {shown} cannot use its artifact store, so no model can "
            f"be logged: {text} (HTTP {status}). Its operators must create the bucket or fix "
            "the server's --artifacts-destination and storage keys."
        )
    login = f"as {user!r}" if user else ("with a token" if "Authorization" in headers else "")
    artifacts = "proxies artifacts" if status == 200 else "artifacts written by the client"
    return f"{shown} answers{' ' + login if login else ''}; {artifacts}"
