"""Run the checks on a repository, score the pillars and decide the readiness level.

Scoring (docs/audit.md, "How the level is decided"):

- a check's score is 1 for pass and attested, its value for partial, 0 for fail; n/a, waived
  and unknown are listed but not scored, so evidence that is there but unreadable fails (it
  must never raise a level) and only evidence absent by design is unknown;
- a pillar reaches level L when, over its scored checks of level <= L, no critical check fails
  and the severity-weighted mean is at least the `pass-score` threshold; level 4 also needs every
  level-4 check passed or attested and no critical check unknown;
- the pillar's level is the highest L it reaches with every level below reached too, and the
  headline is the weakest pillar's level.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mlops_handover.audit import config as audit_config
from mlops_handover.audit.fixtures import AuditOptions, Context, GitRepo, known_fixtures
from mlops_handover.audit.model import (
    Check,
    CheckResult,
    Missing,
    Outcome,
    Pillar,
    Result,
    Severity,
    Unavailable,
    Unreadable,
    all_checks,
    failed,
    unknown,
)

#: Checks of one repository run at once (their evidence is mostly git and file I/O).
CHECK_THREADS = 4


@dataclass
class PillarSummary:
    pillar: Pillar
    score: float | None
    level: int
    #: Why the pillar stops at its level (empty at L4).
    blockers: list[str] = field(default_factory=list)


@dataclass
class Report:
    """One repository's audit."""

    path: str
    level: int
    pillars: list[PillarSummary]
    results: list[CheckResult]
    problems: list[str]
    config_source: str | None
    fail_under: int | None
    started: str
    duration: float
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    remote: str | None = None
    #: Set when the audit could not run at all (the path is missing, the config is invalid).
    error: str | None = None

    def counts(self) -> dict[str, int]:
        counts = {outcome.value: 0 for outcome in Outcome}
        for item in self.results:
            counts[item.outcome.value] += 1
        return counts


def matches(check: type[Check], selector: str) -> bool:
    """A selector is a check ID, an ID prefix (`RP`, `RP1`) or a pillar name."""
    selector = selector.strip()
    return check.id().upper().startswith(selector.upper()) or (
        check.pillar.value.lower() == selector.lower()
    )


def selected_checks(select: Sequence[str] = (), ignore: Iterable[str] = ()) -> list[type[Check]]:
    """The checks to run, in catalogue order; ValueError names a selector that matches none."""
    checks = list(all_checks().values())
    for selector in [*select, *ignore]:
        if not any(matches(check, selector) for check in checks):
            raise ValueError(
                f"{selector!r} matches no check; use an ID such as RP101, a prefix such as RP, "
                "or a pillar name (see `handover checks`)"
            )
    if select:
        checks = [c for c in checks if any(matches(c, s) for s in select)]
    ignore = list(ignore)
    return [c for c in checks if not any(matches(c, s) for s in ignore)]


def run_check(check: type[Check], context: Context) -> CheckResult:
    """One check's result. Evidence that is missing, or there but unreadable (corrupt, too
    large, not a regular file), fails the check with the reason, so it can never raise a level;
    evidence unavailable by design (offline, a remote store) and errors inside a check are
    unknown."""
    sources = check.fixtures()
    try:
        kwargs = {name: context.get(name) for name in sources}
        result = check().check(**kwargs)
        if not isinstance(result, Result):
            raise TypeError(f"returned {result!r}, not a Result")
    except (Missing, Unreadable) as reason:
        result = failed(str(reason))
    except Unavailable as reason:
        result = unknown(str(reason))
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        result = unknown(
            f"internal error in the check ({type(error).__name__}: {error}, "
            f"{Path(where.filename).name}:{where.lineno}); please report it"
        )
    return CheckResult(check=check, result=result, evidence_sources=sources)


def _pillar_gate(results: list[CheckResult], level: int, pass_score: float) -> list[str]:
    """Why a pillar does not reach `level` (empty when it does)."""
    blockers = []
    upto = [r for r in results if r.check.level <= level]
    scored = [r for r in upto if r.outcome.scored]
    for item in scored:
        if item.check.severity is Severity.CRITICAL and item.outcome is Outcome.FAIL:
            blockers.append(f"{item.check.id()} (critical) failed")
    weight = sum(r.check.severity.weight for r in scored)
    if weight:
        mean = sum(r.check.severity.weight * (r.result.score or 0.0) for r in scored) / weight
        if mean < pass_score:
            blockers.append(f"score {mean:.2f} up to L{level} is below {pass_score:.2f}")
    if level == 4:
        for item in results:
            if item.check.level == 4 and item.outcome in (Outcome.FAIL, Outcome.PARTIAL):
                blockers.append(f"{item.check.id()} is {item.outcome.value}")
            if item.check.severity is Severity.CRITICAL and item.outcome is Outcome.UNKNOWN:
                blockers.append(f"{item.check.id()} (critical) is unknown")
    return list(dict.fromkeys(blockers))


def summarise(results: list[CheckResult], pass_score: float) -> list[PillarSummary]:
    summaries = []
    for pillar in Pillar:
        mine = [r for r in results if r.check.pillar is pillar]
        if not mine:  # none of its checks selected: the pillar is not part of this audit
            continue
        scored = [r for r in mine if r.outcome.scored]
        weight = sum(r.check.severity.weight for r in scored)
        score = (
            sum(r.check.severity.weight * (r.result.score or 0.0) for r in scored) / weight
            if weight
            else None
        )
        level, blockers = 0, []
        for candidate in range(1, 5):
            blockers = _pillar_gate(mine, candidate, pass_score)
            if blockers:
                break
            level = candidate
        summaries.append(PillarSummary(pillar, score, level, blockers if level < 4 else []))
    return summaries


def audit(
    path: str | Path,
    options: AuditOptions | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> Report:
    """Audit one repository. Never raises for the repository's content; a path that is not a
    directory or an invalid configuration gives a report with `error` set."""
    options = options or AuditOptions()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.perf_counter()
    root = Path(path).resolve()

    def failure(message: str) -> Report:
        return Report(
            path=str(path), level=0, pillars=[], results=[], problems=[], config_source=None,
            fail_under=None, started=started, duration=time.perf_counter() - clock,
            error=message,
        )  # fmt: skip

    if not root.is_dir():
        return failure(f"{path}: no such directory")
    try:
        cfg = audit_config.load(root)
        checks = selected_checks([*select] or list(cfg.select), [*ignore, *(k for k in cfg.ignore)])
    except (audit_config.ConfigError, ValueError) as error:
        return failure(f"{path}: {error}")
    context = Context(root=root, options=options, config=cfg)
    missing = {n for c in checks for n in c.fixtures()} - known_fixtures()
    if missing:  # a programming error: say so instead of a KeyError per check
        return failure(f"checks ask for unknown fixtures: {', '.join(sorted(missing))}")

    # Threads overlap the git subprocesses and file reads of independent evidence.
    with ThreadPoolExecutor(max_workers=CHECK_THREADS) as pool:
        results = list(pool.map(lambda check: run_check(check, context), checks))
    for item in results:
        if item.check.id() in cfg.waivers:
            item.waiver = cfg.waivers[item.check.id()]
    for check_id in cfg.waivers:
        if check_id not in all_checks():
            cfg.problems.append(f"waiver for {check_id!r}: no such check")

    report = Report(
        path=str(path),
        level=0,
        pillars=summarise(results, cfg.threshold("pass-score")),
        results=results,
        problems=cfg.problems,
        config_source=cfg.source,
        fail_under=cfg.fail_under,
        started=started,
        duration=0.0,
    )
    report.level = min((p.level for p in report.pillars), default=0)
    try:
        repo: GitRepo = context.get("git")
        report.commit, report.branch = repo.head, repo.branch
        report.dirty, report.remote = repo.dirty, repo.remote_url
    except Unavailable:
        pass
    report.duration = time.perf_counter() - clock
    return report


def audit_many(
    paths: Sequence[str | Path],
    options: AuditOptions | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    jobs: int | None = None,
    progress=None,
) -> list[Report]:
    """Audit several repositories in parallel (threads: the work is git and file I/O)."""
    all_checks()  # register before the threads start
    if len(paths) == 1:
        reports = [audit(paths[0], options, select, ignore)]
        if progress:
            progress(reports[0])
        return reports
    with ThreadPoolExecutor(max_workers=jobs or min(8, len(paths))) as pool:
        futures = [pool.submit(audit, p, options, select, ignore) for p in paths]
        reports = []
        for future in futures:
            reports.append(future.result())
            if progress:
                progress(reports[-1])
        return reports
