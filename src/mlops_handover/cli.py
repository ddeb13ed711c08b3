"""The `handover` command line: a thin layer over the library.

Only the standard library is imported here, so `handover --help` answers at once; each
subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

from mlops_handover import __version__
from mlops_handover.errors import HandoverError

EPILOG_NEW = """\
examples:
  handover new churn-model                      ask the questions in the terminal
  handover new churn-model --defaults           the embedded defaults (a working demo)
  handover new churn-model --defaults \\
      --data project_name="Churn Model" --data ml_task=regression --data primary_metric=r2
  handover new churn-model --defaults --no-run --json

The questions, their defaults and their validation rules are listed in docs/questions.md.
Post-copy tasks (git init, DVC set up, example data, the first commit) need Copier's --trust;
handover passes it. Without a git identity the commits are authored by the client technical
owner from the answers.

Every answer, asked or given with --data (hidden ones too), is checked before anything is
written: types, formats, names that stay one folder, no credentials in URLs or paths.

exit codes: 0 generated (and the pipeline passed its acceptance gate); 1 DEST cannot be
written (under a file, a dangling link, read-only, a full disk, a name too long) or the
post-copy setup failed (what the run created is removed), or the pipeline failed (the
project stays in DEST); 2 bad usage, invalid answers, a non-empty destination, or the
generate extra not installed (nothing written). Errors go to stderr as one line; with --json,
stdout holds {"command", "error", "exit_code"} instead of the result.
"""

EPILOG_CARD = """\
examples:
  handover card                       write the champion's facts into docs/model-card.md
  handover card --check               in CI: fail if the card does not match the registry
  handover card --project ../churn-model --json

The tracking store is the project's: $MLFLOW_TRACKING_URI, else params.yaml
mlflow.tracking_uri, else sqlite mlflow.db at the project root. Only the regions between the
<!-- handover:results:... --> and <!-- handover:lineage:... --> markers and the front matter's
model-index values and handover.lineage are rewritten; a second run writes nothing.

exit codes: 0 written or unchanged (with --check: up to date); 1 the card is out of date
(--check), no champion version, or the tracking store cannot be reached; 2 bad usage, or no
card, or a card without its front matter or region markers.
"""

EPILOG_DRILL = """\
examples:
  handover drill                        the take-over of this repository, in a throwaway clone
  handover drill git@git.acme.example:ml/churn-model.git --report drill.json
  handover drill --keep --json          keep the clone to look at; the report on stdout

Steps (commands from README.md "Take over this repository" and docs/runbook.md, run as
written): setup, restore (dvc pull, handover history import), doctor, reproduce (no metric
may differ), variant (champion and working tree unchanged), retrain (the new version passes
the gate), promote, rollback (champion back where it was), drift, audit. The clone is made in
a new temporary folder; its DVC pushes go to a scratch remote and MLFLOW_TRACKING_URI is
cleared, so the vendor's remote and store are never written. A project on a tracking server
needs --tracking-uri with a scratch server.

exit codes: 0 every step passed; 1 a step failed (its output is printed, the clone kept);
2 bad usage, or the repository cannot be cloned.
"""

EPILOG_DOCTOR = """\
examples:
  handover doctor                       check this clone before work
  handover doctor --project ../churn-model --json

Items, in the order a newcomer meets them: python (requires-python, the project's .venv),
environment (every package of requirements.lock at its pinned version, the project installed),
git, dvc remote (which URL, from which file, is it there), data (DVC-tracked outputs pulled),
tracking server (answers, takes the login, can store artifacts), mlflow store (runs, versions,
champion). Nothing is changed. Each item that falls short names its fix.

exit codes: 0 ready (warnings allowed); 1 an item failed; 2 bad usage.
"""

EPILOG_DECISION_NEW = """\
examples:
  handover decision new "Use PostgreSQL for the feature store"
  handover decision new "Retire the batch scorer" --status accepted --date 2025-06-30 --json

The record is docs/decisions/NNNN-slug.md: NNNN is the highest number there plus one (gaps are
kept; 0001 when there is no record), the slug the title's ASCII words. It is a copy of the
project's docs/decisions/adr-template.md (else the template's) with the title, status and date
filled in; the rest is for you to write.

exit codes: 0 created; 1 the file appeared meanwhile; 2 bad usage: empty title, bad status or
date, no docs/decisions directory or template.
"""

EPILOG_AUDIT = """\
examples:
  handover audit                                 audit the repository in the current directory
  handover audit --fail-under L2                 in CI: exit 1 below L2 retrainable
  handover audit --offline --format sarif --output audit.sarif
  handover audit --format markdown >> "$GITHUB_STEP_SUMMARY"
  handover audit ../churn-model ../fraud-model --format json
  handover audit --select RP,SC501 --ignore RP103

levels: L0 vendor-dependent, L1 reproducible, L2 retrainable, L3 operable, L4 owned. A failed
critical check caps the level; the headline is the weakest pillar (Reproduce, Retrain, Operate,
Secure, Own). `handover checks` lists the checks, `handover explain ID` says how to fix one.
Configuration: [tool.handover.audit] in pyproject.toml (select, ignore, waivers, fail-under,
thresholds, client-domains, vendor-domains); see docs/audit.md.

exit codes: 0 every repository at or above the --fail-under level (or fail-under in its
configuration; without either, 0); 1 a repository below it; 2 bad usage, a path that is not a
directory, an invalid configuration, or an internal error.
"""

EPILOG_UPDATE = """\
examples:
  handover update                         update the project here to the latest template release
  handover update ../churn-model --pretend   show what would change; write nothing
  handover update --vcs-ref v0.3.0        update to a given template version (a release or commit)
  handover update --vcs-ref :current: --data ci_provider=gitlab   change an answer only
  handover update --check                 in scheduled CI: exit 1 when a newer release exists
  handover update --json

The working tree must be clean (commit or stash first), so the update's changes are exactly
what `git diff` shows afterwards. Copier merges the template's changes into your edits; every
conflict (inline markers, unmerged index entries, *.rej files) is listed and fails the run.
Migrations shipped with the template run when the update crosses their version. Nothing is
committed: review with `git diff`, then commit.

exit codes: 0 updated cleanly, already current, or (--pretend) a clean update is possible;
1 conflicts to resolve (listed), or (--check) a newer template release exists; 2 bad usage,
not a git repository, no .copier-answers.yml, a dirty working tree, the template cannot be
read, or the generate extra not installed (nothing written). With --json, a failure prints
{"command", "error", "exit_code"} on stdout (the error on stderr as well).
"""

EPILOG_ADOPT = """\
examples:
  handover adopt .                        add the handover scaffolding to this repository
  handover adopt ../vendor-delivery --data client_org="Acme Bank" --json

What is already there is detected and recorded in .copier-answers.yml: git, DVC and its
remote, MLflow usage and its tracking URI, the CI provider, the package name. No existing
file is modified or deleted: where a scaffold file would collide, the proposal is written
beside it (README.handover-proposed.md) and listed. The run ends with the audit level and the
top missing items; from then on `handover update` brings template changes.

exit codes: 0 adopted; 2 bad usage, not a git repository, already linked to the template
(.copier-answers.yml exists: use `handover update`), invalid answers, or the generate extra not
installed (nothing written).
"""

EPILOG_HISTORY_EXPORT = """\
examples:
  handover history export                  the vendor, at each phase gate and at exit
  handover history export ../churn-model --to /tmp/churn-history --json

The store is the project's: $MLFLOW_TRACKING_URI, else params.yaml mlflow.tracking_uri, else
sqlite mlflow.db at the project root; a server's login comes from MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD. The runs of params.yaml's mlflow.experiment and the versions and
aliases of mlflow.registered_model are written to history/mlflow/ (format documented in
docs/history.md); in a DVC repository it is then `dvc add`-ed: commit history/mlflow.dvc and
`dvc push`. Exporting an unchanged store writes the same bytes.

exit codes: 0 written (or unchanged); 1 no store or experiment to export, the store cannot be
read, or `dvc add` failed; 2 bad usage, or the generate extra (MLflow) not installed.
"""

EPILOG_HISTORY_IMPORT = """\
examples:
  handover history import                  the client, in a fresh clone, after `dvc pull`
  handover history import --from /tmp/churn-history --json

The bundle is verified first (manifest, format, MLflow version, the sha256 of every file):
nothing is written if it fails. Runs and logged models get new ids and carry the tags
handover.source_run_id and handover.source_model_id; versions are registered in the source's
order with the same numbers on an empty store (handover.source_version); aliases point at the
versions matching the source's. Entities already imported are skipped, so a second import
changes nothing. The import ends with a reconciliation report: counts and checksums of runs,
params, metric points, tags, dataset inputs, artifacts (sha256, read back from the store),
logged models, versions and aliases on both sides.

exit codes: 0 imported and reconciled; 1 the store differs from the bundle (listed), or the
store cannot be written; 2 bad usage, no bundle, a damaged or newer bundle (nothing written),
or the generate extra (MLflow) not installed.
"""


def progress_printer() -> Callable[[str], None]:
    started = time.monotonic()

    def show(message: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {message}", file=sys.stderr, flush=True)

    return show


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout, subprocesses included, to stderr (for --json)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def require_generate_extra(command: str, modules: Sequence[str]) -> None:
    """Name the extra to install, not a traceback, when a generating command lacks a module.

    The base install carries only what audit, checks, explain, card and decision import;
    Copier, DVC, scikit-learn, pandas and MLflow come with the `generate` extra. Only located,
    not imported: `import mlflow` alone takes seconds.
    """
    import importlib.util

    if missing := [m for m in modules if importlib.util.find_spec(m) is None]:
        raise HandoverError(
            f"`handover {command}` needs {', '.join(missing)}, which this installation of "
            'mlops-handover leaves out: install its generate extra, pip install "mlops-handover'
            '[generate]" (or uv tool install "mlops-handover[generate]").',
            2,
        )


def cmd_new(args: argparse.Namespace) -> int:
    # The post-copy task needs DVC and scikit-learn's bundled data; the first run, the rest.
    require_generate_extra(
        "new", ["copier", "dvc", "sklearn", *([] if args.no_run else ["pandas", "mlflow"])]
    )
    from mlops_handover.new import create_project, parse_data
    from mlops_handover.template import template_source

    source = args.template or template_source()
    data = parse_data(args.data, source)
    with stdout_to_stderr() if args.json else nullcontext():
        result = create_project(
            args.dest,
            data,
            defaults=args.defaults,
            vcs_ref=args.vcs_ref,
            run=not args.no_run,
            template=source,
            progress=progress_printer(),
        )
    if args.json:
        print(result.to_json())
        return 0
    print(
        f"\nCreated {result.dest} (template {result.template_version}, commit {result.commit[:8]})"
    )
    if result.model:
        print(
            f"Registered model {result.model.get('registered_model')} version "
            f"{result.model.get('version')} (run {result.model.get('run_id')})"
        )
    if result.metrics:
        print("Metrics: " + ", ".join(f"{k}={v}" for k, v in result.metrics.items()))
    print(
        f"Next: cd {args.dest} and read README.md; `dvc repro` reruns the pipeline;\n"
        "      docs/handover/README.md says how the engagement runs and what to fill in."
    )
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from mlops_handover import update

    if args.check:  # git ls-remote only: it works in the base install
        if args.data or args.vcs_ref:
            raise HandoverError("--check takes no --data or --vcs-ref: it only compares", 2)
        status = update.check_freshness(args.path, args.template)
        print(status.to_json() if args.json else status.summary())
        return 0 if status.state == "current" else 1
    require_generate_extra("update", ["copier"])
    with stdout_to_stderr() if args.json else nullcontext():
        result = update.update_project(
            args.path,
            update.parse_answers(args.path, args.data, args.template),
            vcs_ref=args.vcs_ref,
            pretend=args.pretend,
            template=args.template,
            progress=progress_printer(),
        )
    print(result.to_json() if args.json else result.summary())
    return 1 if result.conflicts else 0


def cmd_adopt(args: argparse.Namespace) -> int:
    require_generate_extra("adopt", ["copier"])
    from mlops_handover.adopt import adopt_project
    from mlops_handover.new import parse_data
    from mlops_handover.template import template_source

    source = args.template or template_source()
    data = parse_data(args.data, source)
    with stdout_to_stderr() if args.json else nullcontext():
        result = adopt_project(
            args.path, data, template=source, vcs_ref=args.vcs_ref, progress=progress_printer()
        )
    print(result.to_json() if args.json else result.summary())
    return 0


def settle_update(project: str) -> None:
    """Finish or undo an update of `project` that was killed, before a command writes there, so
    that no command works on a half-updated tree (`handover update` does it itself)."""
    from mlops_handover.update import recover_update

    recover_update(project, progress_printer())


def cmd_card(args: argparse.Namespace) -> int:
    from mlops_handover.card import fill_card

    settle_update(args.project)

    result = fill_card(args.project, model=args.model, alias=args.alias, check=args.check)
    if args.json:
        print(result.to_json())
    else:
        c = result.champion
        summary = {
            "updated": "updated",
            "unchanged": "up to date" if args.check else "unchanged",
            "out_of_date": "OUT OF DATE: run `handover card` and commit the card",
        }[result.status]
        print(f"{result.card}: {summary}")
        print(
            f"  {c.alias}: {c.registered_model} version {c.version}, run {c.run_id}, "
            f"commit {c.git_commit[:8] or 'unknown'}, registered {c.registered_at}"
        )
        if c.primary_metric in c.metrics:
            print(
                f"  {c.primary_metric} = {c.metrics[c.primary_metric]:.6g} "
                f"(bar {c.bar or 'unknown'}: {c.acceptance or 'not recorded'})"
            )
        if result.diff:
            print("\n".join(result.diff), file=sys.stderr)
    return 1 if result.status == "out_of_date" else 0


def cmd_drill(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlops_handover.drill import default_report_path, drill, summary, write_report
    from mlops_handover.gitrepo import require_repository

    repository = args.repository
    if Path(repository).exists():
        repository = str(require_repository(Path(repository).resolve(), "drill"))
    quiet = args.json
    report = drill(
        repository,
        workdir=Path(args.workdir) if args.workdir else None,
        tracking_uri=args.tracking_uri,
        keep=args.keep,
        progress=(lambda line: None) if quiet else lambda line: print(line, file=sys.stderr),
    )
    path = Path(args.report) if args.report else default_report_path(repository)
    write_report(report, path)
    if args.json:
        print(report.to_json())
    else:
        print(f"{summary(report)}; report: {path}")
    return 0 if report.passed else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlops_handover.doctor import diagnose

    diagnosis = diagnose(Path(args.project))
    print(diagnosis.to_json() if args.json else diagnosis.to_text())
    return 1 if diagnosis.failed else 0


def cmd_history_export(args: argparse.Namespace) -> int:
    require_generate_extra("history export", ["mlflow"])
    settle_update(args.project)
    from mlops_handover.history_bundle import export_history

    with stdout_to_stderr() if args.json else nullcontext():
        result = export_history(
            args.project,
            args.to,
            experiment=args.experiment,
            model=args.model,
            progress=progress_printer(),
        )
    print(result.to_json() if args.json else result.summary())
    return 0


def cmd_history_import(args: argparse.Namespace) -> int:
    require_generate_extra("history import", ["mlflow"])
    settle_update(args.project)
    from mlops_handover.history_bundle import import_history

    with stdout_to_stderr() if args.json else nullcontext():
        result = import_history(
            args.project,
            args.source,
            experiment=args.experiment,
            model=args.model,
            progress=progress_printer(),
        )
    print(result.to_json() if args.json else result.summary())
    return 0 if result.ok else 1


def cmd_decision_new(args: argparse.Namespace) -> int:
    from mlops_handover.decisions import new_decision

    settle_update(args.project)

    record = new_decision(args.title, args.project, status=args.status, date=args.date)
    if args.json:
        print(record.to_json())
    else:
        print(
            f"Created {record.path} (ADR-{record.number}, status {record.status}, "
            f"date {record.date}). Next: write it (replace each FILL instruction) and open a "
            "pull request."
        )
    return 0


def _selectors(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def cmd_audit(args: argparse.Namespace) -> int:
    from mlops_handover.audit import engine, reports
    from mlops_handover.audit.fixtures import AuditOptions
    from mlops_handover.audit.model import level_name, parse_level

    try:
        fail_under = parse_level(args.fail_under) if args.fail_under else None
        select, ignore = _selectors(args.select), _selectors(args.ignore)
        engine.selected_checks(select, ignore)
    except ValueError as error:
        raise HandoverError(str(error), 2) from None
    paths = args.paths or ["."]
    many = len(paths) > 1

    def progress(done: engine.Report) -> None:
        if many:
            state = f"error: {done.error}" if done.error else level_name(done.level)
            print(f"audited {done.path}: {state}", file=sys.stderr, flush=True)

    results = engine.audit_many(
        paths,
        AuditOptions(offline=args.offline),
        select=select,
        ignore=ignore,
        jobs=args.jobs,
        progress=progress,
    )
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.format == "terminal":
            text = reports.to_terminal(results, stream=out, show=args.show)
            if not many and results[0].error and not args.output:
                text = ""  # the report would be the error alone: it goes to stderr, below
        else:
            text = reports.render(args.format, results, fail_under)
        out.write(text)
    finally:
        if args.output:
            out.close()
    for item in results:
        for problem in item.problems:
            if args.format != "terminal" or args.output:
                print(f"{item.path}: config: {problem}", file=sys.stderr)
    if errors := [r.error for r in results if r.error]:
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        return 2
    below = [
        r for r in results
        if (bar := fail_under if fail_under is not None else r.fail_under) is not None
        and r.level < bar
    ]  # fmt: skip
    for r in below:
        bar = fail_under if fail_under is not None else r.fail_under
        print(
            f"{r.path}: {level_name(r.level)} is below the required {level_name(bar)}",
            file=sys.stderr,
        )
    return 1 if below else 0


def cmd_checks(args: argparse.Namespace) -> int:
    from mlops_handover.audit.model import all_checks

    checks = all_checks().values()
    if args.json:
        import json

        rows = [
            {
                "id": c.id(),
                "pillar": c.pillar.value,
                "severity": c.severity.value,
                "level": c.level,
                "title": c.title(),
                "needs_attestation": c.needs_attestation,
                "url": c.url(),
            }
            for c in checks
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for c in checks:
        print(f"{c.id()}  {c.pillar.value:<9}  {c.severity.value:<8}  L{c.level}  {c.title()}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from mlops_handover.audit.model import all_checks, level_name

    checks = all_checks()
    check = checks.get(args.id.strip().upper())
    if check is None:
        near = [i for i in checks if i.startswith(args.id.strip().upper()[:2])]
        hint = f"; checks starting with {args.id[:2].upper()}: {', '.join(near)}" if near else ""
        print(f"error: no check {args.id!r}{hint} (`handover checks` lists them)", file=sys.stderr)
        return 2
    print(f"{check.id()}: {check.title()}")
    print(
        f"pillar {check.pillar.value} · severity {check.severity.value} · counts from "
        f"{level_name(check.level)}"
        + (" · passes only with a sign-off" if check.needs_attestation else "")
    )
    print()
    print(check.advice())
    print()
    print(f"More: {check.url()}")
    return 0


def add_answer_options(parser: argparse.ArgumentParser, data_help: str, ref_help: str) -> None:
    """--data and --vcs-ref, for the commands that render the template."""
    parser.add_argument(
        "-d", "--data", action="append", default=[], metavar="KEY=VALUE", help=data_help
    )
    parser.add_argument("--vcs-ref", metavar="REF", help=ref_help)


def add_template_option(
    parser: argparse.ArgumentParser, default: str = "$HANDOVER_TEMPLATE, else the bundled template"
) -> None:
    parser.add_argument(
        "--template", metavar="SRC", help=f"template path or git URL (default: {default})"
    )


def add_project_option(parser: argparse.ArgumentParser) -> None:
    """--project, for the commands that work inside a generated project."""
    parser.add_argument(
        "--project", default=".", metavar="PATH", help="the project root (default: .)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handover",
        description=(
            "Make outsourced ML work end in a system the client owns: generate a client-owned "
            "ML repository (MLflow, DVC, an evaluation gate the client owns, CI, handover "
            "documents)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    new = sub.add_parser(
        "new",
        help="generate a client-owned ML repository and run its pipeline once",
        description=(
            "Generate a client-owned ML repository in DEST (new or empty) from the Copier "
            "template, set up git, DVC and the example data, commit, then run the pipeline "
            "once (dvc repro) so the repository starts with a tracked run and a registered "
            "model, and commit dvc.lock."
        ),
        epilog=EPILOG_NEW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    new.add_argument("dest", metavar="DEST", help="directory to create (must be new or empty)")
    add_answer_options(
        new,
        "answer a question (repeatable); unknown keys are rejected",
        "template version to generate from: a release vX.Y.Z or a git ref (default: the latest "
        "release; from an installed wheel, the commit it was built from)",
    )
    new.add_argument(
        "--defaults",
        action="store_true",
        help="take the default for every question not given with --data (no prompts)",
    )
    new.add_argument(
        "--no-run",
        action="store_true",
        help="do not run the pipeline after generating (no MLflow run, no dvc.lock)",
    )
    add_template_option(new)
    new.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout (progress still goes to stderr)",
    )
    new.set_defaults(func=cmd_new)

    update = sub.add_parser(
        "update",
        help="bring a generated project to the current template version",
        description=(
            "Update a project generated from (or adopted into) the template to a newer template "
            "version with Copier, keeping every edit made in the project, and fail listing "
            "each conflict the merge left. Template migrations run when the update crosses "
            "their version."
        ),
        epilog=EPILOG_UPDATE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    update.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="the project (default: .)"
    )
    add_answer_options(
        update,
        "change an answer (repeatable); unknown keys are rejected",
        "template version to update to: a release vX.Y.Z or a commit (default: the latest "
        "release; from an installed wheel's history, the commit it was built from); :current: "
        "keeps the version (to change an answer only)",
    )
    mode = update.add_mutually_exclusive_group()
    mode.add_argument(
        "--pretend",
        action="store_true",
        help="show what the update would change (files, conflicts, migrations); write nothing",
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a newer template release exists (for scheduled CI)",
    )
    add_template_option(update, "the project's _src_path")
    update.add_argument("--json", action="store_true", help="print the result as JSON")
    update.set_defaults(func=cmd_update)

    adopt = sub.add_parser(
        "adopt",
        help="add the handover scaffolding to an existing repository",
        description=(
            "Add the handover documents, pre-commit hooks and the template link (the CI "
            "workflow as a proposal beside yours) to a repository that was not generated from "
            "the template, without modifying or deleting any file it has; then audit it."
        ),
        epilog=EPILOG_ADOPT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adopt.add_argument("path", metavar="PATH", help="the existing git repository")
    add_answer_options(
        adopt,
        "answer a question instead of the detected value (repeatable)",
        "template version to adopt (default: the latest release; from an installed wheel, the "
        "commit it was built from)",
    )
    add_template_option(adopt)
    adopt.add_argument("--json", action="store_true", help="print the result as JSON")
    adopt.set_defaults(func=cmd_adopt)

    card = sub.add_parser(
        "card",
        help="write the champion version's results and lineage into the model card",
        description=(
            "Read the version holding the champion alias from the project's MLflow registry "
            "(its run, git commit, data versions, evaluation metrics, acceptance verdict and "
            "registration date) and write them into docs/model-card.md, leaving everything "
            "the client wrote as it is."
        ),
        epilog=EPILOG_CARD,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_project_option(card)
    card.add_argument(
        "--model",
        metavar="NAME",
        help="registered model (default: params.yaml mlflow.registered_model, else the card's)",
    )
    card.add_argument(
        "--alias", default="champion", help="the alias naming the version (default: champion)"
    )
    card.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the card does not match the registry (for CI)",
    )
    card.add_argument("--json", action="store_true", help="print the result as JSON")
    card.set_defaults(func=cmd_card)

    drill = sub.add_parser(
        "drill",
        help="play the client's take-over in a throwaway clone and report each step",
        description=(
            "Clone REPO into a new folder and run the take-over as the generated README and "
            "runbook write it: setup, restore, doctor, reproduce, variant, retrain, promote, "
            "rollback, drift, audit. One line per step with its time and verdict, a JSON report, "
            "and exit 1 at the first step that fails."
        ),
        epilog=EPILOG_DRILL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    drill.add_argument(
        "repository", nargs="?", default=".", metavar="REPO", help="a path or git URL (default: .)"
    )
    drill.add_argument(
        "--report",
        metavar="PATH",
        help="where to write the JSON report (default: REPO/reports/drill.json, else ./drill.json)",
    )
    drill.add_argument("--keep", action="store_true", help="keep the clone when every step passed")
    drill.add_argument(
        "--workdir",
        metavar="DIR",
        help="make the throwaway clone under DIR (default: the temp dir)",
    )
    drill.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="a scratch MLflow server for a project that logs to a tracking server",
    )
    drill.add_argument("--json", action="store_true", help="print the report as JSON (no progress)")
    drill.set_defaults(func=cmd_drill)

    doctor = sub.add_parser(
        "doctor",
        help="check a clone before work: Python, packages, DVC remote, data, MLflow",
        description=(
            "Check that this clone can work: the Python and the locked environment, the DVC "
            "remote and the data, the MLflow store and tracking server. One line per item, "
            "with the command that fixes what falls short; nothing is changed."
        ),
        epilog=EPILOG_DOCTOR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_project_option(doctor)
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.set_defaults(func=cmd_doctor)

    history = sub.add_parser(
        "history",
        help="move the MLflow history and registry: export a bundle, import it",
        description=(
            "Move the experiment history and the model registry (runs, logged models, "
            "registered versions, aliases) from the vendor's MLflow store to the client's, "
            "through a portable bundle kept in the client's DVC remote or a folder."
        ),
    )
    history_sub = history.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, epilog, text in (
        ("export", EPILOG_HISTORY_EXPORT, "write the project's MLflow history to a bundle"),
        ("import", EPILOG_HISTORY_IMPORT, "recreate a bundle's history in the project's store"),
    ):
        history_action = history_sub.add_parser(
            action,
            help=text,
            description=text[0].upper() + text[1:] + ".",
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        history_action.add_argument(
            "project", nargs="?", default=".", metavar="PROJECT", help="the project (default: .)"
        )
        if action == "export":
            history_action.add_argument(
                "--to",
                metavar="DIR",
                help="write the bundle here (default: PROJECT/history/mlflow, then `dvc add` it "
                "in a DVC repository)",
            )
        else:
            history_action.add_argument(
                "--from",
                dest="source",
                metavar="DIR",
                help="the bundle (default: PROJECT/history/mlflow)",
            )
        history_action.add_argument(
            "--experiment",
            metavar="NAME",
            help="the experiment (default: params.yaml mlflow.experiment)",
        )
        history_action.add_argument(
            "--model",
            metavar="NAME",
            help="the registered model (default: params.yaml mlflow.registered_model)",
        )
        history_action.add_argument("--json", action="store_true", help="print the result as JSON")
        history_action.set_defaults(
            func=cmd_history_export if action == "export" else cmd_history_import
        )

    decision = sub.add_parser(
        "decision",
        help="manage the decision log (docs/decisions/, MADR)",
        description="Manage the project's decision log: MADR records in docs/decisions/.",
    )
    decision_sub = decision.add_subparsers(dest="action", metavar="ACTION", required=True)
    decision_new = decision_sub.add_parser(
        "new",
        help="create the next numbered decision record",
        description=(
            "Create the next decision record, docs/decisions/NNNN-slug.md, from the project's "
            "adr-template.md, with its title, status and date filled in."
        ),
        epilog=EPILOG_DECISION_NEW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    decision_new.add_argument("title", metavar="TITLE", help="the decision, in a short sentence")
    add_project_option(decision_new)
    decision_new.add_argument(
        "--status",
        default="proposed",
        help="proposed (default), rejected, accepted, deprecated or 'superseded by ADR-NNNN'",
    )
    decision_new.add_argument(
        "--date", metavar="YYYY-MM-DD", help="the decision's date (default: today)"
    )
    decision_new.add_argument("--json", action="store_true", help="print the result as JSON")
    decision_new.set_defaults(func=cmd_decision_new)

    audit = sub.add_parser(
        "audit",
        help="measure handover readiness (L0 vendor-dependent to L4 owned)",
        description=(
            "Audit one or more repositories for handover readiness from the evidence in their "
            "files, git history, DVC pipeline, MLflow store and handover documents, and say "
            "what to fix. Several paths are audited in parallel and summarised in one table."
        ),
        epilog=EPILOG_AUDIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("paths", nargs="*", metavar="PATH", help="repositories (default: .)")
    audit.add_argument(
        "--format",
        choices=("terminal", "markdown", "json", "sarif", "html"),
        default="terminal",
        help="output format (default: terminal)",
    )
    audit.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    audit.add_argument(
        "--fail-under",
        metavar="LEVEL",
        help="exit 1 below this level, L0-L4 (default: fail-under in [tool.handover.audit])",
    )
    audit.add_argument(
        "--offline",
        action="store_true",
        help="no network: MLflow server and remote checks report unknown; local stores are read",
    )
    audit.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="IDS",
        help="run only these checks: IDs, prefixes or pillars, comma-separated (repeatable)",
    )
    audit.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="IDS",
        help="skip these checks: IDs, prefixes or pillars, comma-separated (repeatable)",
    )
    audit.add_argument(
        "--show",
        choices=("problems", "all"),
        default="problems",
        help="terminal: list only checks that fall short (default) or all",
    )
    audit.add_argument(
        "-j", "--jobs", type=int, metavar="N", help="repositories audited at once (default: 8)"
    )
    audit.set_defaults(func=cmd_audit)

    checks = sub.add_parser(
        "checks",
        help="list the audit's checks",
        description="List every audit check: ID, pillar, severity, the level it counts from.",
    )
    checks.add_argument("--json", action="store_true", help="print the list as JSON")
    checks.set_defaults(func=cmd_checks)

    explain = sub.add_parser(
        "explain",
        help="explain one audit check and how to fix it",
        description="Print what an audit check looks for, why it matters and how to fix it.",
    )
    explain.add_argument("id", metavar="ID", help="a check ID, for example RP101")
    explain.set_defaults(func=cmd_explain)
    return parser


def fail(args: argparse.Namespace, message: str, exit_code: int) -> int:
    """Report a failure: `error: ...` on stderr and, when the command was asked for JSON, an
    object {"command", "error", "exit_code"} on stdout, so a script reads a document either way."""
    print(f"error: {message}", file=sys.stderr)
    if getattr(args, "json", False) or getattr(args, "format", None) == "json":
        import json

        command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        document = {"command": command, "error": message, "exit_code": exit_code}
        print(json.dumps(document, indent=2))
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HandoverError as error:
        return fail(args, str(error), error.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `handover checks | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # a bug: keep the traceback for the report, exit as documented
        traceback.print_exc()
        return fail(args, f"unexpected internal error ({error!r}); please report it", 2)


if __name__ == "__main__":
    sys.exit(main())
