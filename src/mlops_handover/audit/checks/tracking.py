"""Checks on the MLflow tracking store and registry, and on who owns the infrastructure.

The evidence comes from `mlflow_store` (the store read without importing MLflow) and, for the
DVC remotes, from `dvc`. A store the audit cannot ask (offline, server down) makes the MLflow
checks unknown with the reason; no store at all, or one that is there but broken (corrupt, not
an MLflow database, permission denied), makes them fail.
"""

from __future__ import annotations

import math

from mlops_handover.audit import dvc as _dvc  # noqa: F401 - registers the `dvc` fixture
from mlops_handover.audit.fixtures import Domains, GitRepo
from mlops_handover.audit.mlflow_store import (
    CHAMPION,
    PREVIOUS,
    RUN_PAGE,
    HistoryHandover,
    TrackingEvidence,
    TrackingTarget,
    redact,
)
from mlops_handover.audit.model import (
    Check,
    Pillar,
    Result,
    Severity,
    failed,
    not_applicable,
    partial,
    passed,
    unknown,
)


def _store(mlflow: TrackingEvidence) -> str:
    return f"{mlflow.display_uri} (from {mlflow.target.source})"


def _no_model(mlflow: TrackingEvidence, name: str | None) -> Result:
    """The failure when the registered model is missing, naming what the store does hold."""
    models = mlflow.registered_models()
    held = ", ".join(models[:10]) if models else "none"
    if name is None:
        return failed(
            f"the store {_store(mlflow)} has no registered model; register the trained model "
            "(`mlflow.register_model`, as the train stage does)",
            mlflow.display_uri,
        )
    return failed(
        f"the store {_store(mlflow)} has no registered model {name!r} (registered: {held})",
        mlflow.display_uri,
        locations=(("params.yaml", None),),
    )


def _count(mlflow: TrackingEvidence, n: int) -> str:
    return f"{n}+" if mlflow.kind == "server" and n >= RUN_PAGE else str(n)


class RT203(Check):
    """The champion model is traceable to its code and data

    Whoever takes the model over must be able to answer "which code and which data made the
    model in production?". The registered model needs a `champion` alias (what serving loads:
    `models:/<name>@champion`; stages are deprecated since MLflow 2.9), the champion's run needs
    the `mlflow.source.git.commit` tag naming a commit that exists in this repository, and the
    run needs a data version: a dataset input (`mlflow.log_input`) or a tag holding the data's
    DVC md5.

    Fix: train through the pipeline (`dvc repro`), which tags the commit and logs the dataset
    with its DVC md5, then promote a version: `python -m <package>.registry promote latest`.
    A commit missing from history was never pushed or was rewritten: retrain from a pushed
    commit.
    """

    pillar = Pillar.RETRAIN
    severity = Severity.CRITICAL
    level = 2

    def check(self, mlflow: TrackingEvidence, git: GitRepo) -> Result:
        name = mlflow.model_name
        if name is None or mlflow.registered_model(name) is None:
            return _no_model(mlflow, name)
        champion = mlflow.champion(name)
        if champion is None:
            model = mlflow.registered_model(name)
            aliases = ", ".join(f"{a} -> v{v}" for a, v in sorted(model.aliases.items()))
            count = len(mlflow.versions(name))
            return failed(
                f"{name} has no '{CHAMPION}' alias ({count} versions; aliases: "
                f"{aliases or 'none'}), so nothing says which version is in production; "
                "promote one: `python -m <package>.registry promote latest`",
                mlflow.display_uri,
            )
        where = f"models:/{name}@{CHAMPION} (version {champion.version}, run {champion.run_id})"
        evidence = [mlflow.display_uri, where]
        problems = []
        commit = champion.git_commit
        if commit is None:
            problems.append("its run has no mlflow.source.git.commit tag")
        elif not git.commit_exists(commit):
            problems.append(
                f"its run's commit {commit[:12]} is not in this repository's history "
                "(never pushed, or rewritten)"
            )
        else:
            evidence.append(f"commit {commit}")
        data = champion.data_versions
        if data:
            evidence.extend(data)
        else:
            problems.append("its run logs no data version (no dataset input, no md5 tag)")
        if not problems:
            return passed(f"{where} was trained from commit {commit[:12]} on {data[0]}", *evidence)
        return partial((3 - len(problems)) / 3, f"{where}: " + "; ".join(problems), *evidence)


class RT206(Check):
    """The project's experiment has finished runs in the tracking store

    Retraining starts from what was tried before: the experiment named in params.yaml
    (`mlflow.experiment`) must exist in the store the project points at and hold at least one
    finished run. An empty or missing experiment means the runs were logged elsewhere (another
    machine's `mlflow.db`, a vendor's server) and did not come with the handover.

    Fix: run the pipeline against the client's store (`MLFLOW_TRACKING_URI=... dvc repro`), or
    migrate the runs to it; set `experiment` in `[tool.handover.audit]` when the name differs.
    """

    pillar = Pillar.RETRAIN
    severity = Severity.HIGH
    level = 2

    def check(self, mlflow: TrackingEvidence) -> Result:
        name = mlflow.experiment_name
        if name is not None:
            experiment = mlflow.experiment(name)
            if experiment is None:
                held = ", ".join(e.name for e in mlflow.experiments()[:10]) or "none"
                return failed(
                    f"the store {_store(mlflow)} has no experiment {name!r} (experiments: {held})",
                    mlflow.display_uri,
                    locations=(("params.yaml", None),),
                )
            if experiment.lifecycle_stage != "active":
                return failed(
                    f"the experiment {name!r} in {mlflow.display_uri} is "
                    f"{experiment.lifecycle_stage}; restore it (`mlflow experiments restore`)",
                    mlflow.display_uri,
                )
            experiments = [experiment]
        else:
            experiments = [e for e in mlflow.experiments() if e.lifecycle_stage == "active"]
        finished = {e.name: mlflow.runs_count(e.experiment_id, "FINISHED") for e in experiments}
        total = sum(finished.values())
        shown = ", ".join(f"{n!r}: {_count(mlflow, c)}" for n, c in finished.items() if c)
        if name is None:
            if total:
                return passed(
                    f"{_count(mlflow, total)} finished runs in {mlflow.display_uri} ({shown}); "
                    "no experiment is named in params.yaml or the audit configuration",
                    mlflow.display_uri,
                )
            return failed(
                f"no finished run in any experiment of {_store(mlflow)}", mlflow.display_uri
            )
        if total:
            return passed(
                f"experiment {name!r} has {_count(mlflow, total)} finished runs in "
                f"{mlflow.display_uri}",
                mlflow.display_uri,
                f"experiment {name} (id {experiments[0].experiment_id})",
            )
        all_runs = _count(mlflow, mlflow.runs_count(experiments[0].experiment_id))
        return failed(
            f"experiment {name!r} in {mlflow.display_uri} has no finished run ({all_runs} runs, "
            "none FINISHED)",
            mlflow.display_uri,
        )


class OP302(Check):
    """A previous model version is there to roll back to

    When the champion misbehaves in production, the fastest fix is to serve the version before
    it. That needs a second registered version, ideally marked by the `previous` alias (the
    template's evaluate stage and `registry promote` move it automatically).

    Fix: roll back with `python -m <package>.registry rollback` (to `previous`) or
    `rollback --to VERSION`; if the model has a single version, register the next one through
    the pipeline rather than overwriting it.
    """

    pillar = Pillar.OPERATE
    # Critical, not the catalogue's medium: a rollback path is part of what L3 operable means,
    # so without one the Operate pillar stops at L2 however well the rest scores.
    severity = Severity.CRITICAL
    level = 3

    def check(self, mlflow: TrackingEvidence) -> Result:
        name = mlflow.model_name
        model = None if name is None else mlflow.registered_model(name)
        if name is None or model is None:
            return _no_model(mlflow, name)
        versions = mlflow.versions(name)
        numbers = {v.version for v in versions}
        previous, champion = model.aliases.get(PREVIOUS), model.aliases.get(CHAMPION)
        evidence = (mlflow.display_uri, f"registered model {name} ({len(versions)} versions)")
        if previous is not None and previous in numbers and previous != champion:
            return passed(
                f"{name}: '{PREVIOUS}' -> version {previous} to roll back to "
                f"({len(versions)} versions)",
                *evidence,
            )
        if len(versions) >= 2:
            return passed(
                f"{name} has {len(versions)} versions to roll back to (no '{PREVIOUS}' alias: "
                "choose one with `registry rollback --to VERSION`)",
                *evidence,
            )
        return failed(
            f"{name} has {len(versions)} version{'s' if len(versions) != 1 else ''} and no "
            f"'{PREVIOUS}' alias: nothing to roll back to",
            *evidence,
        )


class OP305(Check):
    """The champion model has an input/output contract (signature and input example)

    The MLmodel file's `signature` states the columns and types the model expects and returns;
    the `input_example` shows a valid request. Serving validates requests against the
    signature, and a new owner learns the interface from both instead of from the code.

    Fix: log the model with both, as the train stage does:
    `mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, y_pred),
    input_example=X.head(3))`, then register and promote the new version.
    """

    pillar = Pillar.OPERATE
    severity = Severity.LOW
    level = 3

    def check(self, mlflow: TrackingEvidence) -> Result:
        name = mlflow.model_name
        if name is None or mlflow.registered_model(name) is None:
            return _no_model(mlflow, name)
        version = mlflow.champion(name)
        which = f"models:/{name}@{CHAMPION}"
        if version is None:
            versions = mlflow.versions(name)
            if not versions:
                return failed(f"{name} has no versions", mlflow.display_uri)
            version = mlflow.details(versions[-1])
            which = f"{name} version {version.version} (the latest; no '{CHAMPION}' alias)"
        else:
            which += f" (version {version.version})"
        if version.mlmodel_unreadable:
            return failed(
                f"the MLmodel of {which} could not be read: {version.mlmodel_error}",
                mlflow.display_uri,
            )
        if version.signature is None:
            return unknown(
                f"the MLmodel of {which} could not be read: {version.mlmodel_error}",
                mlflow.display_uri,
            )
        evidence = (mlflow.display_uri, version.mlmodel or which)
        have = [
            label
            for label, present in (
                ("a signature", version.signature),
                ("an input example", version.input_example),
            )
            if present
        ]
        if len(have) == 2:
            return passed(f"{which} has a signature and an input example", *evidence)
        if have:
            missing = "an input example" if version.signature else "a signature"
            return partial(0.5, f"{which} has {have[0]} but not {missing}", *evidence)
        return failed(f"{which} has neither a signature nor an input example", *evidence)


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def _is_local(url: str) -> bool:
    """A path, a file: URI, an sqlite database or a loopback host: on the client's machine."""
    text = url.strip()
    if "://" not in text:
        # sqlite:relative.db, C:\path, /abs/path, ../relative
        return True
    scheme = text.split("://", 1)[0].lower()
    if scheme in ("file", "local") or scheme.startswith("sqlite"):
        return True
    return Domains.host(text) in _LOCAL_HOSTS


class OW603(Check):
    """The client owns the infrastructure the repository points at

    After the handover the data and the model registry must stay reachable when the vendor's
    accounts are closed. Every DVC remote URL (`.dvc/config`) and the MLflow tracking URI
    (MLFLOW_TRACKING_URI, params.yaml `mlflow.tracking_uri`, or `mlflow-tracking-uri` in
    `[tool.handover.audit]`) must be local or on one of the client's domains, and none may be on
    the vendor's.

    Configure the domains in `pyproject.toml`:

    ```toml
    [tool.handover.audit]
    client-domains = ["acme.com", "s3://acme-ml-data/"]
    vendor-domains = ["vendor.io"]
    ```

    (a generated project takes them from `client_email_domain` and `vendor_email_domain` in
    `.copier-answers.yml`). Fix: move the data with `dvc remote add -d client s3://...` and
    `dvc push -r client`, and the runs to the client's tracking server.
    """

    pillar = Pillar.OWN
    severity = Severity.CRITICAL
    level = 1

    def check(self, dvc, tracking_uri: TrackingTarget, domains: Domains) -> Result:
        remotes = dict(getattr(dvc, "remotes", {}) or {})
        targets: list[tuple[str, str, tuple[str, int | None] | None]] = []
        for name, url in sorted(remotes.items()):
            url = _resolve_remote(str(url), remotes)
            targets.append((f"DVC remote {name!r}", url, (".dvc/config", None)))
        for source, uri in tracking_uri.candidates:
            place = (
                ("params.yaml", None)
                if source.startswith("params.yaml")
                else ("pyproject.toml", None)
                if source.startswith("[tool.handover.audit]")
                else None
            )
            targets.append((f"MLflow tracking URI ({source})", uri, place))
        if not targets:
            return not_applicable("the repository names no DVC remote and no MLflow tracking URI")
        vendor, foreign, undecided, fine = [], [], [], []
        for label, url, place in targets:
            shown = f"{label}: {redact(url)}"
            if _is_local(url):
                fine.append(f"{shown} (local)")
            elif domains.is_vendor(url):
                vendor.append((shown, place))
            elif domains.is_client(url):
                fine.append(f"{shown} (client)")
            elif domains.client:
                foreign.append((shown, place))
            else:
                undecided.append(shown)
        evidence = [t[0] + ": " + redact(t[1]) for t in targets]
        bad = vendor + foreign
        if bad:
            parts = []
            if vendor:
                parts.append(
                    f"on the vendor's domains ({', '.join(domains.vendor)}): "
                    + "; ".join(s for s, _ in vendor)
                )
            if foreign:
                parts.append(
                    f"not on the client's domains ({', '.join(domains.client)}): "
                    + "; ".join(s for s, _ in foreign)
                )
            locations = tuple(dict.fromkeys(p for _, p in bad if p is not None))
            return failed(" and ".join(parts), *evidence, locations=locations)
        if undecided:
            return unknown(
                "cannot tell who owns " + "; ".join(undecided) + ": no client domains are "
                "configured; add client-domains (and vendor-domains) to [tool.handover.audit] "
                'in pyproject.toml, e.g. client-domains = ["client.com"]',
                *evidence,
            )
        return passed("all local or the client's: " + "; ".join(fine), *evidence)


def _resolve_remote(url: str, remotes: dict[str, str], depth: int = 0) -> str:
    """DVC's `remote://other/path` URLs name another remote: follow them to a real URL."""
    if url.startswith("remote://") and depth < 5:
        name, _, rest = url.removeprefix("remote://").partition("/")
        if name in remotes:
            base = _resolve_remote(str(remotes[name]), remotes, depth + 1)
            return base.rstrip("/") + ("/" + rest if rest else "")
    return url


class OW612(Check):
    """The vendor's experiment history and model registry are handed over

    Runs and registered versions logged to a machine-local store (`mlflow.db` and `mlruns/`,
    git-ignored) stay on the machine that ran them: a clone has no runs, no versions and no
    `champion` to roll back to. `handover history export` writes them to the history bundle
    `history/mlflow/`, which DVC keeps in the client's remote, and `handover history import`
    recreates them in the client's store, ending with a reconciliation report. The check passes
    when the bundle's champion run is in the project's store with the bundle's metrics. A
    project that logs to a tracking server keeps its history there (OW603 judges who owns it).

    Fix, on the vendor's side: `handover history export`, commit `history/mlflow.dvc`, then
    `dvc push`, at each phase gate and at exit; on the client's: `dvc pull`, then
    `handover history import`.
    """

    pillar = Pillar.OWN
    severity = Severity.HIGH
    level = 3

    def check(self, history_handover: HistoryHandover) -> Result:
        handover, bundle = history_handover, history_handover.bundle
        store = handover.store
        if not bundle.present and not bundle.tracked:
            if store is None:
                return not_applicable("the project names no MLflow store: no history to hand over")
            if handover.store_kind == "server":
                return not_applicable(
                    f"the history lives on the tracking server {store}, not on a machine"
                )
            return failed(
                f"no history bundle ({bundle.path}): the runs and versions in {store} stay on "
                f"this machine. Run `handover history export`, commit {bundle.path}.dvc and "
                "`dvc push`",
                locations=((bundle.path, None),),
            )
        if not bundle.present:
            return failed(
                f"{bundle.path}.dvc is committed but the bundle is not here: `dvc pull "
                f"{bundle.path}.dvc`, then `handover history import`",
                locations=((f"{bundle.path}.dvc", None),),
            )
        if not bundle.champion_run:
            return failed(
                f"{bundle.path} holds no version with the '{CHAMPION}' alias: export again once "
                "a version has passed the acceptance gate"
            )
        champion = (
            f"the bundle's champion ({bundle.registered_model} version "
            f"{bundle.champion_version}, run {bundle.champion_run})"
        )
        if handover.problem and not handover.missing:
            return unknown(f"cannot look for {champion}: {handover.problem}")
        if handover.missing or handover.run is None:
            where = f"not in {store}" if not handover.missing else f"not here ({handover.problem})"
            return failed(f"{champion} is {where}: run `handover history import`")
        differ = sorted(
            key
            for key, value in bundle.metrics.items()
            if key not in handover.metrics or not math.isclose(value, handover.metrics[key])
        )
        if differ:
            shown = ", ".join(
                f"{k} {bundle.metrics[k]:g} -> {handover.metrics.get(k, 'absent')}" for k in differ
            )
            return failed(
                f"{champion} is in {store} as run {handover.run}, but its metrics differ from "
                f"the bundle's: {shown}. Import again (`handover history import` reports every "
                "difference)"
            )
        copy = " (imported)" if handover.run != bundle.champion_run else ""
        return passed(
            f"{champion} is in {store} as run {handover.run}{copy}, with the bundle's "
            f"{len(bundle.metrics)} metrics",
            bundle.path,
        )
