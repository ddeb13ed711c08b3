"""MLflow evidence (`audit/mlflow_store.py`) and the tracking checks RT203, RT206, OP302, OP305,
OW603, proved against stores written by the real mlflow package.

The stores are built once per session in a subprocess (the audit must never import mlflow, and
neither does this test process); the same subprocess reports what `MlflowClient` sees, and the
reader must agree with it. A real `mlflow server` on 127.0.0.1 serves one of them over REST.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from audit_repos import check_result, commit, git, make_repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_handover.audit.config import AuditConfig
from mlops_handover.audit.engine import audit
from mlops_handover.audit.fixtures import AuditOptions, Context
from mlops_handover.audit.mlflow_store import TrackingEvidence, redact
from mlops_handover.audit.model import Outcome, Unavailable

ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
MODEL = "churn"
EXPERIMENT = "churn-exp"
TRACKING = ("RT203", "RT206", "OP302", "OP305")

# Writes the stores with the real mlflow package, then reports what MlflowClient sees.
BUILD = r"""
import json, os, sys, warnings
warnings.filterwarnings("ignore")
import mlflow, mlflow.sklearn, pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

X = pd.DataFrame({"tenure": [1.0, 5.0, 9.0, 12.0, 3.0, 7.0],
                  "spend": [10.0, 3.0, 8.0, 1.0, 4.0, 6.0]})
y = [0, 1, 0, 1, 0, 1]


def build(out, commit, kind):
    os.makedirs(out, exist_ok=True)
    uri = "sqlite:///" + os.path.join(out, "mlflow.db")
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment(
        "churn-exp", artifact_location="file://" + os.path.join(out, "mlruns"))
    mlflow.set_experiment(experiment_id=experiment)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if kind == "good":
        for i in range(2):
            tags = {"mlflow.source.git.commit": commit, "dvc.train_data.md5": "0123abcd" * 4}
            with mlflow.start_run(tags=tags):
                model = LogisticRegression(C=1.0 + i).fit(X, y)
                mlflow.log_metrics({"train_f1": 0.8 + i / 10, "eval_f1": 0.75 + i / 10})
                dataset = mlflow.data.from_pandas(
                    X, source="data/prepared/train.csv", name="train", digest="0123abcd")
                mlflow.log_input(dataset, context="training", tags={"dvc.md5": "0123abcd" * 4})
                info = mlflow.sklearn.log_model(
                    model, name="model", signature=infer_signature(X, model.predict(X)),
                    input_example=X.head(2), pip_requirements=["scikit-learn"])
            mlflow.register_model(info.model_uri, "churn")
        client.set_registered_model_alias("churn", "previous", "1")
        client.set_registered_model_alias("churn", "champion", "2")
        client.create_run(experiment)  # a run still RUNNING beside the finished ones
    else:  # poor: one failed run, one unsigned version without lineage, no alias
        with mlflow.start_run() as run:
            model = LogisticRegression().fit(X, y)
            info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
        client.set_terminated(run.info.run_id, "FAILED")
        mlflow.register_model(info.model_uri, "churn")
    model = client.get_registered_model("churn")
    facts = {"uri": uri, "versions": len(client.search_model_versions("name = 'churn'")),
             "aliases": {k: int(v) for k, v in model.aliases.items()},
             "finished": len(client.search_runs([experiment], "attributes.status = 'FINISHED'"))}
    if kind == "good":
        champion = client.get_model_version_by_alias("churn", "champion")
        run = client.get_run(champion.run_id)
        facts |= {"champion": int(champion.version), "run_id": champion.run_id,
                  "source": champion.source,
                  "commit": run.data.tags.get("mlflow.source.git.commit"),
                  "metrics": run.data.metrics,
                  "datasets": [(d.dataset.name, d.dataset.digest)
                               for d in run.inputs.dataset_inputs]}
    return facts


base, commit = sys.argv[1], sys.argv[2]
print(json.dumps({kind: build(os.path.join(base, kind), commit, kind)
                  for kind in ("good", "poor")}))
"""


def build_stores(base: Path, commit_sha: str) -> dict:
    """The `good` and `poor` stores under `base`, by mlflow in one subprocess (one import)."""
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(base), commit_sha],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


PARAMS = f"""\
mlflow:
  experiment: {EXPERIMENT}
  registered_model: {MODEL}
  tracking_uri: ""
"""


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A project repository and two stores written by mlflow: `good` and `poor`."""
    base = tmp_path_factory.mktemp("tracking")
    repo = make_repo(base / "repo", {"params.yaml": PARAMS, ".gitignore": "mlflow.db\nmlruns/\n"})
    sha = git(repo, "rev-parse", "HEAD")
    facts = build_stores(base, sha)
    return {"base": base, "repo": repo, "sha": sha, **facts}


def project(stores: dict, tmp_path: Path, kind: str, params: str = PARAMS) -> Path:
    """A clone of the project repository with the `kind` store as its ./mlflow.db."""
    path = tmp_path / "project"
    shutil.copytree(stores["repo"], path)
    (path / "params.yaml").write_text(params, encoding="utf-8")
    store = stores["base"] / kind
    shutil.copy(store / "mlflow.db", path / "mlflow.db")
    return path


def evidence(path: Path, environ: dict | None = None, offline: bool = True) -> TrackingEvidence:
    from mlops_handover.audit import config as audit_config

    context = Context(
        root=path.resolve(),
        options=AuditOptions(offline=offline, environ=environ or {}),
        config=audit_config.load(path.resolve()),
    )
    return context.get("mlflow")


def outcomes(path: Path, environ: dict | None = None, offline: bool = True) -> dict:
    report = audit(path, AuditOptions(offline=offline, environ=environ or {}), select=TRACKING)
    return {r.check.id(): r for r in report.results}


# --- the reader agrees with MlflowClient ----------------------------------------------------


def test_sqlite_reader_matches_mlflow_client(stores: dict, tmp_path: Path) -> None:
    facts = stores["good"]
    store = evidence(project(stores, tmp_path, "good"))
    assert store.kind == "sqlite"
    champion = store.champion()
    assert champion is not None
    assert champion.version == facts["champion"]
    assert champion.run_id == facts["run_id"]
    assert champion.source == facts["source"] and champion.source.startswith("models:/m-")
    assert champion.git_commit == facts["commit"] == stores["sha"]
    assert champion.metrics == pytest.approx(facts["metrics"])
    assert [(d.name, d.digest) for d in champion.datasets] == [tuple(d) for d in facts["datasets"]]
    assert champion.datasets[0].context == "training"
    assert champion.datasets[0].source == "data/prepared/train.csv"
    assert len(store.versions()) == facts["versions"] == 2
    assert store.registered_model(MODEL).aliases == facts["aliases"]
    assert champion.signature is True and champion.input_example is True
    assert champion.mlmodel.endswith("/artifacts/MLmodel")
    experiment = store.experiment(EXPERIMENT)
    assert store.runs_count(experiment.experiment_id, "FINISHED") == facts["finished"] == 2
    assert store.runs_count(experiment.experiment_id) == 3


def test_reader_does_not_import_mlflow(stores: dict, tmp_path: Path) -> None:
    path = project(stores, tmp_path, "good")
    code = (
        "import sys; from mlops_handover.audit.engine import audit; "
        "from mlops_handover.audit.fixtures import AuditOptions; "
        f"r = audit({str(path)!r}, AuditOptions(offline=True, environ={{}}), "
        "select=['RT','OP302','OP305','OW603']); "
        "assert 'mlflow' not in sys.modules and 'sqlalchemy' not in sys.modules, 'imported'; "
        "print(sorted(x.outcome.value for x in r.results))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr


def test_store_copied_from_another_machine_finds_its_artifacts(stores: dict, tmp_path) -> None:
    """The store records absolute artifact paths; a copy looks under its own mlruns/."""
    path = project(stores, tmp_path, "good")
    shutil.copytree(stores["base"] / "good" / "mlruns", path / "mlruns")
    db = sqlite3.connect(path / "mlflow.db")
    db.execute("UPDATE model_versions SET storage_location = "
               "replace(storage_location, ?, 'file:///elsewhere/')",
               ("file://" + str(stores["base"] / "good") + "/",))  # fmt: skip
    db.commit()
    db.close()
    champion = evidence(path).champion()
    assert champion.signature is True
    assert champion.mlmodel.startswith(str(path.resolve() / "mlruns"))


# --- the checks on real stores -------------------------------------------------------------


def test_good_store_passes_every_tracking_check(stores: dict, tmp_path: Path) -> None:
    results = outcomes(project(stores, tmp_path, "good"))
    assert {k: r.outcome for k, r in results.items()} == dict.fromkeys(TRACKING, Outcome.PASS)
    assert stores["sha"][:12] in results["RT203"].result.message
    assert "previous' -> version 1" in results["OP302"].result.message
    assert "2 finished runs" in results["RT206"].result.message


def test_poor_store_fails(stores: dict, tmp_path: Path) -> None:
    results = outcomes(project(stores, tmp_path, "poor"))
    rt203 = results["RT203"]
    assert rt203.outcome is Outcome.FAIL and "no 'champion' alias" in rt203.result.message
    assert results["RT206"].outcome is Outcome.FAIL
    assert "none FINISHED" in results["RT206"].result.message
    assert results["OP302"].outcome is Outcome.FAIL
    assert "1 version and no 'previous'" in results["OP302"].result.message
    op305 = results["OP305"]
    assert op305.outcome is Outcome.FAIL
    assert "neither a signature nor an input example" in op305.result.message


def test_champion_commit_missing_from_history_is_partial(stores: dict, tmp_path: Path) -> None:
    path = project(stores, tmp_path, "good")
    # A repository whose history does not hold the training commit (rewritten history).
    shutil.rmtree(path / ".git")
    git(path, "init", "-q", "-b", "main")
    commit(path, "rewritten")
    result = check_result(path, "RT203")
    assert result.outcome is Outcome.PARTIAL
    assert "not in this repository's history" in result.result.message


def test_champion_without_data_version(stores: dict, tmp_path: Path) -> None:
    path = project(stores, tmp_path, "good")
    db = sqlite3.connect(path / "mlflow.db")
    db.execute("DELETE FROM inputs")
    db.execute("DELETE FROM tags WHERE key LIKE '%md5'")
    db.commit()
    db.close()
    result = check_result(path, "RT203")
    assert result.outcome is Outcome.PARTIAL
    assert "no data version" in result.result.message


def test_named_experiment_and_model_missing(stores: dict, tmp_path: Path) -> None:
    params = PARAMS.replace(EXPERIMENT, "other-exp").replace(f": {MODEL}", ": other-model")
    results = outcomes(project(stores, tmp_path, "good", params))
    assert results["RT206"].outcome is Outcome.FAIL
    assert "no experiment 'other-exp'" in results["RT206"].result.message
    assert "churn-exp" in results["RT206"].result.message
    for check in ("RT203", "OP302", "OP305"):
        assert results[check].outcome is Outcome.FAIL
        assert "no registered model 'other-model' (registered: churn)" in (
            results[check].result.message
        )


def test_only_model_in_store_is_used_when_none_is_named(stores: dict, tmp_path: Path) -> None:
    path = project(stores, tmp_path, "good", params="train: {C: 1}\n")
    assert check_result(path, "OP302").outcome is Outcome.PASS
    assert check_result(path, "RT206").outcome is Outcome.PASS


def test_no_store_fails_with_the_reason(tmp_path: Path) -> None:
    """No store anywhere is a finding (nothing was tracked that a client could see), not a gap
    in the evidence: the MLflow checks fail and say where a store would be looked for."""
    path = make_repo(tmp_path / "p", {"params.yaml": PARAMS})
    for check in TRACKING:
        result = check_result(path, check)
        assert result.outcome is Outcome.FAIL
        assert "no MLflow tracking store" in result.result.message
    named = check_result(path, "RT206", environ={"MLFLOW_TRACKING_URI": "sqlite:///gone.db"})
    assert named.outcome is Outcome.FAIL and "does not exist" in named.result.message


def test_tracking_uri_sources_in_order(stores: dict, tmp_path: Path) -> None:
    path = project(stores, tmp_path, "good")
    good_db = stores["base"] / "good" / "mlflow.db"
    (path / "mlflow.db").unlink()
    uri = f"sqlite:///{good_db}"
    (path / "pyproject.toml").write_text(
        f'[tool.handover.audit]\nmlflow-tracking-uri = "{uri}"\n', encoding="utf-8"
    )
    store = evidence(path)
    assert store.uri == uri and "mlflow-tracking-uri" in store.target.source
    with pytest.raises(Unavailable, match=r"elsewhere\.db does not exist"):
        evidence(path, environ={"MLFLOW_TRACKING_URI": "sqlite:///elsewhere.db"})


def test_env_uri_wins(stores: dict, tmp_path: Path) -> None:
    path = project(stores, tmp_path, "good")
    result = check_result(path, "RT206", environ={"MLFLOW_TRACKING_URI": "sqlite:///elsewhere.db"})
    assert result.outcome is Outcome.FAIL
    assert "elsewhere.db does not exist" in result.result.message
    assert "MLFLOW_TRACKING_URI" in result.result.message


def test_file_store_and_other_backends_are_unknown(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "p", {"params.yaml": PARAMS})
    for uri, words in (
        ("./mlruns", "file store"),
        ("file:///tmp/mlruns", "file store"),
        ("postgresql://u:secret@db/mlflow", "postgresql store"),
        ("databricks", "Databricks workspace"),
        ("mlruns", "file store"),
    ):
        result = check_result(path, "RT203", environ={"MLFLOW_TRACKING_URI": uri})
        assert result.outcome is Outcome.UNKNOWN, uri
        assert words in result.result.message
        assert "secret" not in result.result.message


def test_offline_server_is_unknown(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "p", {"params.yaml": PARAMS})
    environ = {"MLFLOW_TRACKING_URI": "https://user:pw@mlflow.client.example"}
    for check in TRACKING:
        result = check_result(path, check, environ=environ, offline=True)
        assert result.outcome is Outcome.UNKNOWN
        assert result.result.message.startswith("offline:")
        assert "pw@" not in result.result.message


def test_redact() -> None:
    assert redact("https://me:s3cret@host/x") == "https://me:***@host/x"
    assert redact("sqlite:////abs/mlflow.db") == "sqlite:////abs/mlflow.db"


# --- a real mlflow server -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(stores: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 over a copy of the good store; torn down afterwards."""
    base = tmp_path_factory.mktemp("server")
    shutil.copy(stores["base"] / "good" / "mlflow.db", base / "mlflow.db")
    port = free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    log = (base / "server.log").open("w")
    process = subprocess.Popen(
        [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}",
         "--artifacts-destination", str(base / "artifacts"), "--workers", "1"],
        cwd=base, env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("mlflow server did not start:\n" + (base / "server.log").read_text())
        time.sleep(0.3)
    try:
        yield url
    finally:
        # The server runs uvicorn workers in its own process group (ours, by its id).
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.mark.slow
def test_server_reader_matches_mlflow_client(stores: dict, server: str, tmp_path: Path) -> None:
    facts = stores["good"]
    path = project(stores, tmp_path, "good")
    (path / "mlflow.db").unlink()
    environ = {"MLFLOW_TRACKING_URI": server}
    store = evidence(path, environ, offline=False)
    assert store.kind == "server"
    champion = store.champion()
    assert champion.version == facts["champion"]
    assert champion.run_id == facts["run_id"]
    assert champion.git_commit == facts["commit"]
    assert champion.metrics == pytest.approx(facts["metrics"])
    assert [(d.name, d.digest) for d in champion.datasets] == [tuple(d) for d in facts["datasets"]]
    assert len(store.versions()) == facts["versions"]
    assert store.registered_model(MODEL).aliases == facts["aliases"]
    assert champion.signature is True and champion.input_example is True, champion.mlmodel_error
    experiment = store.experiment(EXPERIMENT)
    assert store.runs_count(experiment.experiment_id, "FINISHED") == facts["finished"]
    results = outcomes(path, environ, offline=False)
    assert {k: r.outcome for k, r in results.items()} == dict.fromkeys(TRACKING, Outcome.PASS)


@pytest.mark.slow
def test_server_wrong_credentials_and_names(stores: dict, server: str, tmp_path: Path) -> None:
    params = PARAMS.replace(f"registered_model: {MODEL}", "registered_model: nope")
    path = project(stores, tmp_path, "good", params)
    (path / "mlflow.db").unlink()
    environ = {
        "MLFLOW_TRACKING_URI": server,
        "MLFLOW_TRACKING_USERNAME": "u",
        "MLFLOW_TRACKING_PASSWORD": "p",  # a server without auth ignores them
    }
    results = outcomes(path, environ, offline=False)
    assert results["OP302"].outcome is Outcome.FAIL
    assert "no registered model 'nope'" in results["OP302"].result.message
    assert results["RT206"].outcome is Outcome.PASS


# --- servers that misbehave -----------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_silent_server_is_unknown_within_the_timeout(silent_server: str, tmp_path: Path) -> None:
    path = make_repo(tmp_path / "p", {"params.yaml": PARAMS})
    started = time.monotonic()
    results = outcomes(path, {"MLFLOW_TRACKING_URI": silent_server}, offline=False)
    elapsed = time.monotonic() - started
    assert elapsed < 8, f"{elapsed:.1f} s: one dead server must cost one timeout"
    for check in TRACKING:
        assert results[check].outcome is Outcome.UNKNOWN
        assert "did not answer within 5 s" in results[check].result.message


def test_refused_connection_is_unknown(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "p", {"params.yaml": PARAMS})
    result = check_result(
        path, "RT203", environ={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"},
        offline=False,
    )  # fmt: skip
    assert result.outcome is Outcome.UNKNOWN and "did not answer" in result.result.message


class Canned(BaseHTTPRequestHandler):
    """Answers every request with the server's current (status, body, content type)."""

    answer: tuple[int, bytes] = (200, b"{}")

    def _reply(self) -> None:
        status, body = type(self).answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def canned() -> Iterator[tuple[type[Canned], str]]:
    handler = type("Handler", (Canned,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_unauthorised_server(canned, tmp_path: Path) -> None:
    handler, url = canned
    handler.answer = (401, b"")
    path = make_repo(tmp_path / "p", {"params.yaml": PARAMS})
    result = check_result(path, "RT206", environ={"MLFLOW_TRACKING_URI": url}, offline=False)
    assert result.outcome is Outcome.UNKNOWN
    assert "refused access (HTTP 401)" in result.result.message


class Recording(Canned):
    """Canned answers, and the Authorization header of every request kept."""

    seen: ClassVar[list[str | None]] = []

    def _reply(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        super()._reply()

    do_GET = do_POST = _reply


def test_the_auditors_login_goes_only_to_the_server_the_auditor_named(tmp_path: Path) -> None:
    """A repository under audit names a server in params.yaml: the MLFLOW_TRACKING_* login of
    whoever audits is not sent there unless MLFLOW_TRACKING_URI names the same server."""
    handler = type("Handler", (Recording,), {"seen": [], "answer": (401, b"")})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    login = {"MLFLOW_TRACKING_USERNAME": "ana", "MLFLOW_TRACKING_PASSWORD": "s3cret-pw"}
    try:
        params = f"mlflow:\n  experiment: e\n  tracking_uri: {url}\n"
        path = make_repo(tmp_path / "p", {"params.yaml": params})
        result = check_result(path, "RT206", environ=login, offline=False)
        assert handler.seen and not any(handler.seen), handler.seen
        assert result.outcome is Outcome.UNKNOWN
        assert f"set MLFLOW_TRACKING_URI={url}" in result.result.message, result.result.message
        handler.seen.clear()
        named = {**login, "MLFLOW_TRACKING_URI": url + "/"}
        check_result(path, "RT206", environ=named, offline=False)
        assert handler.seen and all(h and h.startswith("Basic ") for h in handler.seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["registered_models", "registered_model", "model_version", "model_versions",
             "aliases", "alias", "version", "name", "run_id", "source", "run", "info", "data",
             "tags", "metrics", "key", "value", "inputs", "dataset_inputs", "dataset",
             "experiment", "experiments", "runs", "next_page_token", "experiment_id",
             "lifecycle_stage", "signature"]
        ) | st.text(max_size=8),
        children,
        max_size=5,
    ),
    max_leaves=20,
)  # fmt: skip


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=st.sampled_from([200, 200, 200, 400, 404, 500, 503]),
    body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)),
)
def test_garbage_server_answers_give_results(canned, tmp_path_factory, status, body) -> None:
    handler, url = canned
    handler.answer = (status, body)
    path = tmp_path_factory.getbasetemp() / "garbage-rest"
    if not path.exists():
        make_repo(path, {"params.yaml": "mlflow: {experiment: e}\n"})
    results = outcomes(path, {"MLFLOW_TRACKING_URI": url}, offline=False)
    for item in results.values():
        assert "internal error" not in item.result.message, item.result.message


# --- malformed stores -----------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=4096))
def test_random_bytes_store(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "bytes-store"
    if not path.exists():
        make_repo(path, {"params.yaml": PARAMS})
    (path / "mlflow.db").write_bytes(data)
    for item in outcomes(path).values():
        # Evidence that is there but cannot be read fails, never lifts the level (issue 17).
        assert item.outcome is Outcome.FAIL, item.result.message
        assert "internal error" not in item.result.message


def _schema(db_path: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(db_path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    schema = {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")] for t in tables}
    db.close()
    return schema


_serial = itertools.count()
MLFLOW_TABLES = (
    "experiments", "runs", "tags", "latest_metrics", "metrics", "registered_models",
    "model_versions", "registered_model_aliases", "model_version_tags", "inputs", "input_tags",
    "datasets", "logged_models", "alembic_version",
)  # fmt: skip


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_store_missing_tables_and_columns(stores: dict, tmp_path_factory, data) -> None:
    """A copy of a real store with tables dropped and columns removed or emptied."""
    path = tmp_path_factory.getbasetemp() / "schema-store"
    if not path.exists():
        make_repo(path, {"params.yaml": PARAMS})
    good = stores["base"] / "good" / "mlflow.db"
    schema = _schema(good)
    # A new file per example: a connection of the previous audit may still hold the old one.
    target = path / f"store-{next(_serial)}.db"
    db = sqlite3.connect(target)
    db.execute("ATTACH DATABASE ? AS src", (str(good),))
    for table in MLFLOW_TABLES:
        if data.draw(st.integers(0, 4), label=f"drop {table}") == 0:
            continue
        columns = schema[table]
        kept = data.draw(
            st.lists(st.sampled_from(columns), unique=True, min_size=1, max_size=len(columns)),
            label=f"{table} columns",
        )
        rows = data.draw(st.sampled_from(["all", "none", "nulls"]), label=f"{table} rows")
        db.execute(f"CREATE TABLE {table} ({', '.join(kept)})")
        if rows == "all":
            db.execute(f"INSERT INTO {table} SELECT {', '.join(kept)} FROM src.{table}")
        elif rows == "nulls":
            db.execute(f"INSERT INTO {table} VALUES ({', '.join('NULL' for _ in kept)})")
    db.commit()
    db.execute("DETACH DATABASE src")
    db.close()
    for item in outcomes(path, {"MLFLOW_TRACKING_URI": f"sqlite:///{target}"}).values():
        assert "internal error" not in item.result.message, item.result.message


def test_a_store_that_is_not_a_file_fails(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "p", {"params.yaml": PARAMS})
    (path / "mlflow.db").mkdir()  # a directory where the database should be
    uri = f"sqlite:///{path / 'mlflow.db'}"
    result = check_result(path, "RT206", environ={"MLFLOW_TRACKING_URI": uri})
    assert result.outcome is Outcome.FAIL, result.result.message
    assert "is a directory, not a regular file" in result.result.message


# --- OW603: who owns the infrastructure -----------------------------------------------------


def dvc_config(url: str) -> str:
    return f"[core]\n    remote = store\n['remote \"store\"']\n    url = {url}\n"


def test_ow603_local_infrastructure_passes(tmp_path: Path) -> None:
    path = make_repo(
        tmp_path / "p", {".dvc/config": dvc_config("../storage"), "params.yaml": PARAMS}
    )
    result = check_result(path, "OW603")
    assert result.outcome is Outcome.PASS, result.result.message
    assert "(local)" in result.result.message


def test_ow603_client_domains_pass(tmp_path: Path) -> None:
    path = make_repo(
        tmp_path / "p",
        {
            ".dvc/config": dvc_config("s3://acme-ml-data/churn"),
            "params.yaml": PARAMS.replace('""', "https://mlflow.acme.com"),
            "pyproject.toml": "[tool.handover.audit]\n"
            'client-domains = ["acme.com", "s3://acme-ml-data/"]\nvendor-domains = ["vendor.io"]\n',
        },
    )
    result = check_result(path, "OW603")
    assert result.outcome is Outcome.PASS, result.result.message
    assert result.result.message.count("(client)") == 2


def test_ow603_vendor_tracking_server_fails(tmp_path: Path) -> None:
    path = make_repo(
        tmp_path / "p",
        {
            ".dvc/config": dvc_config("s3://acme-ml-data/churn"),
            "params.yaml": PARAMS.replace('""', "https://bob:pw@mlflow.vendor.io"),
            "pyproject.toml": '[tool.handover.audit]\nclient-domains = ["s3://acme-ml-data/"]\n'
            'vendor-domains = ["vendor.io"]\n',
        },
    )
    result = check_result(path, "OW603")
    assert result.outcome is Outcome.FAIL
    assert "vendor.io" in result.result.message and "pw@" not in result.result.message
    assert ("params.yaml", None) in result.result.locations


def test_ow603_foreign_remote_fails_and_env_uri_counts(tmp_path: Path) -> None:
    path = make_repo(
        tmp_path / "p",
        {
            ".dvc/config": dvc_config("gs://someone-else/data"),
            "pyproject.toml": '[tool.handover.audit]\nclient-domains = ["acme.com"]\n',
        },
    )
    result = check_result(path, "OW603")
    assert result.outcome is Outcome.FAIL
    assert "not on the client's domains" in result.result.message
    assert (".dvc/config", None) in result.result.locations
    env = check_result(
        make_repo(tmp_path / "q", {"pyproject.toml": '[tool.handover.audit]\nvendor-domains = '
                                   '["vendor.io"]\n'}),
        "OW603", environ={"MLFLOW_TRACKING_URI": "http://tracking.vendor.io:5000"},
    )  # fmt: skip
    assert env.outcome is Outcome.FAIL


def test_ow603_generated_answers_give_domains(tmp_path: Path) -> None:
    answers = "client_email_domain: acme.com\nvendor_email_domain: vendor.io\n"
    path = make_repo(
        tmp_path / "p",
        {".copier-answers.yml": answers, ".dvc/config": dvc_config("s3://bucket.vendor.io/x")},
    )
    assert check_result(path, "OW603").outcome is Outcome.FAIL


def test_ow603_no_domains_configured_is_unknown(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "p", {".dvc/config": dvc_config("s3://bucket/data")})
    result = check_result(path, "OW603")
    assert result.outcome is Outcome.UNKNOWN
    assert "client-domains" in result.result.message


def test_ow603_nothing_to_own_and_remote_references(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "p", {"README.md": "hi\n"})
    assert check_result(path, "OW603").outcome is Outcome.NOT_APPLICABLE
    config = (
        "['remote \"base\"']\n    url = s3://acme-data/root\n"
        "['remote \"sub\"']\n    url = remote://base/sub\n"
    )
    path = make_repo(
        tmp_path / "q",
        {".dvc/config": config,
         "pyproject.toml": '[tool.handover.audit]\nclient-domains = ["s3://acme-data/"]\n'},
    )  # fmt: skip
    result = check_result(path, "OW603")
    assert result.outcome is Outcome.PASS, result.result.message


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=300))
def test_ow603_fuzzed_dvc_config_and_params(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.getbasetemp() / "ow603-fuzz"
    if not path.exists():
        make_repo(path, {".dvc/config": "", "params.yaml": ""}, git_init=False)
    (path / ".dvc" / "config").write_text(text, encoding="utf-8")
    (path / "params.yaml").write_text(text, encoding="utf-8")
    for check in ("OW603", "RT206"):
        result = check_result(path, check)
        assert "internal error" not in result.result.message, result.result.message


def test_audit_config_fields_exist() -> None:
    """The fixture reads these configuration fields (a guard against a rename in config.py)."""
    config = AuditConfig()
    assert hasattr(config, "mlflow_tracking_uri") and hasattr(config, "registered_model")
    assert hasattr(config, "experiment")
