"""Broken evidence never raises the audit's level (issue 17, "Wrong level from broken evidence").

Evidence that is there but cannot be read (a corrupt `mlflow.db`, a FIFO where `dvc.yaml` or the
model card should be, a model card too large to read, a file the auditing user may not open)
fails the checks that need it with the reason; before, those checks were unknown, which is not
scored, so a corrupted store lifted repositories from L2 to L3 and a FIFO hung the audit.

The store is written by the real mlflow package, once per module, in a subprocess (the audit
never imports mlflow). Audits that could hang or must run as another user run in a subprocess
with a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_repos import make_repo

from mlops_handover.audit.engine import audit
from mlops_handover.audit.fixtures import AuditOptions
from mlops_handover.audit.model import Outcome, all_checks
from mlops_handover.audit.readers import MAX_TEXT_BYTES

MODEL, EXPERIMENT = "churn", "churn-exp"
PARAMS = f"mlflow:\n  experiment: {EXPERIMENT}\n  registered_model: {MODEL}\n"
CARD = """\
---
license: mit
model-index:
  - name: churn
    results:
      - metrics:
          - {type: f1, value: 0.85}
---
# Model card

## Intended use

Scores customers by churn risk for the retention team, weekly.
"""
FILES = {
    "params.yaml": PARAMS,
    ".gitignore": "mlflow.db\nmlruns/\n",
    "dvc.yaml": "stages:\n  train:\n    cmd: python src/churn/train.py\n"
    "    deps: [src/churn/train.py]\n    params: [mlflow]\n    metrics: [metrics.json]\n",
    "docs/model-card.md": CARD,
    "src/churn/__init__.py": "",
    "src/churn/train.py": "import mlflow\n\nwith mlflow.start_run():\n"
    "    mlflow.log_metric('f1', 0.85)\n",
}
#: Checks that read the MLflow store directly.
STORE_CHECKS = tuple(c.id() for c in all_checks().values() if "mlflow" in c.fixtures())

# Writes one store with the real mlflow package, holding two projects' models: `churn` (a
# champion with its commit, metrics and signature) and `churn-poor` (a failed run, a version
# without lineage or signature, no champion alias); one store costs one schema migration.
BUILD = r"""
import os, sys, warnings
warnings.filterwarnings("ignore")
import mlflow, mlflow.sklearn, pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

X = pd.DataFrame({"tenure": [1.0, 5.0, 9.0, 12.0], "spend": [10.0, 3.0, 8.0, 1.0]})
y = [0, 1, 0, 1]
out = sys.argv[1]
uri = "sqlite:///" + os.path.join(out, "mlflow.db")
mlflow.set_tracking_uri(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
for name in ("churn", "churn-poor"):
    good = name == "churn"
    experiment = mlflow.create_experiment(
        name + "-exp", artifact_location="file://" + os.path.join(out, "mlruns", name))
    mlflow.set_experiment(experiment_id=experiment)
    with mlflow.start_run(tags={"mlflow.source.git.commit": sys.argv[2]} if good else {}) as run:
        model = LogisticRegression().fit(X, y)
        mlflow.log_metrics({"eval_f1": 0.85})
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(X, model.predict(X)) if good else None,
            pip_requirements=["scikit-learn"])
    mlflow.register_model(info.model_uri, name)
    if good:
        client.set_registered_model_alias(name, "champion", "1")
    else:
        client.set_terminated(run.info.run_id, "FAILED")
"""
#: params.yaml of the project whose store is `good` or `poor`.
PROJECTS = {
    "good": PARAMS,
    "poor": PARAMS.replace(MODEL, f"{MODEL}-poor"),
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A committed project and the store written for its HEAD."""
    base = tmp_path_factory.mktemp("broken-evidence")
    repo = make_repo(base / "repo", FILES)
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    built = subprocess.run(
        [sys.executable, "-c", BUILD, str(base), head],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-4000:]
    return {"repo": repo, "store": base / "mlflow.db"}


def project(stores: dict[str, Path], where: Path, kind: str | None = None) -> Path:
    """A copy of the project; with `kind`, the store as ./mlflow.db and params.yaml naming the
    `good` or `poor` model in it (an uncommitted change: only the store's checks read it)."""
    path = where / "project"
    shutil.copytree(stores["repo"], path, symlinks=True)
    if kind:
        shutil.copy(stores["store"], path / "mlflow.db")
        (path / "params.yaml").write_text(PROJECTS[kind], encoding="utf-8")
    return path


def outcomes(
    path: Path, select: tuple[str, ...] = ()
) -> tuple[int, dict[str, tuple[Outcome, str]]]:
    """The level and each check's (outcome, message); `select`: only those checks."""
    report = audit(path, AuditOptions(offline=True, environ={}), select=select)
    assert report.error is None, report.error
    return report.level, {r.check.id(): (r.outcome, r.result.message) for r in report.results}


# A subprocess for audits that might hang (a FIFO) or must run as another user.
AUDIT = r"""
import json, sys
from mlops_handover.audit.engine import audit
from mlops_handover.audit.fixtures import AuditOptions

report = audit(sys.argv[1], AuditOptions(offline=True, environ={}))
print(json.dumps({"error": report.error, "level": report.level, "checks": {
    r.check.id(): [r.outcome.value, r.result.message] for r in report.results}}))
"""


def audit_process(path: Path, *user: str, timeout: float = 120) -> dict:
    """The audit of `path` in a subprocess (run through `user`, a command prefix, if given);
    TimeoutExpired when it hangs."""
    env = {"PATH": os.environ["PATH"], "HOME": str(path.parent), "LC_ALL": "C.UTF-8"}
    env |= {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    done = subprocess.run(
        [*user, sys.executable, "-c", AUDIT, str(path)],
        capture_output=True, text=True, env=env, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)
    assert result["error"] is None, result["error"]
    return result


# --- a corrupt mlflow.db --------------------------------------------------------------------


def truncate(db: Path) -> None:
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)


def overwrite_header(db: Path) -> None:
    with db.open("r+b") as f:
        f.write(b"\xa5" * 100)


def overwrite_pages(db: Path) -> None:
    """Garbage over every page after the first: the header still says SQLite."""
    with db.open("r+b") as f:
        f.seek(4096)
        f.write(bytes(range(256)) * ((db.stat().st_size - 4096) // 256))


def empty(db: Path) -> None:
    db.write_bytes(b"")


@pytest.mark.parametrize("kind", ["good", "poor"])
@pytest.mark.parametrize("corrupt", [truncate, overwrite_header, overwrite_pages, empty])
def test_a_corrupt_store_fails_its_checks_and_never_raises_the_level(
    stores: dict[str, Path], tmp_path: Path, kind: str, corrupt
) -> None:
    """Only the store's checks are selected, so they alone decide the level: as unknown they
    left nothing to score, and corrupting the store lifted the good project from L2 to L3 and
    the poor one from L1 to L3."""
    path = project(stores, tmp_path, kind)
    level, before = outcomes(path, STORE_CHECKS)
    assert all(before[c][0] is not Outcome.UNKNOWN for c in STORE_CHECKS), before
    corrupt(path / "mlflow.db")
    broken_level, after = outcomes(path, STORE_CHECKS)
    assert broken_level <= level
    for check in STORE_CHECKS:
        outcome, message = after[check]
        assert outcome is Outcome.FAIL, (check, outcome, message)
        assert "mlflow.db" in message, message
        assert any(w in message for w in ("corrupt", "not a database", "malformed")), message


@pytest.mark.parametrize("uri", ["", "sqlite:///mlflow.db"], ids=["default", "params"])
def test_a_directory_as_the_store_is_not_a_regular_file(
    stores: dict[str, Path], tmp_path: Path, uri: str
) -> None:
    path = project(stores, tmp_path)
    (path / "params.yaml").write_text(f"{PARAMS}  tracking_uri: {uri!r}\n", encoding="utf-8")
    (path / "mlflow.db").mkdir()
    _, after = outcomes(path)
    for check in STORE_CHECKS:
        outcome, message = after[check]
        assert outcome is Outcome.FAIL and "is a directory, not a regular file" in message


# --- files that are not regular files, or too large -----------------------------------------


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def test_fifos_as_dvc_yaml_and_model_card_do_not_block_the_audit(
    stores: dict[str, Path], tmp_path: Path
) -> None:
    path = project(stores, tmp_path, "good")
    before = audit_process(path)
    fifo(path / "dvc.yaml")
    fifo(path / "docs/model-card.md")
    after = audit_process(path, timeout=60)  # blocked forever before
    assert after["level"] <= before["level"]
    dvc_checks = [c for c, (_, m) in after["checks"].items() if "dvc.yaml is a FIFO" in m]
    card_checks = [
        c for c, (_, m) in after["checks"].items() if "docs/model-card.md is a FIFO" in m
    ]
    assert "RP105" in dvc_checks and "OW601" in card_checks, after["checks"]
    for check in dvc_checks + card_checks:
        outcome, message = after["checks"][check]
        assert outcome == "fail" and "not a regular file" in message, (check, message)


def test_an_oversized_model_card_is_too_large_to_read(
    stores: dict[str, Path], tmp_path: Path
) -> None:
    path = project(stores, tmp_path, "good")
    level, _ = outcomes(path)
    os.truncate(path / "docs/model-card.md", MAX_TEXT_BYTES + (1 << 20))  # sparse: instant
    started = time.monotonic()
    oversized, after = outcomes(path)
    assert time.monotonic() - started < 30  # the card is not read (a 200 MB one took 28.6 s)
    assert oversized <= level
    outcome, message = after["OW601"]
    assert outcome is Outcome.FAIL
    assert "docs/model-card.md is too large to read (9 MB, limit 8 MB)" in message


# --- permission denied ----------------------------------------------------------------------


def unprivileged() -> list[str] | None:
    """A command prefix that runs as `nobody` (uid 65534) from root; None where none can."""
    if os.geteuid() != 0:
        return None  # not root: chmod 000 already stops this user, see below
    for prefix in (
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
        ["runuser", "-u", "nobody", "--"],
    ):
        if shutil.which(prefix[0]):
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
            if probe.returncode == 0:
                return prefix
    return None


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory `nobody` can traverse (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="handover-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_permission_denied_fails_with_the_reason(stores: dict[str, Path], shared_dir: Path) -> None:
    prefix = [] if os.geteuid() != 0 else unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv or runuser: chmod 000 stops nothing")
    path = project(stores, shared_dir, "good")
    if prefix:  # the copy belongs to nobody, so chmod 000 stops its owner
        subprocess.run(["chown", "-R", "65534:65534", str(shared_dir)], check=True)
    before = audit_process(path, *prefix)
    (path / "docs/model-card.md").chmod(0)
    (path / "src").chmod(0)
    try:
        after = audit_process(path, *prefix)
    finally:
        (path / "src").chmod(0o755)
    assert after["level"] <= before["level"]
    outcome, message = after["checks"]["OW601"]
    assert outcome == "fail" and "docs/model-card.md cannot be read: permission denied" in message
    # The checks that scan the code (absolute paths, MLflow use, monitoring, schemas).
    denied = {c for c, (o, m) in after["checks"].items() if m.startswith("src/churn/")}
    assert {"RT201", "RT202"} <= denied, after["checks"]
    for check in denied:
        outcome, message = after["checks"][check]
        assert outcome == "fail" and "permission denied" in message, (check, message)
