"""`handover history export|import`: the MLflow history travels with the handover.

The vendor's runs, logged models, registered versions and aliases live in a machine-local,
git-ignored store (`mlflow.db` + `mlruns/`) or on a tracking server; a clone gets none of them.
`export` writes them to a portable bundle (a folder of JSON files and artifact files with a
manifest of sha256 digests, by default `history/mlflow/`, tracked by DVC so `dvc push` sends it
to the client's remote); `import` recreates them in the client's store through MLflow's client
API and ends with a **reconciliation report**: every item counted and checksummed on the bundle
side and, read back, on the store side, so a silent loss (the known failure of existing
transfer tools) exits 1.

The format is versioned (`FORMAT`) and documented in docs/history.md. The same reader turns a
bundle and a store into the same normalised records (ids translated to the source's through the
mapping tags), so both sides of the report are computed by one piece of code.

MLflow is imported inside the functions that need it: `handover audit` imports this package's
modules without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_handover.errors import HandoverError

#: The bundle format this release writes and reads; a newer one is refused (exit 2).
FORMAT = 1
KIND = "mlops-handover/mlflow-history"
MANIFEST = "manifest.json"
DEFAULT_BUNDLE = Path("history") / "mlflow"

#: Mapping tags written by the import on the client's entities: the id in the bundle.
SOURCE_RUN_TAG = "handover.source_run_id"
SOURCE_MODEL_TAG = "handover.source_model_id"
SOURCE_VERSION_TAG = "handover.source_version"
#: On a run or logged model while the import writes it; removed when it is complete, so an
#: interrupted import is detected and redone by the next one.
INCOMPLETE_TAG = "handover.import.incomplete"
#: On the throwaway versions that reproduce a gap in the version numbers (deleted at once).
PLACEHOLDER_TAG = "handover.placeholder"
MAPPING_TAGS = frozenset(
    {SOURCE_RUN_TAG, SOURCE_MODEL_TAG, SOURCE_VERSION_TAG, INCOMPLETE_TAG, PLACEHOLDER_TAG}
)
#: Tags MLflow writes itself and that the import rewrites from the registry (the registered
#: versions of a logged model, by number): not compared, not copied as they are.
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
STORE_TAGS = {
    "run": frozenset(),
    "logged_model": frozenset({MODEL_VERSIONS_TAG}),
    "registered_model": frozenset(),
    "version": frozenset(),
}
#: The items of the reconciliation report, in its order.
ITEMS = (
    "runs",
    "params",
    "metrics",
    "tags",
    "datasets",
    "artifacts",
    "logged_models",
    "registered_model",
    "versions",
    "aliases",
)
#: What the `runs` and `logged_models` items compare of each (ids aside).
RUN_FIELDS = ("experiment", "name", "status", "start_time", "end_time", "model_inputs",
              "model_outputs")  # fmt: skip
MODEL_FIELDS = ("experiment", "name", "model_type", "status", "source_run_id", "params")
VERSION_FIELDS = ("version", "run_id", "source", "description", "status")
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING", "SCHEDULED")
README = f"""\
# MLflow history bundle ({KIND}, format {FORMAT})

This folder is the experiment history and model registry of an MLflow store, written by
`handover history export`: runs (parameters, metric history, tags, dataset inputs, artifacts),
logged models (with their artifacts), registered versions and aliases. Recreate it in your own
MLflow store with `handover history import` (it checks every file against manifest.json first,
then reconciles what it wrote). The format is documented in mlops-handover's docs/history.md.
Do not edit these files: the import refuses a bundle whose files differ from the manifest.
"""

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# ---------------------------------------------------------------------------------------------
# Small helpers


def canonical(value: Any) -> str:
    """One line of JSON with sorted keys: what the checksums are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dump(value: Any) -> bytes:
    """A bundle file: indented, sorted, UTF-8, newline at the end (stable for git and DVC)."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_files(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under `root` (POSIX relative path) with its sha256 and size."""
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): (file_sha256(path), path.stat().st_size)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def display_uri(uri: str, project: Path | None = None) -> str:
    """The URI without credentials or query; a SQLite file in the project as `<project>/...`.

    The bundle records it, so it must hold no password and be the same from any clone.
    """
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///").split("?")[0])
        if project is not None:
            with contextlib.suppress(ValueError):
                return f"sqlite:///<project>/{path.resolve().relative_to(project).as_posix()}"
        return f"sqlite:///{path}"
    parsed = urllib.parse.urlsplit(uri)
    if parsed.password is not None or parsed.username is not None:
        host = parsed.hostname or ""
        if parsed.port:
            host += f":{parsed.port}"
        user = f"{parsed.username}:***@" if parsed.password is not None else "***@"
        parsed = parsed._replace(netloc=user + host)
    return urllib.parse.urlunsplit(parsed._replace(query="", fragment=""))


def _major_minor(version: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(match[1]), int(match[2])) if match else None


def _model_id_of(source: str | None) -> str | None:
    """`models:/m-...` (a logged model, MLflow 3) -> its id."""
    if source and source.startswith("models:/"):
        rest = source.removeprefix("models:/").strip("/")
        if rest.startswith("m-") and "/" not in rest:
            return rest
    return None


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------------------------
# The project's store (the generated project's rule, as `handover card` applies it)


@dataclass(frozen=True)
class Target:
    """Where the project's MLflow history lives and what of it moves."""

    project: Path
    uri: str
    uri_source: str  # which setting named the URI
    experiment: str
    registered_model: str | None
    artifact_root: str | None  # experiments created here get it (SQLite: <root>/mlruns)

    @property
    def shown(self) -> str:
        return display_uri(self.uri, self.project)

    @property
    def sqlite_file(self) -> Path | None:
        if self.uri.startswith("sqlite:///"):
            return Path(self.uri.removeprefix("sqlite:///"))
        return None


def resolve_target(
    project: str | os.PathLike[str], experiment: str | None = None, model: str | None = None
) -> Target:
    """MLFLOW_TRACKING_URI, else params.yaml mlflow.tracking_uri, else sqlite <root>/mlflow.db."""
    from mlops_handover.card import load_params, tracking_target

    root = Path(project).resolve()
    if not root.is_dir():
        raise HandoverError(f"{project} is not a directory", 2)
    params = load_params(root)
    settings = params.get("mlflow") or {}
    experiment = experiment or settings.get("experiment")
    model = model or settings.get("registered_model")
    if not experiment:
        raise HandoverError(
            f"{root / 'params.yaml'} names no MLflow experiment (mlflow.experiment): run this "
            "in a generated project, or name it with --experiment",
            2,
        )
    target = tracking_target(root, params, str(model or ""))
    uri = str(target.uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_absolute():
        # A relative SQLite path means the project root, where the pipeline runs.
        uri = f"sqlite:///{root / uri.removeprefix('sqlite:///')}"
    artifact_root = None
    if uri.startswith("sqlite:///"):
        artifact_root = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()
    return Target(
        project=root,
        uri=uri,
        uri_source=target.source,
        experiment=str(experiment),
        registered_model=str(model) if model else None,
        artifact_root=artifact_root,
    )


def check_server(uri: str) -> None:
    """Fail in seconds, naming the cause, when a tracking server cannot be used.

    MLflow's client retries a dead server for minutes; the probe `handover doctor` uses asks
    three questions instead (answers? takes the login? can store artifacts?).
    """
    from mlops_handover import tracking_server

    if not tracking_server.is_server(uri):
        return
    try:
        tracking_server.check(uri, os.environ)
    except tracking_server.ServerProblem as problem:
        raise HandoverError(str(problem), 1) from None


@contextlib.contextmanager
def mlflow_client(uri: str) -> Iterator[Any]:
    """An MlflowClient on `uri`, with MLflow's global URI set to it meanwhile.

    MLflow's SQL registry looks a `models:/m-...` source up with a default client, i.e. on the
    global tracking URI, not the one the registry client was given; without this, registering a
    logged model of any store but the default one fails.
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service import utils as tracking_utils

    previous = getattr(tracking_utils, "_tracking_uri", None)
    # MLflow would draw progress bars and print a "View run" link per run on stdout (a
    # server): the JSON output and the progress on stderr are ours.
    quiet = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
             "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}  # fmt: skip
    # set_tracking_uri also sets MLFLOW_TRACKING_URI in the environment (None unsets it).
    saved = {key: os.environ.get(key) for key in [*quiet, "MLFLOW_TRACKING_URI"]}
    os.environ.update(quiet)
    mlflow.set_tracking_uri(uri)
    try:
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    except MlflowException as error:
        message = str(error.message).replace(uri, display_uri(uri))
        raise HandoverError(f"MLflow ({display_uri(uri)}): {message}", 1) from error
    finally:
        mlflow.set_tracking_uri(previous)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _paged(search: Callable[..., Any], **kwargs: Any) -> list[Any]:
    found, token = [], None
    while True:
        page = search(page_token=token, **kwargs)
        found.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return found


def _download(uri: str, artifact_uri: str, dest: Path) -> None:
    """Every artifact under `artifact_uri` into `dest`; nothing (no folder) when there is none."""
    import mlflow.artifacts

    if not mlflow.artifacts.list_artifacts(artifact_uri=artifact_uri, tracking_uri=uri):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="download-", dir=dest.parent) as scratch:
        # MLflow puts a folder's files under its last path component, or returns the local
        # folder itself: take whatever path it returns.
        got = mlflow.artifacts.download_artifacts(
            artifact_uri=artifact_uri, dst_path=scratch, tracking_uri=uri
        )
        shutil.copytree(got, dest, dirs_exist_ok=True)


# ---------------------------------------------------------------------------------------------
# A snapshot: the history as plain data, from a store or from a bundle


@dataclass
class Snapshot:
    """Runs, logged models, the registered model and artifact digests, as the bundle holds them.

    Read from a store for the client side of the reconciliation, ids are already translated to
    the bundle's through the mapping tags.
    """

    experiments: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    registry: dict[str, Any] | None = None
    #: "runs/<id>" or "models/<id>" -> {relative path: (sha256, size)}
    artifacts: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)


def _metric_rows(points: list[Any], links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's metric history with each point's logged-model links (model id, dataset).

    MLflow keeps a run's history (key, value, step, timestamp) apart from the metrics linked to
    a logged model (logged_model_metrics, with the model id and the dataset); the run's history
    read back has no model id. A point linked to a model becomes one row per link.
    """
    by_point: dict[tuple[str, int, int, str], list[dict[str, Any]]] = defaultdict(list)
    for link in links:
        key = (link["key"], link["step"], link["timestamp"], repr(float(link["value"])))
        entry = {
            "model_id": link["model_id"],
            "dataset_name": link.get("dataset_name"),
            "dataset_digest": link.get("dataset_digest"),
        }
        if entry not in by_point[key]:
            by_point[key].append(entry)
    rows, seen = [], set()
    for p in points:
        key = (p.key, int(p.step), int(p.timestamp), repr(float(p.value)))
        if key in seen:
            continue
        seen.add(key)
        for entry in by_point.pop(key, None) or [
            {"model_id": None, "dataset_name": None, "dataset_digest": None}
        ]:
            rows.append(
                {
                    "key": p.key,
                    "value": float(p.value),
                    "step": int(p.step),
                    "timestamp": int(p.timestamp),
                    **entry,
                }
            )
    for (key, step, timestamp, _), entries in by_point.items():  # linked, not in the history
        value = next(
            float(link["value"])
            for link in links
            if (link["key"], link["step"], link["timestamp"]) == (key, step, timestamp)
        )
        rows.extend(
            {"key": key, "value": value, "step": step, "timestamp": timestamp, **entry}
            for entry in entries
        )
    return sorted(rows, key=canonical)


def _dataset_inputs(run: Any) -> list[dict[str, Any]]:
    inputs = getattr(run.inputs, "dataset_inputs", None) or []
    rows = [
        {
            "name": item.dataset.name,
            "digest": item.dataset.digest,
            "source_type": item.dataset.source_type,
            "source": item.dataset.source,
            "schema": item.dataset.schema,
            "profile": item.dataset.profile,
            "tags": {tag.key: tag.value for tag in item.tags or []},
        }
        for item in inputs
    ]
    return sorted(rows, key=canonical)


def _version_source(version: Any, run_artifact_uris: dict[str, str]) -> dict[str, Any]:
    """How a version's files are found: a logged model, a path in a run's artifacts, or as is."""
    model_id = getattr(version, "model_id", None) or _model_id_of(version.source)
    if model_id:
        return {"kind": "logged_model", "model_id": model_id}
    run_id = version.run_id
    base = run_artifact_uris.get(run_id or "")
    if base and version.source.startswith(base.rstrip("/") + "/"):
        return {"kind": "run", "path": version.source[len(base.rstrip("/")) + 1 :]}
    if run_id and version.source.startswith(f"runs:/{run_id}/"):
        return {"kind": "run", "path": version.source.removeprefix(f"runs:/{run_id}/")}
    return {"kind": "uri", "uri": version.source}


def read_store(
    client: Any,
    uri: str,
    experiments: list[str],
    registered_model: str | None,
    artifacts_to: Path,
    *,
    progress: Progress = _quiet,
    mapped: Mapping | None = None,
) -> Snapshot:
    """The history in the store, as a snapshot; artifacts are downloaded under `artifacts_to`.

    Without `mapped` (export): every active run and logged model of the experiments, those the
    registered model's versions come from, and every version. With `mapped` (the client side
    of a reconciliation): only entities carrying a mapping tag whose value is in the bundle,
    with their ids translated to the bundle's.
    """
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    exp_by_id: dict[str, Any] = {}
    for name in experiments:
        found = client.get_experiment_by_name(name)
        if found is not None:
            exp_by_id[found.experiment_id] = found

    def experiment_name(experiment_id: str) -> str:
        if experiment_id not in exp_by_id:
            exp_by_id[experiment_id] = client.get_experiment(experiment_id)
        name = exp_by_id[experiment_id].name
        return mapped.experiment_back.get(name, name) if mapped else name

    ids = list(exp_by_id)
    runs = (
        _paged(
            client.search_runs,
            experiment_ids=ids,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
        )
        if ids
        else []
    )
    models = _paged(client.search_logged_models, experiment_ids=ids) if ids else []
    registry = None
    versions: list[Any] = []
    if registered_model:
        try:
            registry = client.get_registered_model(registered_model)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        if registry is not None:
            versions = _paged(
                client.search_model_versions, filter_string=f"name = '{registered_model}'"
            )

    if mapped is not None:
        runs = [r for r in runs if r.data.tags.get(SOURCE_RUN_TAG) in mapped.runs]
        models = [m for m in models if m.tags.get(SOURCE_MODEL_TAG) in mapped.models]
        versions = [v for v in versions if v.tags.get(SOURCE_VERSION_TAG) in mapped.versions]
    else:  # versions may come from runs and models outside the experiment: take them along
        have_runs = {r.info.run_id for r in runs}
        have_models = {m.model_id for m in models}
        for v in versions:
            model_id = getattr(v, "model_id", None) or _model_id_of(v.source)
            if model_id and model_id not in have_models:
                with contextlib.suppress(MlflowException):
                    models.append(client.get_logged_model(model_id))
                    have_models.add(model_id)
        wanted = {m.source_run_id for m in models} | {v.run_id for v in versions}
        for run_id in sorted(r for r in wanted if r and r not in have_runs):
            with contextlib.suppress(MlflowException):
                run = client.get_run(run_id)
                if run.info.lifecycle_stage == "active":
                    runs.append(run)

    run_ids = {
        r.info.run_id: r.data.tags.get(SOURCE_RUN_TAG) if mapped else r.info.run_id for r in runs
    }
    model_ids = {m.model_id: m.tags.get(SOURCE_MODEL_TAG) if mapped else m.model_id for m in models}

    def run_id_of(run_id: str | None) -> str | None:
        return run_ids.get(run_id or "", run_id) if run_id else None

    def model_id_of(model_id: str | None) -> str | None:
        return model_ids.get(model_id or "", model_id) if model_id else None

    def own_tags(tags: dict[str, str], entity: str) -> dict[str, str]:
        return {
            k: v for k, v in tags.items() if k not in MAPPING_TAGS and k not in STORE_TAGS[entity]
        }

    snapshot = Snapshot()
    # Logged models first: their metrics carry the run's model links.
    links: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n, m in enumerate(sorted(models, key=lambda m: m.model_id), 1):
        progress(f"logged model {n}/{len(models)}: {m.name} ({m.model_id})")
        full = client.get_logged_model(m.model_id)
        for metric in full.metrics or []:
            if metric.run_id in run_ids:
                links[metric.run_id].append(
                    {
                        "key": metric.key,
                        "value": metric.value,
                        "step": int(metric.step),
                        "timestamp": int(metric.timestamp),
                        "model_id": model_id_of(m.model_id),
                        "dataset_name": metric.dataset_name or None,
                        "dataset_digest": metric.dataset_digest or None,
                    }
                )
        own_id = model_id_of(m.model_id)
        snapshot.models.append(
            {
                "model_id": own_id,
                "experiment": experiment_name(m.experiment_id),
                "name": m.name,
                "model_type": m.model_type or None,
                "status": getattr(m.status, "value", str(m.status)),
                "source_run_id": run_id_of(m.source_run_id),
                "params": dict(full.params or {}),
                "tags": own_tags(dict(full.tags or {}), "logged_model"),
            }
        )
        snapshot.artifacts[f"models/{own_id}"] = _artifacts(
            uri, m.artifact_location, artifacts_to / "models" / str(own_id)
        )

    run_artifact_uris: dict[str, str] = {}
    for n, summary in enumerate(sorted(runs, key=lambda r: r.info.run_id), 1):
        run = client.get_run(summary.info.run_id)
        info = run.info
        run_artifact_uris[info.run_id] = info.artifact_uri
        own_id = run_id_of(info.run_id)
        progress(f"run {n}/{len(runs)}: {info.run_name} ({info.run_id})")
        points = [
            point
            for key in sorted(run.data.metrics)
            for point in client.get_metric_history(info.run_id, key)
        ]
        outputs = getattr(run.outputs, "model_outputs", None) or []
        model_inputs = getattr(run.inputs, "model_inputs", None) or []
        snapshot.runs.append(
            {
                "run_id": own_id,
                "experiment": experiment_name(info.experiment_id),
                "name": info.run_name,
                "status": info.status,
                "start_time": info.start_time,
                "end_time": info.end_time,
                "params": dict(run.data.params),
                "tags": own_tags(dict(run.data.tags), "run"),
                "metrics": _metric_rows(points, links.get(info.run_id, [])),
                "datasets": _dataset_inputs(run),
                "model_inputs": sorted({model_id_of(i.model_id) or "" for i in model_inputs}),
                "model_outputs": sorted(
                    ({"model_id": model_id_of(o.model_id), "step": int(o.step)} for o in outputs),
                    key=canonical,
                ),
            }
        )
        snapshot.artifacts[f"runs/{own_id}"] = _artifacts(
            uri, info.artifact_uri, artifacts_to / "runs" / str(own_id)
        )

    snapshot.experiments = sorted(
        (
            {"name": experiment_name(eid), "tags": dict(e.tags or {})}
            for eid, e in exp_by_id.items()
        ),
        key=lambda e: e["name"],
    )

    if registry is not None:
        aliases = {alias: str(number) for alias, number in (registry.aliases or {}).items()}
        number_of = {
            str(v.version): (v.tags.get(SOURCE_VERSION_TAG) if mapped else str(v.version))
            for v in versions
        }
        snapshot.registry = {
            "name": registry.name,
            "description": registry.description or "",
            "tags": own_tags(dict(registry.tags or {}), "registered_model"),
            "versions": sorted(
                (
                    {
                        "version": number_of[str(v.version)],
                        "run_id": run_id_of(v.run_id),
                        "source": _translate_source(
                            _version_source(v, run_artifact_uris), model_id_of
                        ),
                        "description": v.description or "",
                        "status": str(v.status),
                        "tags": own_tags(dict(v.tags or {}), "version"),
                    }
                    for v in versions
                ),
                key=lambda v: (
                    int(v["version"]) if str(v["version"]).isdigit() else 0,
                    canonical(v),
                ),
            ),
            "aliases": {
                alias: number_of[number] for alias, number in aliases.items() if number in number_of
            },
        }
    return snapshot


def _translate_source(source: dict[str, Any], model_id_of: Callable[[str | None], Any]) -> dict:
    if source["kind"] == "logged_model":
        return {**source, "model_id": model_id_of(source["model_id"])}
    return source


def _artifacts(uri: str, artifact_uri: str, dest: Path) -> dict[str, tuple[str, int]]:
    _download(uri, artifact_uri, dest / "artifacts")
    return tree_files(dest / "artifacts")


# ---------------------------------------------------------------------------------------------
# Records and checksums: the reconciliation's common ground


def records(snapshot: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """The snapshot as normalised records per report item, each list sorted."""
    out: dict[str, list[dict[str, Any]]] = {item: [] for item in ITEMS}
    for run in snapshot.runs:
        rid = run["run_id"]
        out["runs"].append({"run": rid, **{k: run[k] for k in RUN_FIELDS}})
        out["params"] += [{"run": rid, "key": k, "value": v} for k, v in run["params"].items()]
        out["metrics"] += [{"run": rid, **row} for row in run["metrics"]]
        out["tags"] += [
            {"entity": "run", "id": rid, "key": k, "value": v} for k, v in run["tags"].items()
        ]
        out["datasets"] += [{"run": rid, **d} for d in run["datasets"]]
    for m in snapshot.models:
        out["logged_models"].append({"model": m["model_id"], **{k: m[k] for k in MODEL_FIELDS}})
        out["tags"] += [
            {"entity": "logged_model", "id": m["model_id"], "key": k, "value": v}
            for k, v in m["tags"].items()
        ]
    for owner, files in snapshot.artifacts.items():
        out["artifacts"] += [
            {"owner": owner, "path": path, "sha256": sha, "size": size}
            for path, (sha, size) in files.items()
        ]
    if registry := snapshot.registry:
        out["registered_model"].append({"description": registry["description"]})
        out["tags"] += [
            {"entity": "registered_model", "id": "", "key": k, "value": v}
            for k, v in registry["tags"].items()
        ]
        for v in registry["versions"]:
            out["versions"].append({k: v[k] for k in VERSION_FIELDS})
            out["tags"] += [
                {"entity": "version", "id": v["version"], "key": k, "value": value}
                for k, value in v["tags"].items()
            ]
        out["aliases"] += [
            {"alias": alias, "version": number} for alias, number in registry["aliases"].items()
        ]
    return {item: sorted(rows, key=canonical) for item, rows in out.items()}


def checksum(rows: list[dict[str, Any]]) -> str:
    """sha256 of the records' canonical JSON, one per line, sorted."""
    return hashlib.sha256("\n".join(canonical(r) for r in rows).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Writing and reading a bundle


def write_snapshot(snapshot: Snapshot, root: Path) -> None:
    """The bundle's JSON files (artifacts are already under runs/ and models/)."""
    (root / "README.md").write_text(README, encoding="utf-8")
    (root / "experiments.json").write_bytes(dump(snapshot.experiments))
    for run in snapshot.runs:
        folder = root / "runs" / run["run_id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_bytes(dump(run))
    for model in snapshot.models:
        folder = root / "models" / model["model_id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_bytes(dump(model))
    (root / "registry.json").write_bytes(dump(snapshot.registry))


def _manifest(root: Path, snapshot: Snapshot, source: dict[str, Any]) -> dict[str, Any]:
    import mlflow

    files = {path: {"sha256": sha, "size": size} for path, (sha, size) in tree_files(root).items()}
    files.pop(MANIFEST, None)
    recs = records(snapshot)
    return {
        "kind": KIND,
        "format": FORMAT,
        "mlflow_version": mlflow.__version__,
        "exported_by": "mlops-handover",
        "source": source,
        "counts": {item: len(rows) for item, rows in recs.items()},
        "checksums": {item: checksum(rows) for item, rows in recs.items()},
        "files": files,
    }


def _json(path: Path, where: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise HandoverError(f"{where}: not valid JSON ({error})", 2) from None


@dataclass
class Bundle:
    root: Path
    manifest: dict[str, Any]
    snapshot: Snapshot


def load_bundle(root: Path, dvc_hint: Path | None = None) -> Bundle:
    """Read and verify a bundle completely; exit 2 (HandoverError) on any problem.

    Checked before anything is written: the manifest (kind, format, MLflow version), every
    file's sha256 and size, no file outside the manifest, valid JSON of the expected shape,
    and the manifest's counts and checksums against the files.
    """
    import mlflow

    if not root.is_dir():
        if dvc_hint is not None and dvc_hint.is_file():
            raise HandoverError(
                f"no bundle at {root}, but {DEFAULT_BUNDLE.as_posix()}.dvc tracks it in DVC: "
                f"fetch it first with `dvc pull {DEFAULT_BUNDLE.as_posix()}.dvc`, then import",
                2,
            )
        raise HandoverError(
            f"no bundle at {root}: the vendor writes it with `handover history export` (or pass "
            "--from DIR)",
            2,
        )
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise HandoverError(f"{manifest_path}: missing; {root} is not a history bundle", 2)
    manifest = _json(manifest_path, str(manifest_path))
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise HandoverError(f"{manifest_path}: not a manifest of kind {KIND!r}", 2)
    fmt = manifest.get("format")
    if not isinstance(fmt, int) or fmt < 1:
        raise HandoverError(f"{manifest_path}: invalid format {fmt!r}", 2)
    if fmt > FORMAT:
        from mlops_handover import __version__

        raise HandoverError(
            f"{manifest_path}: bundle format {fmt} is newer than format {FORMAT}, the newest "
            f"this mlops-handover ({__version__}) reads: upgrade mlops-handover "
            '(pip install -U "mlops-handover[generate]") and import again',
            2,
        )
    exported_with = str(manifest.get("mlflow_version") or "")
    theirs, ours = _major_minor(exported_with), _major_minor(mlflow.__version__)
    if theirs is None:
        raise HandoverError(f"{manifest_path}: invalid mlflow_version {exported_with!r}", 2)
    # The bundle's format versions its contents; within one MLflow major the client API that
    # writes them is stable, so a vendor a minor release ahead (`handover new` runs the tool's
    # MLflow, the project's lock may pin an older one) still imports. A newer major may hold
    # entities this MLflow cannot store.
    if ours is not None and theirs[0] > ours[0]:
        raise HandoverError(
            f"the bundle was exported with MLflow {exported_with}, a newer major release than "
            f"the MLflow {mlflow.__version__} installed here: upgrade MLflow to "
            f"{theirs[0]}.{theirs[1]} or later (pip install -U "
            f'"mlflow>={theirs[0]}.{theirs[1]}"; in a generated project, '
            "raise its pin and lock) and import again",
            2,
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise HandoverError(f"{manifest_path}: lists no files", 2)
    resolved = root.resolve()
    for name, entry in sorted(files.items()):
        path = (root / name).resolve()
        if not str(path).startswith(str(resolved) + os.sep) or name == MANIFEST:
            raise HandoverError(f"{manifest_path}: invalid file name {name!r}", 2)
        if not path.is_file():
            raise HandoverError(f"{root / name}: listed in the manifest but missing", 2)
        if not isinstance(entry, dict) or file_sha256(path) != entry.get("sha256"):
            raise HandoverError(
                f"{root / name}: its sha256 differs from the manifest's: the file was changed "
                "or damaged after the export (export again, or restore it with `dvc pull`)",
                2,
            )
    extra = sorted(set(tree_files(root)) - set(files) - {MANIFEST})
    if extra:
        raise HandoverError(
            f"{root / extra[0]}: not in the manifest"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
            + ": the bundle was changed after the export; remove it or export again",
            2,
        )
    snapshot = Snapshot(
        experiments=_json(root / "experiments.json", f"{root}/experiments.json"),
        registry=_json(root / "registry.json", f"{root}/registry.json"),
    )
    for name in sorted(files):
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "runs" and parts[2] == "run.json":
            snapshot.runs.append(_json(root / name, str(root / name)))
        elif len(parts) == 3 and parts[0] == "models" and parts[2] == "model.json":
            snapshot.models.append(_json(root / name, str(root / name)))
        elif len(parts) > 3 and parts[0] in ("runs", "models") and parts[2] == "artifacts":
            entry = files[name]
            snapshot.artifacts.setdefault(f"{parts[0]}/{parts[1]}", {})["/".join(parts[3:])] = (
                entry["sha256"],
                int(entry.get("size", 0)),
            )
    _check_shape(root, snapshot)
    for run in snapshot.runs:
        snapshot.artifacts.setdefault(f"runs/{run['run_id']}", {})
    for model in snapshot.models:
        snapshot.artifacts.setdefault(f"models/{model['model_id']}", {})
    recs = records(snapshot)
    if manifest.get("checksums") != {item: checksum(rows) for item, rows in recs.items()}:
        raise HandoverError(
            f"{manifest_path}: its counts and checksums do not match the bundle's files", 2
        )
    return Bundle(root, manifest, snapshot)


def _check_shape(root: Path, snapshot: Snapshot) -> None:
    """Enough structure for the import not to fail halfway on a malformed bundle."""

    def need(ok: bool, where: str, what: str) -> None:
        if not ok:
            raise HandoverError(f"{root / where}: {what}", 2)

    need(isinstance(snapshot.experiments, list), "experiments.json", "expected a list")
    names = {e.get("name") for e in snapshot.experiments if isinstance(e, dict)}
    run_keys = {
        "run_id",
        "experiment",
        "name",
        "status",
        "start_time",
        "end_time",
        "params",
        "tags",
        "metrics",
        "datasets",
        "model_inputs",
        "model_outputs",
    }
    for run in snapshot.runs:
        where = f"runs/{run.get('run_id') if isinstance(run, dict) else '?'}/run.json"
        need(
            isinstance(run, dict) and run_keys <= set(run),
            where,
            "a run without "
            + ", ".join(sorted(run_keys - set(run if isinstance(run, dict) else ()))),
        )
        need(run["experiment"] in names, where, f"unknown experiment {run['experiment']!r}")
        need(run["status"] in RUN_STATUSES, where, f"unknown status {run['status']!r}")
        need(
            all(
                isinstance(m, dict) and {"key", "value", "step", "timestamp"} <= set(m)
                for m in run["metrics"]
            ),
            where,
            "a metric point without key, value, step or timestamp",
        )
    model_keys = {"model_id", "experiment", "name", "status", "source_run_id", "params", "tags"}
    model_ids = set()
    for model in snapshot.models:
        where = f"models/{model.get('model_id') if isinstance(model, dict) else '?'}/model.json"
        need(isinstance(model, dict) and model_keys <= set(model), where, "incomplete model")
        need(model["experiment"] in names, where, f"unknown experiment {model['experiment']!r}")
        model_ids.add(model["model_id"])
    registry = snapshot.registry
    if registry is None:
        return
    need(
        isinstance(registry, dict) and {"name", "versions", "aliases"} <= set(registry),
        "registry.json",
        "expected name, versions and aliases",
    )
    numbers = set()
    for v in registry["versions"]:
        need(str(v.get("version", "")).isdigit(), "registry.json", f"bad version {v!r}")
        source = v.get("source") or {}
        need(
            source.get("kind") in ("logged_model", "run", "uri"),
            "registry.json",
            f"version {v['version']}: unknown source {source!r}",
        )
        if source["kind"] == "logged_model":
            need(
                source.get("model_id") in model_ids,
                "registry.json",
                f"version {v['version']}: its logged model {source.get('model_id')} is not "
                "in the bundle",
            )
        numbers.add(str(v["version"]))
    for alias, number in registry["aliases"].items():
        need(str(number) in numbers, "registry.json", f"alias {alias!r}: no version {number}")


# ---------------------------------------------------------------------------------------------
# Export


@dataclass
class ExportResult:
    bundle: str
    tracking_uri: str
    experiment: str
    registered_model: str | None
    format: int
    mlflow_version: str
    counts: dict[str, int]
    files: int
    bytes: int
    changed: bool  # the bundle differs from what was there before
    dvc_file: str | None  # history/mlflow.dvc after `dvc add`, else None
    next_steps: list[str]
    seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def summary(self) -> str:
        c = self.counts
        lines = [
            f"Exported the MLflow history of {self.tracking_uri} (experiment {self.experiment!r}"
            + (f", registered model {self.registered_model!r}" if self.registered_model else "")
            + f") to {self.bundle}: format {self.format}, MLflow {self.mlflow_version}, "
            f"{self.files} files, {_size(self.bytes)}" + ("" if self.changed else " (unchanged)"),
            f"  runs {c['runs']} · params {c['params']} · metric points {c['metrics']} · "
            f"tags {c['tags']} · dataset inputs {c['datasets']} · artifact files "
            f"{c['artifacts']} · logged models {c['logged_models']} · versions "
            f"{c['versions']} · aliases {c['aliases']}",
        ]
        if self.next_steps:
            lines.append("Next:")
            lines += [f"  {step}" for step in self.next_steps]
        return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def export_history(
    project: str | os.PathLike[str] = ".",
    to: str | os.PathLike[str] | None = None,
    *,
    experiment: str | None = None,
    model: str | None = None,
    progress: Progress = _quiet,
) -> ExportResult:
    """Write the project's MLflow history to a bundle; `dvc add` it when it is the default one."""
    started = time.monotonic()
    target = resolve_target(project, experiment, model)
    default = target.project / DEFAULT_BUNDLE
    dest = Path(to).resolve() if to else default
    if (db := target.sqlite_file) is not None and not db.is_file():
        raise HandoverError(
            f"no MLflow database at {db}: nothing to export (the history is where the pipeline "
            "ran; run this where `dvc repro` was run, or set MLFLOW_TRACKING_URI)",
            1,
        )
    check_server(target.uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.export-", dir=dest.parent))
    try:
        with mlflow_client(target.uri) as client:
            if client.get_experiment_by_name(target.experiment) is None:
                raise HandoverError(
                    f"no experiment {target.experiment!r} in {target.shown}: nothing to export "
                    "(pass --experiment NAME to name another)",
                    1,
                )
            progress(f"reading {target.shown}")
            snapshot = read_store(
                client,
                target.uri,
                [target.experiment],
                target.registered_model,
                work,
                progress=progress,
            )
        write_snapshot(snapshot, work)
        source = {
            "tracking_uri": target.shown,
            "experiment": target.experiment,
            "registered_model": target.registered_model if snapshot.registry is not None else None,
        }
        manifest = _manifest(work, snapshot, source)
        (work / MANIFEST).write_bytes(dump(manifest))
        old = dest / MANIFEST
        changed = not (old.is_file() and old.read_bytes() == (work / MANIFEST).read_bytes())
        if changed or not dest.is_dir():
            _replace_dir(work, dest)
        else:
            shutil.rmtree(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    files = manifest["files"]
    dvc_file, steps = None, []
    if dest == default and (target.project / ".dvc").is_dir():
        progress(f"dvc add {DEFAULT_BUNDLE.as_posix()}")
        _dvc_add(target.project, DEFAULT_BUNDLE)
        dvc_file = f"{DEFAULT_BUNDLE.as_posix()}.dvc"
        steps = [
            f"git add {dvc_file} {DEFAULT_BUNDLE.parent.as_posix()}/.gitignore && git commit -m "
            '"MLflow history bundle"',
            "dvc push    # the bundle goes to the client's DVC remote",
        ]
    elif dest == default:
        steps = [f"commit {DEFAULT_BUNDLE.as_posix()}/ (no DVC here) or copy it to the client"]
    return ExportResult(
        bundle=_shown_path(dest, target.project),
        tracking_uri=target.shown,
        experiment=target.experiment,
        registered_model=source["registered_model"],
        format=FORMAT,
        mlflow_version=manifest["mlflow_version"],
        counts=manifest["counts"],
        files=len(files) + 1,
        bytes=sum(f["size"] for f in files.values()) + (dest / MANIFEST).stat().st_size,
        changed=changed,
        dvc_file=dvc_file,
        next_steps=steps,
        seconds=round(time.monotonic() - started, 2),
    )


def _shown_path(path: Path, project: Path) -> str:
    try:
        return path.relative_to(project).as_posix() or "."
    except ValueError:
        return str(path)


def _replace_dir(new: Path, dest: Path) -> None:
    """Put `new` in place of `dest` (a sibling), so a failed export leaves the old bundle."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        dest.rename(old)
        new.rename(dest)
        shutil.rmtree(old)
    else:
        new.rename(dest)


def _dvc_add(project: Path, bundle: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("dvc") is None:
        raise HandoverError(
            f"the bundle is written to {bundle}, but DVC is not installed here to track it: "
            f'install it (pip install "mlops-handover[generate]") and run `dvc add {bundle}`',
            1,
        )
    ran = subprocess.run(
        [sys.executable, "-m", "dvc", "add", bundle.as_posix()],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if ran.returncode != 0:
        raise HandoverError(
            f"the bundle is written to {bundle}, but `dvc add {bundle}` failed:\n"
            f"{(ran.stderr or ran.stdout).strip()}",
            1,
        )


# ---------------------------------------------------------------------------------------------
# Import


@dataclass
class Mapping:
    """Bundle ids -> ids in the client's store (and the experiment names back)."""

    runs: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    experiment_back: dict[str, str] = field(default_factory=dict)  # client name -> bundle name


@dataclass
class Item:
    item: str
    bundle_count: int
    bundle_checksum: str
    store_count: int
    store_checksum: str
    missing: list[str] = field(default_factory=list)  # in the bundle, not in the store
    unexpected: list[str] = field(default_factory=list)  # in the store, not in the bundle

    @property
    def ok(self) -> bool:
        return (self.bundle_count, self.bundle_checksum) == (self.store_count, self.store_checksum)


@dataclass
class ImportResult:
    bundle: str
    tracking_uri: str
    format: int
    exported_with_mlflow: str
    source_tracking_uri: str
    experiment: str
    registered_model: str | None
    created: dict[str, int]
    already_imported: dict[str, int]
    redone: dict[str, int]  # left incomplete by an interrupted import, deleted and recreated
    aliases: dict[str, dict[str, str | None]]  # alias -> {"version", "before"}
    mapping: dict[str, Any]
    reconciliation: list[Item]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.reconciliation)

    def to_json(self) -> str:
        data = asdict(self)
        data["reconciliation"] = {
            "ok": self.ok,
            "items": [
                {
                    "item": i.item,
                    "ok": i.ok,
                    "bundle": {"count": i.bundle_count, "checksum": i.bundle_checksum},
                    "store": {"count": i.store_count, "checksum": i.store_checksum},
                    "missing": i.missing,
                    "unexpected": i.unexpected,
                }
                for i in self.reconciliation
            ],
        }
        data["ok"] = self.ok
        return json.dumps(data, indent=2)

    def summary(self) -> str:
        c, a, r = self.created, self.already_imported, self.redone
        moved = {k: v for k, v in self.aliases.items() if v["before"] != v["version"]}
        lines = [
            f"Imported {self.bundle} (format {self.format}, exported with MLflow "
            f"{self.exported_with_mlflow} from {self.source_tracking_uri}) into "
            f"{self.tracking_uri}, experiment {self.experiment!r}"
            + (f", registered model {self.registered_model!r}" if self.registered_model else ""),
            f"  created: {c['runs']} runs, {c['logged_models']} logged models, "
            f"{c['versions']} versions; already imported: {a['runs']} runs, "
            f"{a['logged_models']} logged models, {a['versions']} versions"
            + (
                f"; redone after an interrupted import: {r['runs']} runs, {r['logged_models']} "
                "logged models"
                if any(r.values())
                else ""
            ),
        ]
        versions = self.mapping["versions"]
        if versions:
            pairs = ", ".join(f"{old} -> {new}" for old, new in versions.items())
            lines.append(f"  versions (bundle -> store): {pairs}")
        if gaps := self.mapping["version_gaps"]:
            lines.append(
                "  version numbers missing in the bundle (deleted in the source): "
                + ", ".join(gaps)
            )
        if note := self.mapping["versions_note"]:
            lines.append(f"  {note}")
        if self.aliases:
            lines.append(
                "  aliases: "
                + ", ".join(
                    f"{k} -> {v['version']}"
                    + (f" (was {v['before']})" if k in moved and v["before"] else "")
                    + (" (set)" if k in moved and not v["before"] else "")
                    for k, v in sorted(self.aliases.items())
                )
            )
        lines += ["", "Reconciliation: bundle | client store (read back after the import)"]
        width = max(len(i.item) for i in self.reconciliation)
        lines.append(
            f"  {'item':<{width}}  {'bundle':>7} {'checksum':<12}  {'store':>7} {'checksum':<12}"
        )
        for i in self.reconciliation:
            lines.append(
                f"  {i.item:<{width}}  {i.bundle_count:>7} {i.bundle_checksum[:12]}  "
                f"{i.store_count:>7} {i.store_checksum[:12]}  {'ok' if i.ok else 'DIFFERS'}"
            )
            for what, rows in (
                ("missing in the store", i.missing),
                ("only in the store", i.unexpected),
            ):
                lines += [f"      {what}: {row}" for row in rows]
        if self.ok:
            lines.append("OK: the client store holds everything in the bundle.")
        else:
            lines += [
                "FAILED: the client store differs from the bundle (see above). Ids are the "
                "bundle's: the tags",
                f"  {SOURCE_RUN_TAG}, {SOURCE_MODEL_TAG} and {SOURCE_VERSION_TAG} find them "
                "here. The import never",
                "  overwrites what is there: to start over, import into an empty store (the "
                "default one: move mlflow.db and mlruns/ aside).",
            ]
        return "\n".join(lines)


def import_history(
    project: str | os.PathLike[str] = ".",
    source: str | os.PathLike[str] | None = None,
    *,
    experiment: str | None = None,
    model: str | None = None,
    progress: Progress = _quiet,
) -> ImportResult:
    """Verify the bundle, recreate its history in the project's store, reconcile."""
    started = time.monotonic()
    root = Path(project).resolve()
    bundle_dir = Path(source).resolve() if source else root / DEFAULT_BUNDLE
    hint = None if source else root / f"{DEFAULT_BUNDLE.as_posix()}.dvc"
    bundle = load_bundle(bundle_dir, hint)  # everything is checked before anything is written
    snap = bundle.snapshot
    src = bundle.manifest.get("source") or {}
    main_experiment = str(
        src.get("experiment") or (snap.experiments[0]["name"] if snap.experiments else "")
    )
    try:
        target = resolve_target(root, experiment, model)
    except HandoverError:
        if experiment or not main_experiment:
            raise
        target = resolve_target(root, main_experiment, model)
    if snap.registry is not None and not target.registered_model:
        target = Target(**{**asdict(target), "registered_model": snap.registry["name"]})
    check_server(target.uri)
    progress(f"bundle {bundle_dir} verified: {len(bundle.manifest['files'])} files")

    renamed = {main_experiment: target.experiment} if main_experiment else {}
    mapping = Mapping(experiment_back={new: old for old, new in renamed.items()})
    counters = {k: defaultdict(int) for k in ("created", "already", "redone")}
    aliases: dict[str, dict[str, str | None]] = {}
    gaps: list[str] = []
    with mlflow_client(target.uri) as client:
        exp_ids = _ensure_experiments(client, snap, renamed, target)
        _import_runs_and_models(client, bundle, exp_ids, renamed, mapping, counters, progress)
        if snap.registry is not None:
            gaps = _import_registry(
                client, snap, target.registered_model, mapping, counters, aliases, progress
            )
        progress("reading the client store back for the reconciliation")
        with tempfile.TemporaryDirectory(prefix="handover-reconcile-") as scratch:
            back = read_store(
                client,
                target.uri,
                sorted(exp_ids.values()),
                target.registered_model if snap.registry is not None else None,
                Path(scratch),
                mapped=mapping,
            )
    items = reconcile(records(snap), records(back))
    numbers_equal = all(old == new for old, new in mapping.versions.items())
    return ImportResult(
        bundle=_shown_path(bundle_dir, root),
        tracking_uri=target.shown,
        format=int(bundle.manifest["format"]),
        exported_with_mlflow=str(bundle.manifest.get("mlflow_version")),
        source_tracking_uri=str(src.get("tracking_uri", "?")),
        experiment=target.experiment,
        registered_model=target.registered_model if snap.registry is not None else None,
        created={
            k: counters["created"][k]
            for k in (
                "runs",
                "logged_models",
                "versions",
                "placeholder_versions",
                "registered_model",
            )
        },
        already_imported={k: counters["already"][k] for k in ("runs", "logged_models", "versions")},
        redone={k: counters["redone"][k] for k in ("runs", "logged_models")},
        aliases=aliases,
        mapping={
            "runs": dict(sorted(mapping.runs.items())),
            "logged_models": dict(sorted(mapping.models.items())),
            "versions": dict(sorted(mapping.versions.items(), key=lambda kv: int(kv[0]))),
            "version_gaps": gaps,
            "versions_note": (
                "this store held versions before, so the numbers differ: see the mapping"
                if not numbers_equal
                else "the gaps are kept here too, so the numbers are the same (MLflow never "
                "reuses a number: the import registers a placeholder in each gap and deletes it)"
                if gaps
                else ""
            ),
        },
        reconciliation=items,
        seconds=round(time.monotonic() - started, 2),
    )


def _ensure_experiments(
    client: Any, snap: Snapshot, renamed: dict[str, str], target: Target
) -> dict[str, str]:
    """Client experiment id -> name, created (with the project's artifact root) if absent."""
    ids = {}
    for exp in snap.experiments:
        name = renamed.get(exp["name"], exp["name"])
        found = client.get_experiment_by_name(name)
        if found is None:
            experiment_id = client.create_experiment(
                name, artifact_location=target.artifact_root, tags=exp.get("tags") or None
            )
        elif found.lifecycle_stage != "active":
            raise HandoverError(
                f"experiment {name!r} is deleted in {target.shown}: restore it "
                f"(mlflow experiments restore --experiment-id {found.experiment_id}) or delete "
                "it for good, then import again",
                1,
            )
        else:
            experiment_id = found.experiment_id
        ids[experiment_id] = name
    return ids


def _import_runs_and_models(
    client: Any,
    bundle: Bundle,
    exp_ids: dict[str, str],
    renamed: dict[str, str],
    mapping: Mapping,
    counters: dict[str, dict[str, int]],
    progress: Progress,
) -> None:
    from mlflow.entities import (
        Dataset,
        DatasetInput,
        InputTag,
        LoggedModelInput,
        LoggedModelOutput,
        Metric,
        Param,
        ViewType,
    )

    snap, root = bundle.snapshot, bundle.root
    id_of = {name: eid for eid, name in exp_ids.items()}

    def exp_id(name: str) -> str:
        return id_of[renamed.get(name, name)]

    runs = _paged(
        client.search_runs,
        experiment_ids=list(exp_ids),
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=1000,
    )
    existing_runs: dict[str, list[Any]] = defaultdict(list)
    for run in runs:
        if (old := run.data.tags.get(SOURCE_RUN_TAG)) is not None:
            existing_runs[old].append(run)
    models = _paged(client.search_logged_models, experiment_ids=list(exp_ids))
    existing_models: dict[str, list[Any]] = defaultdict(list)
    for m in models:
        if (old := m.tags.get(SOURCE_MODEL_TAG)) is not None:
            existing_models[old].append(m)

    bundle_runs = sorted(snap.runs, key=lambda r: (r["start_time"] or 0, r["run_id"]))
    new_runs: list[dict[str, Any]] = []
    for run in bundle_runs:
        old = run["run_id"]
        complete = [r for r in existing_runs.get(old, []) if INCOMPLETE_TAG not in r.data.tags]
        for leftover in existing_runs.get(old, []):
            if INCOMPLETE_TAG in leftover.data.tags:
                client.delete_run(leftover.info.run_id)
                counters["redone"]["runs"] += 1
        if complete:
            mapping.runs[old] = complete[0].info.run_id
            counters["already"]["runs"] += 1
            continue
        progress(f"run {old} ({run['name']}): creating")
        tags = {k: v for k, v in run["tags"].items() if k != "mlflow.runName"}
        tags |= {SOURCE_RUN_TAG: old, INCOMPLETE_TAG: "true"}
        created = client.create_run(
            exp_id(run["experiment"]),
            start_time=run["start_time"],
            tags=tags,
            run_name=run["name"],
        )
        new_id = created.info.run_id
        mapping.runs[old] = new_id
        counters["created"]["runs"] += 1
        params = [Param(k, v) for k, v in sorted(run["params"].items())]
        for chunk in _chunks(params, 100):
            client.log_batch(new_id, params=chunk)
        datasets = [
            DatasetInput(
                Dataset(
                    d["name"],
                    d["digest"],
                    d["source_type"],
                    d["source"],
                    d.get("schema"),
                    d.get("profile"),
                ),
                tags=[InputTag(k, v) for k, v in sorted((d.get("tags") or {}).items())],
            )
            for d in run["datasets"]
        ]
        if datasets:
            client.log_inputs(new_id, datasets=datasets)
        artifacts = root / "runs" / old / "artifacts"
        if artifacts.is_dir():
            client.log_artifacts(new_id, str(artifacts))
        new_runs.append(run)

    reused_runs = {mapping.runs[r["run_id"]] for r in bundle_runs if r not in new_runs}
    for model in sorted(snap.models, key=lambda m: m["model_id"]):
        old = model["model_id"]
        source_run = mapping.runs.get(model["source_run_id"] or "")
        keep = [
            m
            for m in existing_models.get(old, [])
            if INCOMPLETE_TAG not in m.tags
            and (m.source_run_id or None) == source_run
            and (source_run is None or source_run in reused_runs)
        ]
        for stale in existing_models.get(old, []):
            if not keep or stale is not keep[0]:
                client.delete_logged_model(stale.model_id)
                if INCOMPLETE_TAG in stale.tags:
                    counters["redone"]["logged_models"] += 1
        if keep:
            mapping.models[old] = keep[0].model_id
            counters["already"]["logged_models"] += 1
            continue
        progress(f"logged model {old} ({model['name']}): creating")
        created = client.create_logged_model(
            exp_id(model["experiment"]),
            name=model["name"],
            source_run_id=source_run,
            tags={**model["tags"], SOURCE_MODEL_TAG: old, INCOMPLETE_TAG: "true"},
            params=model["params"] or None,
            model_type=model.get("model_type"),
        )
        mapping.models[old] = created.model_id
        counters["created"]["logged_models"] += 1
        artifacts = root / "models" / old / "artifacts"
        if artifacts.is_dir():
            client.log_model_artifacts(created.model_id, str(artifacts))
        if model["status"] in ("READY", "FAILED"):
            client.finalize_logged_model(created.model_id, model["status"])
        client.delete_logged_model_tag(created.model_id, INCOMPLETE_TAG)

    for run in new_runs:
        new_id = mapping.runs[run["run_id"]]
        metrics = [
            Metric(
                m["key"],
                m["value"],
                m["timestamp"],
                m["step"],
                model_id=mapping.models.get(m.get("model_id") or "") or None,
                dataset_name=m.get("dataset_name"),
                dataset_digest=m.get("dataset_digest"),
            )
            for m in run["metrics"]
        ]
        for chunk in _chunks(metrics, 1000):
            client.log_batch(new_id, metrics=chunk)
        models_in = [
            LoggedModelInput(mapping.models[i]) for i in run["model_inputs"] if i in mapping.models
        ]
        if models_in:
            client.log_inputs(new_id, models=models_in)
        outputs = [
            LoggedModelOutput(mapping.models[o["model_id"]], o["step"])
            for o in run["model_outputs"]
            if o["model_id"] in mapping.models
        ]
        if outputs:
            client.log_outputs(new_id, outputs)
        if run["status"] in ("FINISHED", "FAILED", "KILLED"):
            client.set_terminated(new_id, status=run["status"], end_time=run["end_time"])
        elif run["status"] != "RUNNING":
            client.update_run(new_id, status=run["status"])
        client.delete_tag(new_id, INCOMPLETE_TAG)


def _import_registry(
    client: Any,
    snap: Snapshot,
    name: str | None,
    mapping: Mapping,
    counters: dict[str, dict[str, int]],
    aliases: dict[str, dict[str, str | None]],
    progress: Progress,
) -> list[str]:
    """Registered model, versions in the source's order (gaps kept), aliases; the gaps."""
    from mlflow.exceptions import MlflowException

    registry = snap.registry
    assert registry is not None and name
    try:
        current = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        current = client.create_registered_model(
            name, tags=registry["tags"] or None, description=registry["description"] or None
        )
        counters["created"]["registered_model"] += 1
    if (current.description or "") != registry["description"]:
        client.update_registered_model(name, description=registry["description"])
    for key, value in registry["tags"].items():
        if (current.tags or {}).get(key) != value:
            client.set_registered_model_tag(name, key, value)

    versions = _paged(client.search_model_versions, filter_string=f"name = '{name}'")
    existing = {v.tags.get(SOURCE_VERSION_TAG): v for v in versions if SOURCE_VERSION_TAG in v.tags}
    for v in versions:
        if PLACEHOLDER_TAG in v.tags:  # left by an interrupted import
            client.delete_model_version(name, v.version)
    highest = max((int(v.version) for v in versions), default=0)
    wanted = [str(v["version"]) for v in registry["versions"]]
    gaps = [str(n) for n in range(1, max(map(int, wanted), default=0) + 1) if str(n) not in wanted]
    for v in sorted(registry["versions"], key=lambda v: int(v["version"])):
        old = str(v["version"])
        if old in existing:
            mapping.versions[old] = str(existing[old].version)
            counters["already"]["versions"] += 1
            continue
        run_id = mapping.runs.get(v["run_id"] or "")
        kind = v["source"]["kind"]
        model_id = (
            mapping.models.get(v["source"].get("model_id") or "")
            if kind == "logged_model"
            else None
        )
        if kind == "logged_model":
            source = f"models:/{model_id}"
        elif kind == "run" and run_id:
            source = (
                client.get_run(run_id).info.artifact_uri.rstrip("/") + "/" + v["source"]["path"]
            )
        else:
            source = v["source"].get("uri") or v["source"].get("path")
        # The same number as in the source when this store allows it: fill a gap with a
        # placeholder version deleted at once (MLflow never reuses a deleted version's number).
        # It has the next version's source: a server accepts no other (a `models:/` source
        # needs its model_id); the logged model's version list is rewritten below.
        while highest + 1 < int(old):
            placeholder = client.create_model_version(
                name, source, run_id=run_id, tags={PLACEHOLDER_TAG: "true"}, model_id=model_id
            )
            client.delete_model_version(name, placeholder.version)
            highest = int(placeholder.version)
            counters["created"]["placeholder_versions"] += 1
        progress(f"version {old}: registering")
        tags = {**v["tags"], SOURCE_VERSION_TAG: old}
        if v["run_id"]:
            tags[SOURCE_RUN_TAG] = v["run_id"]
        created = client.create_model_version(
            name,
            source,
            run_id=run_id,
            tags=tags,
            description=v["description"] or None,
            model_id=model_id,
        )
        highest = max(highest, int(created.version))
        mapping.versions[old] = str(created.version)
        counters["created"]["versions"] += 1

    # MLflow's register_model lists a logged model's versions in a tag; say the same here.
    by_model: dict[str, list[int]] = defaultdict(list)
    for v in registry["versions"]:
        if v["source"]["kind"] == "logged_model" and v["source"]["model_id"] in mapping.models:
            by_model[mapping.models[v["source"]["model_id"]]].append(
                int(mapping.versions[str(v["version"])])
            )
    for model_id, numbers in by_model.items():
        value = json.dumps([{"name": name, "version": n} for n in sorted(numbers)])
        current_tags = client.get_logged_model(model_id).tags or {}
        if current_tags.get(MODEL_VERSIONS_TAG) != value:
            client.set_logged_model_tags(model_id, {MODEL_VERSIONS_TAG: value})

    held = {k: str(v) for k, v in (client.get_registered_model(name).aliases or {}).items()}
    for alias, old in sorted(registry["aliases"].items()):
        new = mapping.versions[str(old)]
        aliases[alias] = {"version": new, "before": held.get(alias)}
        if held.get(alias) != new:
            progress(f"alias {alias} -> version {new}")
            client.set_registered_model_alias(name, alias, new)
    return gaps


def reconcile(
    bundle: dict[str, list[dict[str, Any]]], store: dict[str, list[dict[str, Any]]], shown: int = 5
) -> list[Item]:
    """Per item: counts and checksums on both sides, and (on a difference) what differs."""
    items = []
    for name in ITEMS:
        left, right = bundle[name], store[name]
        item = Item(name, len(left), checksum(left), len(right), checksum(right))
        if not item.ok:
            a = [canonical(r) for r in left]
            b = [canonical(r) for r in right]
            missing, unexpected = _multiset_minus(a, b), _multiset_minus(b, a)
            item.missing = missing[:shown] + (
                [f"... and {len(missing) - shown} more"] if len(missing) > shown else []
            )
            item.unexpected = unexpected[:shown] + (
                [f"... and {len(unexpected) - shown} more"] if len(unexpected) > shown else []
            )
        items.append(item)
    return items


def _multiset_minus(a: list[str], b: list[str]) -> list[str]:
    remaining: dict[str, int] = defaultdict(int)
    for row in b:
        remaining[row] += 1
    out = []
    for row in a:
        if remaining[row]:
            remaining[row] -= 1
        else:
            out.append(row)
    return out
