"""MLflow evidence without importing MLflow: the tracking store and the model registry.

Importing `mlflow` costs seconds, so the audit reads the store itself:

- a local SQLite store (`sqlite:///.../mlflow.db`, MLflow's default since 3.7) is opened read-only
  with `sqlite3` and queried table by table (experiments, runs, tags, latest_metrics, inputs and
  datasets, registered_models, model_versions, registered_model_aliases, model_version_tags,
  logged_models). Columns are checked with `PRAGMA table_info` first, so a store written by
  another MLflow 3.x (or 2.x) version degrades to "unknown" with the missing table named instead
  of failing;
- a tracking server (`http(s)://`) is asked through its REST API (`/api/2.0/mlflow/...`) with
  urllib, `NETWORK_TIMEOUT` per request and HTTP basic auth from MLFLOW_TRACKING_USERNAME and
  MLFLOW_TRACKING_PASSWORD (or a bearer MLFLOW_TRACKING_TOKEN). The first failure (no answer,
  refused credentials) is remembered, so one dead server costs one timeout, not one per check.

The champion's `MLmodel` file says whether the model has a signature and an input example. In
MLflow 3 a model is a LoggedModel: the version's `source` is `models:/m-<id>` and its files are
under the logged model's `artifact_location` (`mlruns/<exp>/models/m-<id>/artifacts/`); MLflow 2
versions point at `runs:/<run>/<path>` or a path. A server serves the file through
`/model-versions/get-artifact` (or the logged model's artifact endpoint).

Fixtures: `tracking_uri` (where the project says its store is, no I/O) and `mlflow`
(`TrackingEvidence`; raises Missing when there is no store, Unavailable when the server is
offline, Unreadable when the file is not a readable MLflow store: corrupt, empty, not a
regular file).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from mlops_handover.audit.fixtures import (
    NETWORK_TIMEOUT,
    Context,
    ProjectFiles,
    fixture,
    load_yaml,
)
from mlops_handover.audit.model import Missing, Unavailable, Unreadable
from mlops_handover.audit.readers import check_readable, read_text
from mlops_handover.tracking_server import redact

CHAMPION = "champion"
PREVIOUS = "previous"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
#: Set by `handover history import` on each run it recreates: the run's id in the bundle.
SOURCE_RUN_TAG = "handover.source_run_id"
#: ... and on each model version it recreates: the version's number in the bundle.
SOURCE_VERSION_TAG = "handover.source_version"
#: Model version tags that carry the commit when the run does not (the template copies the
#: run's lineage onto the version with the `mlflow.source.` prefix removed).
VERSION_COMMIT_TAGS = (GIT_COMMIT_TAG, "git.commit")
DELETED_STAGE = "Deleted_Internal"
#: How many runs a server is asked for when counting (one page); more is reported as "at least".
RUN_PAGE = 100
_MAX_BODY = 20 * 1024 * 1024


# --- what the checks see -------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset input of a run (`mlflow.log_input`)."""

    name: str
    digest: str
    source: str
    context: str | None = None


@dataclass(frozen=True)
class ExperimentInfo:
    experiment_id: str
    name: str
    lifecycle_stage: str
    artifact_location: str | None = None


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version; `details` fill the run's facts and the MLmodel contract.

    `signature` and `input_example` are None when the MLmodel file could not be read
    (`mlmodel_error` says why), so a check can tell "no signature" from "cannot see", and
    `mlmodel_unreadable` tells a file that is there but unreadable from one that is elsewhere.
    """

    name: str
    version: int
    run_id: str | None
    source: str | None
    aliases: tuple[str, ...] = ()
    status: str | None = None
    created: str | None = None
    storage_location: str | None = None
    #: The model version's tags.
    tags: dict[str, str] = field(default_factory=dict)
    #: The run's tags and latest metrics (empty until `details`).
    run_tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    run_status: str | None = None
    #: The run's experiment (None until `details`): `handover card` names it.
    experiment_id: str | None = None
    datasets: tuple[DatasetInfo, ...] = ()
    signature: bool | None = None
    input_example: bool | None = None
    mlmodel: str | None = None
    mlmodel_error: str | None = None
    #: The MLmodel file is there but cannot be read (a check fails rather than reports unknown).
    mlmodel_unreadable: bool = False

    @property
    def git_commit(self) -> str | None:
        """The commit the run was trained from: the run's tag, else the version's copy."""
        if commit := self.run_tags.get(GIT_COMMIT_TAG):
            return commit.strip()
        for key in VERSION_COMMIT_TAGS:
            if commit := self.tags.get(key):
                return commit.strip()
        return None

    @property
    def data_versions(self) -> tuple[str, ...]:
        """The data versions logged with it: dataset inputs, and md5 tags (DVC hashes)."""
        found = [f"dataset {d.name} (digest {d.digest}, source {d.source})" for d in self.datasets]
        for where, tags in (("run", self.run_tags), ("version", self.tags)):
            found += [
                f"{where} tag {key}={value}"
                for key, value in sorted(tags.items())
                if key.lower().endswith("md5") and value
            ]
        return tuple(found)


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    #: alias -> version number
    aliases: dict[str, int]


@dataclass(frozen=True)
class TrackingTarget:
    """Where the project says its MLflow store is and what it calls things (no I/O)."""

    uri: str | None
    #: Where `uri` came from: an environment variable, the audit config, params.yaml, default.
    source: str
    #: Every URI the project names, with its source (for the ownership check).
    candidates: tuple[tuple[str, str], ...] = ()
    experiment: str | None = None
    registered_model: str | None = None
    #: Why the project names no store (when `uri` is None).
    missing: str | None = None


def _iso(ms: Any) -> str | None:
    try:
        stamp = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def mlmodel_contract(text: str, where: str) -> tuple[bool | None, bool | None, str | None]:
    """(signature, input example, error) from an MLmodel file's text."""
    try:
        data = load_yaml(text, where)
    except Unavailable as reason:
        return None, None, str(reason)[:300]
    if not isinstance(data, dict):
        return None, None, f"{where} is not an MLmodel mapping"
    signature = data.get("signature")
    has_signature = isinstance(signature, dict) and bool(signature.get("inputs"))
    example = data.get("saved_input_example_info")
    has_example = isinstance(example, dict) and bool(example)
    return has_signature, has_example, None


# --- the base: what both stores answer -----------------------------------------------------


class TrackingEvidence:
    """The store the project logs to. `kind` is `sqlite` or `server`.

    Methods raise Unavailable when the store cannot answer; results are cached (one audit).
    The engine runs checks in threads: one re-entrant lock serialises the store's use (an
    sqlite3 connection is not safe for concurrent use, and a dead server must cost one timeout).
    """

    kind: str

    def __init__(self, target: TrackingTarget) -> None:
        assert target.uri is not None
        self.target = target
        self.uri = target.uri
        self._cache: dict[Any, Any] = {}
        self._lock = threading.RLock()

    @property
    def display_uri(self) -> str:
        return redact(self.uri)

    def _cached(self, key: Any, compute):
        with self._lock:
            if key not in self._cache:
                self._cache[key] = compute()
            return self._cache[key]

    # implemented by the stores
    def experiments(self) -> list[ExperimentInfo]:  # pragma: no cover - abstract
        raise NotImplementedError

    def experiment(self, name: str) -> ExperimentInfo | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def runs_count(self, experiment_id: str, status: str | None = None) -> int:  # pragma: no cover
        raise NotImplementedError

    def registered_models(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def registered_model(self, name: str) -> RegisteredModelInfo | None:  # pragma: no cover
        raise NotImplementedError

    def versions(self, name: str | None = None) -> list[ModelVersionInfo]:  # pragma: no cover
        raise NotImplementedError

    def details(self, version: ModelVersionInfo) -> ModelVersionInfo:  # pragma: no cover
        raise NotImplementedError

    def run_metrics(self, run_id: str) -> tuple[str, dict[str, float]] | None:  # pragma: no cover
        """The active run `run_id`, or the run imported from it (tag SOURCE_RUN_TAG): its id
        and latest metrics; None when the store has neither."""
        raise NotImplementedError

    # shared
    @property
    def model_name(self) -> str | None:
        """The registered model: configured, else the store's only one; None if none exist."""
        if self.target.registered_model:
            return self.target.registered_model
        names = self.registered_models()
        if len(names) == 1:
            return names[0]
        if len(names) > 1:
            shown = ", ".join(sorted(names)[:10])
            raise Unavailable(
                f"{self.display_uri} holds {len(names)} registered models ({shown}); name the "
                "project's in params.yaml `mlflow.registered_model` or `registered-model` in "
                "[tool.handover.audit]"
            )
        return None

    @property
    def experiment_name(self) -> str | None:
        return self.target.experiment

    def alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        """The version holding `alias`, with its details; None when no version holds it."""

        def find() -> ModelVersionInfo | None:
            model = self.registered_model(name)
            if model is None or alias not in model.aliases:
                return None
            number = model.aliases[alias]
            match = next((v for v in self.versions(name) if v.version == number), None)
            if match is None:  # an alias on a deleted version
                return None
            return self.details(match)

        return self._cached(("alias", name, alias), find)

    def champion(self, name: str | None = None) -> ModelVersionInfo | None:
        """The registered model's `champion` version with its run and MLmodel facts."""
        name = name or self.model_name
        if name is None:
            return None
        return self.alias(name, CHAMPION)


# --- SQLite --------------------------------------------------------------------------------


class SqliteStore(TrackingEvidence):
    """A local MLflow SQLite store, read-only and without SQLAlchemy."""

    kind = "sqlite"

    def __init__(self, target: TrackingTarget, path: Path, workspace: str | None) -> None:
        super().__init__(target)
        self.path = path
        self.workspace = workspace or "default"
        check_readable(path, f"the MLflow store {path}")  # a regular file we may open
        try:
            self._db = sqlite3.connect(
                f"file:{quote(str(path))}?mode=ro", uri=True, timeout=2.0, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise Unreadable(f"{path} cannot be opened as an SQLite database: {error}") from None
        self._columns: dict[str, frozenset[str]] = {}
        # quick_check reads every page once (milliseconds for a project's store): corruption
        # fails every check that reads the store, instead of the queries that happen to hit it.
        try:
            problems = [str(r[0]) for r in self._db.execute("PRAGMA quick_check(3)")]
            tables = [r[0] for r in self._db.execute("SELECT name FROM sqlite_master")]
        except sqlite3.Error as error:
            raise self._error(error) from None
        if problems != ["ok"]:
            raise Unreadable(
                f"the MLflow store {path} is corrupt (SQLite quick_check: {'; '.join(problems)})"
            )
        self._tables = frozenset(str(t) for t in tables)
        if "runs" not in self._tables or "experiments" not in self._tables:
            raise Unreadable(
                f"{path} is not an MLflow tracking store (no experiments/runs tables): it is "
                "corrupt or empty, or the tracking URI names another database"
            )

    def _error(self, error: sqlite3.Error) -> Unavailable:
        """A locked store is unknown (readable once the writer is done); any other SQLite error
        (not a database, malformed, I/O error) means the store is broken: Unreadable."""
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            return Unavailable(f"the MLflow store {self.path} is locked by a writer: {error}")
        return Unreadable(f"the MLflow store {self.path} could not be read: {error}")

    @cached_property
    def schema_version(self) -> str:
        if "alembic_version" not in self._tables:
            return "no schema version"
        try:
            rows = self._query("SELECT version_num FROM alembic_version")
        except Unavailable:
            return "unknown schema version"
        return f"schema {rows[0][0]}" if rows else "unknown schema version"

    def columns(self, table: str) -> frozenset[str]:
        if table not in self._columns:
            if table not in self._tables:
                self._columns[table] = frozenset()
            else:
                rows = self._query(f"PRAGMA table_info({table})")
                self._columns[table] = frozenset(str(r[1]) for r in rows)
        return self._columns[table]

    def has(self, table: str, *columns: str) -> bool:
        return set(columns) <= self.columns(table) and table in self._tables

    def require(self, table: str, *columns: str) -> None:
        if table not in self._tables:
            raise Unavailable(
                f"the MLflow store {self.path} has no {table} table ({self.schema_version}): "
                "written by an MLflow version the audit does not know; upgrade it with "
                f"`mlflow db upgrade {self.uri}`"
            )
        missing = sorted(set(columns) - self.columns(table))
        if missing:
            raise Unavailable(
                f"the MLflow store {self.path} has no {table}.{', '.join(missing)} column "
                f"({self.schema_version}); upgrade it with `mlflow db upgrade {self.uri}`"
            )

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self._error(error) from None
        except (ValueError, OverflowError) as error:
            raise Unavailable(f"the MLflow store {self.path} could not be read: {error}") from None

    def _workspace(self, table: str, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        """A workspace filter when the table has the column (MLflow 3.10+ workspaces)."""
        if "workspace" in self.columns(table):
            return f" AND {alias}workspace = ?", (self.workspace,)
        return "", ()

    def experiments(self) -> list[ExperimentInfo]:
        def read() -> list[ExperimentInfo]:
            self.require("experiments", "experiment_id", "name", "lifecycle_stage")
            where, args = self._workspace("experiments")
            location = (
                "artifact_location"
                if "artifact_location" in self.columns("experiments")
                else "NULL"
            )
            rows = self._query(
                f"SELECT experiment_id, name, lifecycle_stage, {location} FROM experiments "
                f"WHERE 1=1{where} ORDER BY experiment_id",
                args,
            )
            return [
                ExperimentInfo(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3]))
                for r in rows
            ]

        return self._cached("experiments", read)

    def experiment(self, name: str) -> ExperimentInfo | None:
        return next((e for e in self.experiments() if e.name == name), None)

    def runs_count(self, experiment_id: str, status: str | None = None) -> int:
        self.require("runs", "experiment_id", "status", "lifecycle_stage")
        sql = "SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active'"
        args: tuple[Any, ...] = (_int(experiment_id) if experiment_id.isdigit() else experiment_id,)
        if status:
            sql += " AND status = ?"
            args += (status,)
        return int(self._query(sql, args)[0][0])

    def registered_models(self) -> list[str]:
        def read() -> list[str]:
            if "registered_models" not in self._tables:
                return []  # an old store without a registry: no models
            self.require("registered_models", "name")
            where, args = self._workspace("registered_models")
            rows = self._query(f"SELECT name FROM registered_models WHERE 1=1{where}", args)
            return sorted(str(r[0]) for r in rows)

        return self._cached("registered_models", read)

    def registered_model(self, name: str) -> RegisteredModelInfo | None:
        def read() -> RegisteredModelInfo | None:
            if name not in self.registered_models():
                return None
            aliases: dict[str, int] = {}
            if "registered_model_aliases" in self._tables:
                self.require("registered_model_aliases", "name", "alias", "version")
                where, args = self._workspace("registered_model_aliases")
                for alias, version in self._query(
                    "SELECT alias, version FROM registered_model_aliases WHERE name = ?" + where,
                    (name, *args),
                ):
                    if (number := _int(version)) is not None:
                        aliases[str(alias)] = number
            return RegisteredModelInfo(name, aliases)

        return self._cached(("model", name), read)

    def versions(self, name: str | None = None) -> list[ModelVersionInfo]:
        name = name or self.model_name
        if name is None:
            return []

        def read() -> list[ModelVersionInfo]:
            self.require("model_versions", "name", "version", "source", "run_id")
            model = self.registered_model(name)
            by_version: dict[int, list[str]] = {}
            for alias, number in (model.aliases if model else {}).items():
                by_version.setdefault(number, []).append(alias)
            cols = self.columns("model_versions")
            optional = [
                c if c in cols else "NULL"
                for c in ("current_stage", "status", "creation_time", "storage_location")
            ]
            where, args = self._workspace("model_versions")
            rows = self._query(
                f"SELECT version, run_id, source, {', '.join(optional)} FROM model_versions "
                f"WHERE name = ?{where}",
                (name, *args),
            )
            tags: dict[int, dict[str, str]] = {}
            if self.has("model_version_tags", "name", "version", "key", "value"):
                where_t, args_t = self._workspace("model_version_tags")
                for version, key, value in self._query(
                    "SELECT version, key, value FROM model_version_tags WHERE name = ?" + where_t,
                    (name, *args_t),
                ):
                    if (number := _int(version)) is not None:
                        tags.setdefault(number, {})[str(key)] = "" if value is None else str(value)
            found = []
            for version, run_id, source, stage, status, created, storage in rows:
                number = _int(version)
                if number is None or stage == DELETED_STAGE:
                    continue
                found.append(
                    ModelVersionInfo(
                        name=name,
                        version=number,
                        run_id=str(run_id) if run_id else None,
                        source=str(source) if source else None,
                        aliases=tuple(sorted(by_version.get(number, []))),
                        status=None if status is None else str(status),
                        created=_iso(created),
                        storage_location=str(storage) if storage else None,
                        tags=tags.get(number, {}),
                    )
                )
            return sorted(found, key=lambda v: v.version)

        return self._cached(("versions", name), read)

    def details(self, version: ModelVersionInfo) -> ModelVersionInfo:
        run_tags: dict[str, str] = {}
        metrics: dict[str, float] = {}
        datasets: list[DatasetInfo] = []
        run_status = experiment_id = None
        if version.run_id:
            run_id = version.run_id
            rows = self._query(
                "SELECT status, experiment_id FROM runs WHERE run_uuid = ?", (run_id,)
            )
            if rows:
                run_status, experiment_id = str(rows[0][0]), str(rows[0][1])
            if self.has("tags", "key", "value", "run_uuid"):
                run_tags = {
                    str(k): "" if v is None else str(v)
                    for k, v in self._query(
                        "SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)
                    )
                }
            metrics = self._metrics(run_id)
            datasets = self._datasets(run_id)
        signature, example, where, error = self._mlmodel(version)
        return _replace(
            version, run_tags=run_tags, metrics=metrics, datasets=tuple(datasets),
            run_status=run_status, experiment_id=experiment_id, signature=signature,
            input_example=example, mlmodel=where, mlmodel_error=error and str(error),
            mlmodel_unreadable=isinstance(error, Unreadable),
        )  # fmt: skip

    def run_metrics(self, run_id: str) -> tuple[str, dict[str, float]] | None:
        self.require("runs", "run_uuid", "lifecycle_stage")
        self.require("tags", "key", "value", "run_uuid")
        rows = self._query(
            "SELECT run_uuid FROM runs WHERE run_uuid = ? AND lifecycle_stage = 'active' "
            "UNION ALL SELECT t.run_uuid FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid "
            "WHERE t.key = ? AND t.value = ? AND r.lifecycle_stage = 'active'",
            (run_id, SOURCE_RUN_TAG, run_id),
        )
        if not rows:
            return None
        found = str(rows[0][0])
        return found, self._metrics(found)

    def _metrics(self, run_id: str) -> dict[str, float]:
        if self.has("latest_metrics", "key", "value", "run_uuid"):
            rows = self._query(
                "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (run_id,)
            )
        elif self.has("metrics", "key", "value", "run_uuid", "timestamp"):
            rows = self._query(
                "SELECT key, value FROM metrics WHERE run_uuid = ? ORDER BY step, timestamp",
                (run_id,),
            )
        else:
            return {}
        metrics = {}
        for key, value in rows:
            try:
                metrics[str(key)] = float(value)
            except (TypeError, ValueError):
                continue
        return metrics

    def _datasets(self, run_id: str) -> list[DatasetInfo]:
        needed = (
            self.has("inputs", "input_uuid", "source_type", "source_id", "destination_type",
                     "destination_id")
            and self.has("datasets", "dataset_uuid", "name", "digest")
        )  # fmt: skip
        if not needed:
            return []
        source = "d.dataset_source" if "dataset_source" in self.columns("datasets") else "NULL"
        rows = self._query(
            f"SELECT i.input_uuid, d.name, d.digest, {source} FROM inputs i "
            "JOIN datasets d ON d.dataset_uuid = i.source_id "
            "WHERE i.destination_type = 'RUN' AND i.destination_id = ? "
            "AND i.source_type = 'DATASET'",
            (run_id,),
        )
        contexts: dict[str, str] = {}
        if rows and self.has("input_tags", "input_uuid", "name", "value"):
            marks = ",".join("?" * len(rows))
            for uuid, value in self._query(
                f"SELECT input_uuid, value FROM input_tags WHERE name = 'mlflow.data.context' "
                f"AND input_uuid IN ({marks})",
                tuple(r[0] for r in rows),
            ):
                contexts[str(uuid)] = str(value)
        found = []
        for uuid, name, digest, origin in rows:
            text = str(origin or "")
            try:
                data = json.loads(text)
                if isinstance(data, dict):
                    text = str(data.get("uri") or data.get("path") or data.get("url") or text)
            except ValueError:
                pass
            found.append(DatasetInfo(str(name), str(digest), text, contexts.get(str(uuid))))
        return found

    def _artifact_dir(self, version: ModelVersionInfo) -> tuple[str | None, str | None]:
        """The model's artifact directory as a URI or path, or (None, why not)."""
        source = version.source or ""
        if version.storage_location:
            return version.storage_location, None
        if source.startswith("models:/m-") or source.startswith("models:/"):
            model_id = source.removeprefix("models:/").split("/")[0]
            if self.has("logged_models", "model_id", "artifact_location"):
                rows = self._query(
                    "SELECT artifact_location FROM logged_models WHERE model_id = ?", (model_id,)
                )
                if rows and rows[0][0]:
                    return str(rows[0][0]), None
            return None, f"the logged model {model_id} of {source} is not in the store"
        if source.startswith("runs:/"):
            run_id, _, sub = source.removeprefix("runs:/").partition("/")
            rows = self._query("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,))
            if rows and rows[0][0]:
                return f"{str(rows[0][0]).rstrip('/')}/{sub}", None
            return None, f"the run {run_id} of {source} is not in the store"
        if source:
            return source, None
        return None, f"version {version.version} has no source"

    def _local(self, location: str) -> Path | None:
        """A local path for a file URI or path; None for remote artifact stores."""
        if location.startswith("file:"):
            parts = urlsplit(location)
            return Path(unquote(parts.path))
        if "://" in location or re.match(r"^[a-zA-Z][\w+.-]*:/", location):
            return None
        path = Path(location)
        return path if path.is_absolute() else self.path.parent / path

    def _mlmodel(self, version: ModelVersionInfo):
        """(signature, input example, path, why not); why not is an Unreadable when the file is
        there but cannot be read."""
        location, why = self._artifact_dir(version)
        if location is None:
            return None, None, None, why
        directory = self._local(location)
        if directory is None:
            return (
                None,
                None,
                None,
                (
                    f"the model's artifacts are at {redact(location)}, which the audit does not "
                    "read without the tracking server"
                ),
            )
        candidates = [directory / "MLmodel"]
        # The store records absolute paths: a store copied from another machine keeps them.
        # Look for the same path under the mlruns/ next to the database too.
        parts = directory.parts
        if "mlruns" in parts:
            tail = parts[parts.index("mlruns") :]
            candidates.append(self.path.parent.joinpath(*tail) / "MLmodel")
        for path in candidates:
            try:
                text = read_text(path)
            except Unreadable as error:
                return None, None, str(path), error
            if text is None:
                continue
            signature, example, error = mlmodel_contract(text, str(path))
            return signature, example, str(path), error
        return (
            None,
            None,
            None,
            (f"no MLmodel file at {candidates[0]} (the artifacts of another machine, or deleted)"),
        )


def _replace(version: ModelVersionInfo, **changes: Any) -> ModelVersionInfo:
    from dataclasses import replace

    return replace(version, **changes)


# --- a tracking server over REST -----------------------------------------------------------


class NotFound(Exception):
    """The server answered RESOURCE_DOES_NOT_EXIST (HTTP 404)."""


def _origin(uri: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an http(s) URI, the port made explicit; None for anything else."""
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


class ServerStore(TrackingEvidence):
    """An MLflow tracking server, read through its REST API (`/api/2.0/mlflow/`)."""

    kind = "server"

    def __init__(self, target: TrackingTarget, environ: dict[str, str]) -> None:
        super().__init__(target)
        parts = urlsplit(self.uri)
        # The auditor's login goes only to the server the auditor named: a repository under
        # audit could name any host in its params.yaml to collect it.
        named = _origin(environ.get("MLFLOW_TRACKING_URI") or "") == _origin(self.uri)
        login = environ if named else {}
        self.withheld = not named and any(
            environ.get(key) for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_TOKEN")
        )
        # Credentials in the URI itself work too (and are redacted in every message).
        user = login.get("MLFLOW_TRACKING_USERNAME") or (unquote(parts.username or "") or None)
        password = login.get("MLFLOW_TRACKING_PASSWORD") or unquote(parts.password or "")
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        if ":" in (parts.hostname or ""):  # IPv6
            netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
        self.base = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
        self.headers = {"Accept": "application/json", "User-Agent": "mlops-handover-audit"}
        self.user = user
        if user:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        elif token := login.get("MLFLOW_TRACKING_TOKEN"):
            self.headers["Authorization"] = f"Bearer {token}"
        self.insecure = environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true"
        self._dead: Unavailable | None = None

    # HTTP
    def _request(
        self, path: str, query: dict[str, Any] | None = None, body: Any = None, raw: bool = False
    ) -> Any:
        """GET (or POST `body`) and decode JSON; NotFound on 404; Unavailable otherwise."""
        with self._lock:  # one request at a time: a dead server is found once
            return self._send(path, query, body, raw)

    def _send(self, path: str, query: dict[str, Any] | None, body: Any, raw: bool) -> Any:
        import urllib.error
        import urllib.request
        from urllib.parse import urlencode

        if self._dead is not None:
            raise self._dead
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers)
        context = None
        if self.insecure and url.startswith("https:"):
            import ssl

            context = ssl._create_unverified_context()
        deadline = time.monotonic() + NETWORK_TIMEOUT
        shown = f"{self.display_uri} ({path})"
        try:
            with urllib.request.urlopen(request, timeout=NETWORK_TIMEOUT, context=context) as r:
                payload = _read_until(r, deadline)
        except urllib.error.HTTPError as error:
            text = _safe_read(error)
            if error.code in (401, 403):
                who = f"for user {self.user!r}" if self.user else "without a login"
                fix = (
                    "your login is sent only to the server MLFLOW_TRACKING_URI names, and "
                    f"the repository named this one ({self.target.source}): set "
                    f"MLFLOW_TRACKING_URI={self.display_uri} to let the audit log in there"
                    if self.withheld
                    else "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
                    "MLFLOW_TRACKING_TOKEN) for an account that can read the project"
                )
                self._dead = Unavailable(
                    f"the MLflow server {self.display_uri} refused access (HTTP {error.code}) "
                    f"{who}: {fix}"
                )
                raise self._dead from None
            if error.code == 404:
                raise NotFound(text) from None
            message = _error_message(text)
            raise Unavailable(
                f"the MLflow server {shown} answered HTTP {error.code}: {message}"
            ) from None
        except (OSError, ValueError) as error:  # URLError, timeouts, resets, bad URLs
            reason = getattr(error, "reason", error)
            waited = f" within {NETWORK_TIMEOUT:.0f} s" if isinstance(reason, TimeoutError) else ""
            self._dead = Unavailable(
                f"the MLflow server {self.display_uri} did not answer{waited}: {reason}"
            )
            raise self._dead from None
        if raw:
            return payload
        try:
            decoded = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Unavailable(
                f"the MLflow server {shown} did not answer with JSON; is {self.display_uri} an "
                "MLflow tracking server?"
            ) from None
        if not isinstance(decoded, dict):
            raise Unavailable(f"the MLflow server {shown} answered {type(decoded).__name__}")
        return decoded

    def _get(self, path: str, missing_ok: bool = False, **query: Any) -> dict[str, Any]:
        """GET an API path; NotFound only when `missing_ok` (a lookup by name or id)."""
        try:
            return self._request("/api/2.0/mlflow/" + path, query or None)
        except NotFound:
            if missing_ok:
                raise
            raise self._not_found(path) from None

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._request("/api/2.0/mlflow/" + path, body=body)
        except NotFound:
            raise self._not_found(path) from None

    def _not_found(self, path: str) -> Unavailable:
        return Unavailable(
            f"the MLflow server {self.display_uri} has no /api/2.0/mlflow/{path} (HTTP 404); "
            "is it an MLflow 2.x/3.x tracking server?"
        )

    def _shape(self, what: str) -> Unavailable:
        return Unavailable(f"the MLflow server {self.display_uri} gave an unexpected {what}")

    # the API
    def experiments(self) -> list[ExperimentInfo]:
        def read() -> list[ExperimentInfo]:
            found, token = [], None
            for _ in range(100):
                body: dict[str, Any] = {"max_results": 1000}
                if token:
                    body["page_token"] = token
                answer = self._post("experiments/search", body)
                for item in _list(answer.get("experiments")):
                    if (experiment := _experiment(item)) is not None:
                        found.append(experiment)
                if not (token := answer.get("next_page_token")):
                    break
            return found

        return self._cached("experiments", read)

    def experiment(self, name: str) -> ExperimentInfo | None:
        def read() -> ExperimentInfo | None:
            try:
                answer = self._get("experiments/get-by-name", True, experiment_name=name)
            except NotFound:
                return None
            experiment = _experiment(answer.get("experiment"))
            if experiment is None:
                raise self._shape("experiment")
            return experiment

        return self._cached(("experiment", name), read)

    def runs_count(self, experiment_id: str, status: str | None = None) -> int:
        """Runs in the experiment (one page: RUN_PAGE means "at least that many")."""
        with self._lock:
            return self._runs_count(experiment_id, status)

    def _runs_count(self, experiment_id: str, status: str | None) -> int:
        body: dict[str, Any] = {
            "experiment_ids": [experiment_id],
            "max_results": RUN_PAGE,
            "run_view_type": "ACTIVE_ONLY",
        }
        if status:
            body["filter"] = f"attributes.status = '{status}'"
        answer = self._post("runs/search", body)
        return len(_list(answer.get("runs")))

    def registered_models(self) -> list[str]:
        def read() -> list[str]:
            names, token = [], None
            for _ in range(100):
                query: dict[str, Any] = {"max_results": 1000}
                if token:
                    query["page_token"] = token
                answer = self._get("registered-models/search", **query)
                for item in _list(answer.get("registered_models")):
                    if isinstance(item, dict) and isinstance(item.get("name"), str):
                        names.append(item["name"])
                if not (token := answer.get("next_page_token")):
                    break
            return sorted(names)

        return self._cached("registered_models", read)

    def registered_model(self, name: str) -> RegisteredModelInfo | None:
        def read() -> RegisteredModelInfo | None:
            try:
                answer = self._get("registered-models/get", True, name=name)
            except NotFound:
                return None
            model = answer.get("registered_model")
            if not isinstance(model, dict):
                raise self._shape("registered model")
            aliases = {}
            for item in _list(model.get("aliases")):
                if isinstance(item, dict) and (number := _int(item.get("version"))) is not None:
                    aliases[str(item.get("alias"))] = number
            return RegisteredModelInfo(str(model.get("name", name)), aliases)

        return self._cached(("model", name), read)

    def versions(self, name: str | None = None) -> list[ModelVersionInfo]:
        name = name or self.model_name
        if name is None:
            return []

        def read() -> list[ModelVersionInfo]:
            model = self.registered_model(name)
            by_version: dict[int, list[str]] = {}
            for alias, number in (model.aliases if model else {}).items():
                by_version.setdefault(number, []).append(alias)
            found, token = [], None
            escaped = name.replace("'", "\\'")
            for _ in range(100):
                query: dict[str, Any] = {"filter": f"name = '{escaped}'", "max_results": 1000}
                if token:
                    query["page_token"] = token
                answer = self._get("model-versions/search", **query)
                for item in _list(answer.get("model_versions")):
                    if (version := _model_version(item, by_version)) is not None:
                        found.append(version)
                if not (token := answer.get("next_page_token")):
                    break
            return sorted(found, key=lambda v: v.version)

        return self._cached(("versions", name), read)

    def run_metrics(self, run_id: str) -> tuple[str, dict[str, float]] | None:
        try:
            run = self._get("runs/get", True, run_id=run_id).get("run")
        except NotFound:
            run = None
        if not isinstance(run, dict) or (run.get("info") or {}).get("lifecycle_stage") == "deleted":
            ids = [e.experiment_id for e in self.experiments() if e.lifecycle_stage == "active"]
            body = {
                "experiment_ids": ids,
                "filter": f"tags.`{SOURCE_RUN_TAG}` = '{run_id}'",
                "max_results": 1,
                "run_view_type": "ACTIVE_ONLY",
            }
            found = _list(self._post("runs/search", body).get("runs")) if ids else []
            run = found[0] if found and isinstance(found[0], dict) else None
        if run is None:
            return None
        info = run.get("info") if isinstance(run.get("info"), dict) else {}
        data = run.get("data") if isinstance(run.get("data"), dict) else {}
        metrics = {}
        for item in _list(data.get("metrics")):
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                with contextlib.suppress(TypeError, ValueError):
                    metrics[item["key"]] = float(item.get("value"))
        return str(info.get("run_id") or run_id), metrics

    def details(self, version: ModelVersionInfo) -> ModelVersionInfo:
        run_tags: dict[str, str] = {}
        metrics: dict[str, float] = {}
        datasets: list[DatasetInfo] = []
        run_status = experiment_id = None
        if version.run_id:
            try:
                run = self._get("runs/get", True, run_id=version.run_id).get("run")
            except NotFound:
                run = None
            if run is not None and not isinstance(run, dict):
                raise self._shape("run")
            run = run or {}
            info = run.get("info") if isinstance(run.get("info"), dict) else {}
            run_status = info.get("status") if isinstance(info.get("status"), str) else None
            experiment_id = info.get("experiment_id")
            experiment_id = experiment_id if isinstance(experiment_id, str) else None
            data = run.get("data") if isinstance(run.get("data"), dict) else {}
            run_tags = _pairs(data.get("tags"))
            for item in _list(data.get("metrics")):
                if isinstance(item, dict) and isinstance(item.get("key"), str):
                    try:
                        metrics[item["key"]] = float(item.get("value"))
                    except (TypeError, ValueError):
                        continue
            inputs = run.get("inputs") if isinstance(run.get("inputs"), dict) else {}
            for item in _list(inputs.get("dataset_inputs")):
                if (dataset := _dataset(item)) is not None:
                    datasets.append(dataset)
        signature, example, where, error = self._mlmodel(version)
        return _replace(
            version, run_tags=run_tags, metrics=metrics, datasets=tuple(datasets),
            run_status=run_status, experiment_id=experiment_id, signature=signature,
            input_example=example, mlmodel=where, mlmodel_error=error,
        )  # fmt: skip

    def _mlmodel(self, version: ModelVersionInfo):
        """The MLmodel through the server's artifact endpoints (it proxies the artifact store)."""
        attempts = [
            ("/model-versions/get-artifact",
             {"name": version.name, "version": str(version.version), "path": "MLmodel"}),
        ]  # fmt: skip
        source = version.source or ""
        if source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/").split("/")[0]
            attempts.append(
                (f"/ajax-api/2.0/mlflow/logged-models/{quote(model_id)}/artifacts/files",
                 {"artifact_file_path": "MLmodel"})
            )  # fmt: skip
        elif source.startswith("runs:/"):
            run_id, _, sub = source.removeprefix("runs:/").partition("/")
            path = f"{sub.strip('/')}/MLmodel" if sub.strip("/") else "MLmodel"
            attempts.append(("/get-artifact", {"run_id": run_id, "path": path}))
        errors = []
        for path, query in attempts:
            try:
                payload = self._request(path, query, raw=True)
            except NotFound as missing:
                # A proxying server answers 404 with the store's own error (a missing bucket).
                errors.append(f"{path}: {_error_message(str(missing) or 'not found')}")
                continue
            except Unavailable as error:
                if self._dead is not None:
                    raise
                errors.append(str(error))
                continue
            where = f"{self.display_uri}{path} ({version.name} v{version.version})"
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                return None, None, where, f"{where} is not text"
            signature, example, error = mlmodel_contract(text, where)
            return signature, example, where, error
        return None, None, None, "the server could not serve its MLmodel: " + "; ".join(errors)


def _read_until(response: Any, deadline: float) -> bytes:
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took too long")
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > _MAX_BODY:
            raise ValueError("the answer is larger than 20 MB")
        chunks.append(chunk)


def _safe_read(error: Any) -> str:
    try:
        return error.read(65536).decode("utf-8", "replace")
    except Exception:
        return ""


def _error_message(text: str) -> str:
    try:
        data = json.loads(text)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])[:300]
    except ValueError:
        pass
    return " ".join(text.split())[:200] or "no message"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pairs(value: Any) -> dict[str, str]:
    """[{key, value}, ...] -> dict (MLflow's JSON for tags)."""
    pairs = {}
    for item in _list(value):
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            pairs[item["key"]] = "" if item.get("value") is None else str(item.get("value"))
    return pairs


def _experiment(item: Any) -> ExperimentInfo | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    location = item.get("artifact_location")
    return ExperimentInfo(
        str(item.get("experiment_id", "")),
        item["name"],
        str(item.get("lifecycle_stage", "active")),
        location if isinstance(location, str) else None,
    )


def _model_version(item: Any, aliases: dict[int, list[str]]) -> ModelVersionInfo | None:
    if not isinstance(item, dict):
        return None
    number = _int(item.get("version"))
    if number is None or item.get("current_stage") == DELETED_STAGE:
        return None

    def text(key: str) -> str | None:
        value = item.get(key)
        return value if isinstance(value, str) and value else None

    own = [str(a) for a in _list(item.get("aliases")) if isinstance(a, str)]
    return ModelVersionInfo(
        name=str(item.get("name", "")),
        version=number,
        run_id=text("run_id"),
        source=text("source"),
        aliases=tuple(sorted(set(own) | set(aliases.get(number, [])))),
        status=text("status"),
        created=_iso(item.get("creation_timestamp")),
        storage_location=text("storage_location"),
        tags=_pairs(item.get("tags")),
    )


def _dataset(item: Any) -> DatasetInfo | None:
    if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
        return None
    dataset = item["dataset"]
    source = dataset.get("source")
    text = str(source or "")
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            text = str(data.get("uri") or data.get("path") or data.get("url") or text)
    except ValueError:
        pass
    context = _pairs(item.get("tags")).get("mlflow.data.context")
    return DatasetInfo(str(dataset.get("name", "")), str(dataset.get("digest", "")), text, context)


# --- fixtures ------------------------------------------------------------------------------


def _params(files: ProjectFiles) -> dict[str, Any]:
    """params.yaml's `mlflow:` table ({} without one)."""
    if "params.yaml" not in files:
        return {}
    data = files.yaml("params.yaml")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Unreadable("params.yaml is not a mapping, so its mlflow: settings cannot be read")
    section = data.get("mlflow")
    return section if isinstance(section, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


@fixture
def tracking_uri(context: Context) -> TrackingTarget:
    """Where the project's MLflow store is: MLFLOW_TRACKING_URI, the audit configuration,
    params.yaml `mlflow.tracking_uri`, else `<root>/mlflow.db` when that file exists."""
    config = context.config
    files: ProjectFiles = context.get("files")
    params = _params(files)
    candidates = []
    if uri := _text(context.environ.get("MLFLOW_TRACKING_URI")):
        candidates.append(("environment variable MLFLOW_TRACKING_URI", uri))
    if uri := _text(config.mlflow_tracking_uri):
        candidates.append(("[tool.handover.audit] mlflow-tracking-uri", uri))
    if uri := _text(params.get("tracking_uri")):
        candidates.append(("params.yaml mlflow.tracking_uri", uri))
    default = context.root / "mlflow.db"
    if not candidates and os.path.lexists(default):  # not a regular file: Unreadable, below
        candidates.append(("the default store ./mlflow.db", f"sqlite:///{default}"))
    experiment = _text(config.experiment) or _text(params.get("experiment"))
    model = _text(config.registered_model) or _text(params.get("registered_model"))
    if not candidates:
        return TrackingTarget(
            None, "", (), experiment, model,
            missing="no MLflow tracking store: MLFLOW_TRACKING_URI is not set, neither "
            "[tool.handover.audit] mlflow-tracking-uri nor params.yaml mlflow.tracking_uri names "
            "one, and there is no ./mlflow.db (run the pipeline, e.g. `dvc repro`, or point "
            "MLFLOW_TRACKING_URI at the client's tracking server)",
        )  # fmt: skip
    source, uri = candidates[0]
    return TrackingTarget(uri, source, tuple(candidates), experiment, model)


def sqlite_path(uri: str, root: Path) -> Path:
    """The database file of a `sqlite:///` URI (relative paths from the project root)."""
    rest = uri.split(":", 1)[1]
    if not rest.startswith("///"):
        raise Unavailable(f"{uri} is not a file-backed SQLite URI (expected sqlite:///path)")
    path = unquote(rest[3:].split("?", 1)[0])
    if not path:
        raise Unavailable(f"{uri} names no database file")
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate


def open_store(target: TrackingTarget, root: Path, environ: dict[str, str], offline: bool):
    """The store behind `target`; Unavailable with the reason when it cannot be read."""
    if target.uri is None:
        raise Missing(target.missing or "no MLflow tracking store")
    uri = target.uri
    scheme = uri.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][\w+.-]*:", uri) else ""
    where = f"{redact(uri)} (from {target.source})"
    if scheme in ("sqlite",) or scheme.startswith("sqlite+"):
        path = sqlite_path(uri, root)
        if not check_readable(path, f"the MLflow store {path} (tracking URI {where})"):
            raise Missing(
                f"the MLflow store {path} does not exist (tracking URI {where}); run the "
                "pipeline (`dvc repro`) to create it, or set MLFLOW_TRACKING_URI"
            )
        return SqliteStore(target, path, environ.get("MLFLOW_WORKSPACE"))
    if scheme in ("http", "https"):
        if offline:
            raise Unavailable(f"offline: the MLflow server {where} was not asked (--offline)")
        if not urlsplit(uri).hostname:
            raise Unavailable(f"the tracking URI {where} names no host")
        return ServerStore(target, environ)
    if uri.strip().lower() == "databricks" or scheme.startswith("databricks"):
        raise Unavailable(
            f"the tracking URI {where} is a Databricks workspace, which the audit does not read; "
            "check its registry in Databricks, or waive the MLflow checks with the reason"
        )
    if scheme in ("", "file") or len(scheme) == 1:  # a path (C:\ too): the file store
        raise Unavailable(
            f"the tracking URI {where} is MLflow's file store, which MLflow 3.13+ refuses and "
            "the audit does not read; migrate it with `mlflow migrate-filestore --source "
            "./mlruns --target sqlite:///mlflow.db`"
        )
    raise Unavailable(
        f"the tracking URI {where} is a {scheme} store, which the audit cannot read directly; "
        "set MLFLOW_TRACKING_URI to the tracking server in front of it"
    )


@fixture
def mlflow(context: Context) -> TrackingEvidence:
    """The project's MLflow store: runs, registered model, champion (without importing MLflow)."""
    target: TrackingTarget = context.get("tracking_uri")
    return open_store(target, context.root, context.environ, context.options.offline)


# --- the history bundle (`handover history export`) ------------------------------------------

#: Where `handover history export` writes the bundle, and the DVC file that tracks it.
BUNDLE = "history/mlflow"


@dataclass(frozen=True)
class HistoryBundle:
    """What the repository's history bundle says about the champion, read as JSON."""

    path: str
    #: The bundle's folder is there (pulled); False with `tracked` when only its .dvc file is.
    present: bool
    tracked: bool
    registered_model: str | None = None
    champion_version: str | None = None
    champion_run: str | None = None
    #: The champion run's latest metric values in the bundle.
    metrics: dict[str, float] = field(default_factory=dict)


def _latest(rows: Any) -> dict[str, float]:
    latest: dict[str, tuple[int, int, float]] = {}
    for row in _list(rows):
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            continue
        try:
            point = (int(row.get("step") or 0), int(row.get("timestamp") or 0), float(row["value"]))
        except (TypeError, ValueError, KeyError):
            continue
        if row["key"] not in latest or point[:2] >= latest[row["key"]][:2]:
            latest[row["key"]] = point
    return {key: point[2] for key, point in latest.items()}


@fixture
def history_bundle(context: Context) -> HistoryBundle:
    """The bundle's champion and its metrics; Unavailable when the bundle cannot be read."""
    root = context.root / BUNDLE
    tracked = (context.root / f"{BUNDLE}.dvc").is_file()
    if not (root / "manifest.json").is_file():
        return HistoryBundle(BUNDLE, present=False, tracked=tracked)

    def read_json(path: Path) -> Any:
        text = read_text(path, str(path.relative_to(context.root)))
        if text is None:
            raise ValueError(f"{path.relative_to(context.root)} is missing")
        return json.loads(text)

    try:
        registry = read_json(root / "registry.json") or {}
        aliases = registry.get("aliases") or {}
        version = aliases.get(CHAMPION)
        run_id = next(
            (
                v.get("run_id")
                for v in _list(registry.get("versions"))
                if str(v.get("version")) == str(version)
            ),
            None,
        )
        metrics = {}
        if run_id:
            run = read_json(root / "runs" / str(run_id) / "run.json")
            metrics = _latest(run.get("metrics"))
    except (OSError, ValueError, AttributeError) as error:
        raise Unavailable(f"{BUNDLE} cannot be read: {error}") from None
    return HistoryBundle(
        BUNDLE, True, tracked, registry.get("name"),
        None if version is None else str(version), run_id, metrics,
    )  # fmt: skip


@dataclass(frozen=True)
class HistoryHandover:
    """The bundle's champion looked up in the project's store."""

    bundle: HistoryBundle
    #: Where the project's store is (None: the project names none).
    store: str | None
    store_kind: str | None = None
    #: The store's run for the bundle's champion run (its own id or the imported copy's).
    run: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    #: Why the store could not be asked (no store yet, unreadable, offline).
    problem: str | None = None
    missing: bool = False


@fixture
def history_handover(context: Context) -> HistoryHandover:
    bundle: HistoryBundle = context.get("history_bundle")
    target: TrackingTarget = context.get("tracking_uri")
    shown = None if target.uri is None else redact(target.uri)
    try:
        store: TrackingEvidence = context.get("mlflow")
    except Missing as reason:
        return HistoryHandover(bundle, shown, problem=str(reason), missing=True)
    except Unreadable:
        raise  # a broken store fails the check, it does not make it unknown
    except Unavailable as reason:
        return HistoryHandover(bundle, shown, problem=str(reason))
    if not (bundle.present and bundle.champion_run):
        return HistoryHandover(bundle, store.display_uri, store.kind)
    found = store.run_metrics(bundle.champion_run)
    run, metrics = found if found else (None, {})
    return HistoryHandover(bundle, store.display_uri, store.kind, run, metrics)
