"""`handover history export|import`: the vendor's MLflow history reaches the client, checked.

The source store is made by real training, as a vendor's would be: three scikit-learn runs
with parameters, a metric history over steps, a metric linked to the logged model and its
dataset, a dataset input and an artifact file; three registered versions, the `champion` and
`previous` aliases, and version 2 deleted (a gap in the numbers). The client's store is an
empty SQLite file in another folder, as in a fresh clone. Only real MLflow: no mocks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from conftest import isolated, run, tool
from mlops_handover.cli import main
from mlops_handover.history_bundle import (
    DEFAULT_BUNDLE,
    FORMAT,
    MANIFEST,
    SOURCE_MODEL_TAG,
    SOURCE_RUN_TAG,
    SOURCE_VERSION_TAG,
)

# One source store for the module: xdist (--dist loadgroup) keeps these tests on one worker.
pytestmark = pytest.mark.xdist_group("history_bundle")

EXPERIMENT = MODEL = "churn-model"
PARAMS = {"mlflow": {"experiment": EXPERIMENT, "registered_model": MODEL, "tracking_uri": ""}}


@contextmanager
def tracking(uri: str) -> Iterator[None]:
    """MLflow's global tracking URI set to `uri` meanwhile (the fluent API logs there)."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    previous, variable = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # which sets or unsets MLFLOW_TRACKING_URI too
        if variable is not None:
            os.environ["MLFLOW_TRACKING_URI"] = variable


def train_history(root: Path) -> None:
    """A vendor's store in root/mlflow.db + root/mlruns, the way a generated project makes it."""
    import mlflow
    import mlflow.data
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    features, target = load_iris(return_X_y=True, as_frame=True)
    frame = features.assign(target=target)
    with tracking(uri), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        experiment_id = mlflow.create_experiment(
            EXPERIMENT, artifact_location=(root / "mlruns").as_uri()
        )
        client = MlflowClient(uri)
        for n, c in enumerate([0.1, 1.0, 10.0]):
            tags = {"mlflow.source.git.commit": f"{n:040d}", "dvc.train_data.md5": "d41d8cd9"}
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"c-{c}", tags=tags):
                mlflow.log_params({"train.C": c, "train.max_iter": 200})
                for step in range(3):
                    mlflow.log_metric("loss", 1.0 / (step + 1 + n), step=step)
                dataset = mlflow.data.from_pandas(
                    frame, source="data/prepared/train.csv", name="train", targets="target"
                )
                mlflow.log_input(dataset, context="training", tags={"dvc.md5": f"md5-{n}"})
                model = LogisticRegression(C=c, max_iter=200).fit(features, target)
                info = mlflow.sklearn.log_model(
                    model, name="model", pip_requirements=["scikit-learn"]
                )
                mlflow.log_metric(
                    "eval_accuracy",
                    model.score(features, target),
                    model_id=info.model_id,
                    dataset=dataset,
                )
                notes = root / "notes.txt"
                notes.write_text(f"run {n}: C={c}\n", encoding="utf-8")
                mlflow.log_artifact(str(notes), artifact_path="reports")
            version = mlflow.register_model(info.model_uri, MODEL, tags={"acceptance": "passed"})
            client.set_model_version_tag(MODEL, version.version, "eval_accuracy", "0.97")
        client.update_registered_model(MODEL, description="Churn classifier of Acme Bank")
        client.set_registered_model_tag(MODEL, "owner", "acme-ml")
        client.update_model_version(MODEL, "3", description="the strongest regularisation")
        client.set_registered_model_alias(MODEL, "champion", "3")
        client.set_registered_model_alias(MODEL, "previous", "1")
        client.delete_model_version(MODEL, "2")


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vendor's project: git + DVC, params.yaml, the trained store."""
    with isolated(tmp_path_factory):
        root = tmp_path_factory.mktemp("vendor") / "churn-model"
        root.mkdir()
        run("git", "init", "-q", "-b", "main", cwd=root)
        run(tool("dvc"), "init", "-q", cwd=root)
        train_history(root)
    return root


@pytest.fixture(scope="module")
def bundle(vendor: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vendor's history exported to a folder (outside the project)."""
    with isolated(tmp_path_factory):
        dest = tmp_path_factory.mktemp("bundle") / "mlflow"
        assert main(["history", "export", str(vendor), "--to", str(dest)]) == 0
    return dest


def clone(bundle: Path, where: Path) -> Path:
    """A client's fresh clone: params.yaml and the pulled bundle; no MLflow store."""
    project = where / "churn-model"
    (project / DEFAULT_BUNDLE).parent.mkdir(parents=True)
    (project / "params.yaml").write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    shutil.copytree(bundle, project / DEFAULT_BUNDLE)
    return project


def import_json(project: Path, capfd: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    code = main(["history", "import", str(project), "--json", *extra])
    out, err = capfd.readouterr()
    assert "Traceback" not in err and out.startswith("{"), out + err
    return code, json.loads(out)


def client_of(project: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def files_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def model_files(client, name: str, alias: str, dest: Path) -> str:
    """The digest of the artifacts of the logged model behind `name@alias`."""
    import mlflow.artifacts

    version = client.get_model_version_by_alias(name, alias)
    model_id = version.source.removeprefix("models:/")
    location = client.get_logged_model(model_id).artifact_location
    got = mlflow.artifacts.download_artifacts(
        artifact_uri=location, dst_path=str(dest), tracking_uri=client._tracking_client.tracking_uri
    )
    return files_digest(Path(got))


def table_counts(database: Path) -> dict[str, int]:
    tables = (
        "runs", "params", "metrics", "tags", "inputs", "logged_models", "logged_model_tags",
        "model_versions", "model_version_tags", "registered_model_aliases",
    )  # fmt: skip
    with sqlite3.connect(database) as db:
        return {t: db.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


# ---------------------------------------------------------------------------------------------


def test_export_is_deterministic(vendor: Path, bundle: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main(["history", "export", str(vendor), "--to", str(again)]) == 0
    first = {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first == second
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["kind"] == "mlops-handover/mlflow-history"
    assert manifest["source"]["tracking_uri"] == "sqlite:///<project>/mlflow.db"
    counts = manifest["counts"]
    assert counts["runs"] == 3 and counts["params"] == 6
    assert counts["metrics"] == 3 * (3 + 1)  # three loss steps and one linked metric per run
    assert counts["logged_models"] == 3 and counts["versions"] == 2 and counts["aliases"] == 2
    assert counts["artifacts"] == 3 + 3 * 5  # a report per run; MLmodel & co. per model
    assert set(manifest["files"]) | {MANIFEST} == {
        p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()
    }
    run_file = next(bundle.glob("runs/*/run.json"))
    linked = [m for m in json.loads(run_file.read_text())["metrics"] if m["key"] == "eval_accuracy"]
    assert linked and linked[0]["model_id"] and linked[0]["dataset_name"] == "train"


def test_export_unchanged_store_reports_unchanged(
    vendor: Path, bundle: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "export", str(vendor), "--to", str(bundle), "--json"]) == 0
    result = json.loads(capfd.readouterr().out)
    assert result["changed"] is False and result["counts"]["runs"] == 3


def test_import_into_an_empty_store_reproduces_the_history(
    vendor: Path, bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = clone(bundle, tmp_path)
    code = main(["history", "import", str(project)])
    out, err = capfd.readouterr()
    assert code == 0, out + err
    assert "OK: the client store holds everything in the bundle." in out
    manifest = json.loads((bundle / MANIFEST).read_text())
    for item, count in manifest["counts"].items():
        checksum = manifest["checksums"][item][:12]
        assert f"{count:>7} {checksum}  {count:>7} {checksum}  ok" in out, item

    source, client = client_of(vendor), client_of(project)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    source_ids = {r.info.run_id for r in source.search_runs(
        [source.get_experiment_by_name(EXPERIMENT).experiment_id])}  # fmt: skip
    assert {r.data.tags[SOURCE_RUN_TAG] for r in runs} == source_ids
    assert not {r.info.run_id for r in runs} & source_ids, "runs get new ids"
    for r in runs:
        assert str(project / "mlruns") in r.info.artifact_uri  # the client's artifact root
    assert sorted(int(v.version) for v in client.search_model_versions(f"name='{MODEL}'")) == [1, 3]
    for alias in ("champion", "previous"):
        ours = client.get_model_version_by_alias(MODEL, alias)
        theirs = source.get_model_version_by_alias(MODEL, alias)
        assert str(ours.version) == str(theirs.version)  # an int here, a str elsewhere
        assert ours.tags[SOURCE_VERSION_TAG] == str(theirs.version)
        assert ours.tags[SOURCE_RUN_TAG] == theirs.run_id
        model = client.get_logged_model(ours.source.removeprefix("models:/"))
        assert model.tags[SOURCE_MODEL_TAG] == theirs.source.removeprefix("models:/")
        assert model_files(client, MODEL, alias, tmp_path / f"ours-{alias}") == model_files(
            source, MODEL, alias, tmp_path / f"theirs-{alias}"
        )
    champion = client.get_model_version_by_alias(MODEL, "champion")
    history = client.get_metric_history(champion.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [
        (m.step, m.value)
        for m in source.get_metric_history(
            source.get_model_version_by_alias(MODEL, "champion").run_id, "loss"
        )
    ]


def test_second_import_changes_nothing(
    bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = clone(bundle, tmp_path)
    code, first = import_json(project, capfd)
    assert code == 0 and first["created"]["runs"] == 3
    before = table_counts(project / "mlflow.db")
    code, second = import_json(project, capfd)
    assert code == 0 and second["ok"]
    assert set(second["created"].values()) == {0}
    assert second["already_imported"] == {"runs": 3, "logged_models": 3, "versions": 2}
    assert second["mapping"]["runs"] == first["mapping"]["runs"]
    assert all(a["before"] == a["version"] for a in second["aliases"].values())
    assert table_counts(project / "mlflow.db") == before


def test_version_gap_is_kept_and_reported(
    bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = clone(bundle, tmp_path)
    code, result = import_json(project, capfd)
    assert code == 0
    assert result["mapping"]["versions"] == {"1": "1", "3": "3"}
    assert result["mapping"]["version_gaps"] == ["2"]
    assert result["created"]["placeholder_versions"] == 1
    main(["history", "import", str(project)])
    assert (
        "version numbers missing in the bundle (deleted in the source): 2" in capfd.readouterr().out
    )


def test_a_store_with_versions_of_its_own_gets_a_mapping(
    bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The client ran the pipeline before importing: numbers differ, aliases follow the map."""
    project = clone(bundle, tmp_path)
    client = client_of(project)
    with tracking(f"sqlite:///{project / 'mlflow.db'}"):
        experiment_id = client.create_experiment(
            EXPERIMENT, artifact_location=(project / "mlruns").as_uri()
        )
        own = client.create_run(experiment_id)
        client.create_registered_model(MODEL)
        client.create_model_version(MODEL, f"runs:/{own.info.run_id}/model", own.info.run_id)
    code, result = import_json(project, capfd)
    assert code == 0, result["reconciliation"]
    assert result["mapping"]["versions"] == {"1": "2", "3": "3"}
    assert "numbers differ" in result["mapping"]["versions_note"]
    assert str(client.get_model_version_by_alias(MODEL, "previous").version) == "2"
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "3"


def test_a_tampered_file_is_refused_naming_it(
    bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = clone(bundle, tmp_path)
    report = next((project / DEFAULT_BUNDLE).glob("runs/*/artifacts/reports/notes.txt"))
    report.write_text("run 0: C=1000\n", encoding="utf-8")
    assert main(["history", "import", str(project)]) == 2
    err = capfd.readouterr().err
    assert str(report) in err and "sha256 differs" in err
    assert not (project / "mlflow.db").exists(), "nothing may be written"


def test_a_missing_manifest_is_refused(
    bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = clone(bundle, tmp_path)
    (project / DEFAULT_BUNDLE / MANIFEST).unlink()
    assert main(["history", "import", str(project)]) == 2
    assert "manifest.json: missing" in capfd.readouterr().err
    assert not (project / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"format": FORMAT + 1}, [f"bundle format {FORMAT + 1}", f"format {FORMAT},"]),
        ({"mlflow_version": "99.1.0"}, ["MLflow 99.1.0", "upgrade MLflow to 99.1"]),
        ({"mlflow_version": "4.0.0"}, ["a newer major release", "upgrade MLflow to 4.0"]),
    ],
)
def test_a_newer_bundle_is_refused(
    bundle: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    change: dict,
    expected: list[str],
) -> None:
    import mlflow

    project = clone(bundle, tmp_path)
    manifest = project / DEFAULT_BUNDLE / MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), **change}))
    assert main(["history", "import", str(project)]) == 2
    err = capfd.readouterr().err
    for text in expected:
        assert text in err
    if "mlflow_version" in change:
        assert f"MLflow {mlflow.__version__} installed here" in err
    assert not (project / "mlflow.db").exists()


def test_reconciliation_catches_a_lost_param(
    bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A row lost in the client's store (deleted from the SQLite file) fails the next import."""
    project = clone(bundle, tmp_path)
    code, result = import_json(project, capfd)
    assert code == 0
    new_run = result["mapping"]["runs"][sorted(result["mapping"]["runs"])[0]]
    with sqlite3.connect(project / "mlflow.db") as db:
        deleted = db.execute(
            "delete from params where run_uuid = ? and key = 'train.C'", (new_run,)
        ).rowcount
    assert deleted == 1
    code, result = import_json(project, capfd)
    assert code == 1 and result["ok"] is False
    items = {i["item"]: i for i in result["reconciliation"]["items"]}
    assert [name for name, i in items.items() if not i["ok"]] == ["params"]
    params = items["params"]
    assert params["bundle"]["count"] == params["store"]["count"] + 1
    assert len(params["missing"]) == 1 and '"key":"train.C"' in params["missing"][0]
    main(["history", "import", str(project)])
    out = capfd.readouterr().out
    assert "DIFFERS" in out and "train.C" in out and "FAILED" in out


def test_import_json_shape(bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    project = clone(bundle, tmp_path)
    code, result = import_json(project, capfd)
    assert code == 0
    assert set(result) == {
        "bundle", "tracking_uri", "format", "exported_with_mlflow", "source_tracking_uri",
        "experiment", "registered_model", "created", "already_imported", "redone", "aliases",
        "mapping", "reconciliation", "seconds", "ok",
    }  # fmt: skip
    assert result["bundle"] == "history/mlflow" and result["format"] == FORMAT
    assert set(result["created"]) == {
        "runs", "logged_models", "versions", "placeholder_versions", "registered_model"
    }  # fmt: skip
    assert set(result["mapping"]) == {
        "runs", "logged_models", "versions", "version_gaps", "versions_note"
    }  # fmt: skip
    assert result["aliases"]["champion"] == {"version": "3", "before": None}
    items = result["reconciliation"]["items"]
    assert [i["item"] for i in items] == [
        "runs", "params", "metrics", "tags", "datasets", "artifacts", "logged_models",
        "registered_model", "versions", "aliases",
    ]  # fmt: skip
    for item in items:
        assert set(item) == {"item", "ok", "bundle", "store", "missing", "unexpected"}
        assert item["bundle"] == item["store"] and len(item["bundle"]["checksum"]) == 64


def test_export_in_a_dvc_repository_tracks_the_bundle(
    vendor: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "export", str(vendor)]) == 0
    out = capfd.readouterr().out
    assert (vendor / "history" / "mlflow.dvc").is_file()
    assert "/mlflow" in (vendor / "history" / ".gitignore").read_text()
    assert "git add history/mlflow.dvc" in out and "dvc push" in out
    status = run(tool("dvc"), "status", "history/mlflow.dvc", cwd=vendor).stdout
    assert "up to date" in status.lower() or not status.strip()

    # The client's clone has the .dvc file but has not pulled: the import says what to run.
    project = tmp_path / "clone"
    (project / "history").mkdir(parents=True)
    shutil.copy(vendor / "history" / "mlflow.dvc", project / "history" / "mlflow.dvc")
    (project / "params.yaml").write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    assert main(["history", "import", str(project)]) == 2
    assert "dvc pull history/mlflow.dvc" in capfd.readouterr().err
    assert not (project / "mlflow.db").exists()


def test_export_without_a_store_says_so(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    assert main(["history", "export", str(tmp_path)]) == 1
    assert "no MLflow database" in capfd.readouterr().err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "history").exists()


# ---------------------------------------------------------------------------------------------
# The client's store on a real tracking server with basic auth (PostgreSQL + S3 via moto)


@pytest.mark.slow
def test_import_into_a_tracking_server_with_basic_auth(
    bundle: Path,
    template_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from servers import S3_KEYS, mlflow_stack, postgres_bin

    from conftest import copy_template

    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    ops = copy_template(
        template_repo,
        tmp_path / "ops",
        {"mlflow_tracking": "server", "mlflow_tracking_uri": "https://mlflow.acme.example"},
        skip_tasks=True,
    )
    with mlflow_stack(ops / "deploy" / "mlflow" / "start-server.sh", bindir, "acme-ml") as (
        _,
        _,
        server,
    ):
        server.create_user("client-engineer", "client-password-2718")
        project = clone(bundle, tmp_path)
        for key, value in S3_KEYS.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "client-engineer")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
        assert main(["history", "import", str(project)]) == 1
        assert "refused the login" in capfd.readouterr().err

        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "client-password-2718")
        code, first = import_json(project, capfd)
        assert code == 0, first["reconciliation"]
        assert first["created"]["runs"] == 3 and first["mapping"]["versions"] == {
            "1": "1",
            "3": "3",
        }
        code, second = import_json(project, capfd)
        assert code == 0 and set(second["created"].values()) == {0}

        # What the server holds exports to the same records as the vendor's bundle.
        again = tmp_path / "from-server"
        assert main(["history", "export", str(project), "--to", str(again)]) == 0
        theirs = json.loads((bundle / MANIFEST).read_text())
        ours = json.loads((again / MANIFEST).read_text())
        assert ours["counts"] == theirs["counts"]
        assert "client-password" not in (again / MANIFEST).read_text()
        assert not (project / "mlflow.db").exists()


def test_the_library_imports_no_mlflow_and_the_cli_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    probe = "import sys, mlops_handover.history_bundle; print('mlflow' in sys.modules)"
    assert run(sys.executable, "-c", probe, cwd=tmp_path).stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    for action in ("export", "import"):
        assert main(["history", action, str(tmp_path)]) == 2
        err = capfd.readouterr().err
        assert f"`handover history {action}` needs mlflow" in err
        assert 'pip install "mlops-handover[generate]"' in err
    assert not list(tmp_path.iterdir())


# --- OW612: the audit says whether the history was handed over ----------------------------


def ow612(project: Path):
    from audit_repos import check_result

    return check_result(project, "OW612").result


def test_audit_history_handed_over(
    vendor: Path, bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from mlops_handover.audit.model import Outcome

    # The vendor's project without a bundle: the history stays on the vendor's machine. (A copy:
    # another test exports into the module's vendor project.)
    alone = tmp_path / "vendor-alone"
    shutil.copytree(vendor, alone, ignore=shutil.ignore_patterns("history"))
    result = ow612(alone)
    assert result.outcome is Outcome.FAIL and "no history bundle (history/mlflow)" in result.message
    assert "handover history export" in result.message

    # A clone with the bundle pulled but not imported: the champion's run is not in a store.
    project = clone(bundle, tmp_path / "client")
    result = ow612(project)
    assert result.outcome is Outcome.FAIL, result.message
    assert "run `handover history import`" in result.message
    champion = json.loads((bundle / "registry.json").read_text())["aliases"]["champion"]
    assert f"version {champion}" in result.message

    # Only the .dvc file committed (not pulled): the fix is `dvc pull`.
    shutil.move(project / DEFAULT_BUNDLE, tmp_path / "aside")
    (project / f"{DEFAULT_BUNDLE.as_posix()}.dvc").write_text("outs:\n- path: mlflow\n")
    result = ow612(project)
    assert result.outcome is Outcome.FAIL and "dvc pull history/mlflow.dvc" in result.message
    shutil.move(tmp_path / "aside", project / DEFAULT_BUNDLE)

    # Imported: the champion's run is there, as a copy with the bundle's metrics.
    code, _ = import_json(project, capfd)
    assert code == 0
    result = ow612(project)
    assert result.outcome is Outcome.PASS, result.message
    assert "(imported)" in result.message

    # A metric of the champion's copy changed in the client's store: the check names it.
    with sqlite3.connect(project / "mlflow.db") as db:
        db.execute("UPDATE latest_metrics SET value = value + 1 WHERE key = 'loss'")
    result = ow612(project)
    assert result.outcome is Outcome.FAIL and "metrics differ" in result.message
    assert "loss" in result.message


def test_audit_history_not_applicable_without_a_local_store(tmp_path: Path) -> None:
    from mlops_handover.audit.model import Outcome

    project = tmp_path / "server"
    project.mkdir()
    run("git", "init", "-q", cwd=project)
    server = {"mlflow": {**PARAMS["mlflow"], "tracking_uri": "https://mlflow.acme.example"}}
    (project / "params.yaml").write_text(yaml.safe_dump(server), encoding="utf-8")
    result = ow612(project)
    # Offline, the server is not asked: the store is a server, so there is nothing to bundle.
    assert result.outcome in (Outcome.NOT_APPLICABLE, Outcome.UNKNOWN), result.message


def test_a_newer_minor_mlflow_imports(
    bundle: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`handover new` may export with a minor MLflow release ahead of the project's lock."""
    import mlflow

    major = mlflow.__version__.split(".")[0]
    project = clone(bundle, tmp_path)
    manifest = project / DEFAULT_BUNDLE / MANIFEST
    manifest.write_text(
        json.dumps({**json.loads(manifest.read_text()), "mlflow_version": f"{major}.999.0"})
    )
    code, result = import_json(project, capfd)
    assert code == 0, result
