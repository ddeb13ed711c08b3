"""The handover documents: runbook, model card, decision log, code owners, checklists, ownership,
data governance, sign-offs and the link to the template.

Documents that are scaffolds on purpose (`docs/decisions/adr-template.md`,
`docs/handover/reviews/template.md`) are never checked for `[FILL:` markers.
"""

from __future__ import annotations

import math
from typing import Any

from mlops_handover.audit.config import AuditConfig
from mlops_handover.audit.fixtures import AuditOptions, Domains
from mlops_handover.audit.handover_docs import (
    GATES,
    GOVERNANCE_PATH,
    OWNERSHIP_PATH,
    Checklist,
    Codeowners,
    DecisionLog,
    MarkdownDoc,
    ModelCard,
    RegistryChampion,
    SignoffReview,
    parse_tables,
)
from mlops_handover.audit.model import (
    Check,
    Pillar,
    Result,
    Severity,
    attested,
    failed,
    partial,
    passed,
    plural,
    unknown,
)
from mlops_handover.template import template_freshness

Locations = tuple[tuple[str, int | None], ...]


def _listing(items: list[str], limit: int = 5) -> str:
    """`a, b, c and 4 more`."""
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"


def _scored(
    score: float, ok: str, problem: str, evidence: tuple[str, ...], locations: Locations
) -> Result:
    """pass at 1, fail at 0, partial between."""
    if score >= 1:
        return passed(ok, *evidence)
    if score <= 0:
        return failed(problem, *evidence, locations=locations)
    return partial(score, problem, *evidence, locations=locations)


# --- Operate -------------------------------------------------------------------------------

#: What a runbook must cover, and the words a heading for it contains.
RUNBOOK_TOPICS: dict[str, tuple[str, ...]] = {
    "deploy or reproduce": (
        "deploy", "reproduc", "rebuild", "release", "install", "serving", "set up", "setup",
    ),
    "retrain": ("retrain", "train"),
    "roll back": ("roll back", "rollback", "roll-back", "revert"),
    "monitoring and alerts": ("monitor", "alert", "drift", "incident", "observab"),
    "contacts": ("contact", "who to call", "escalat", "on-call", "on call", "owner", "support"),
}  # fmt: skip


class OP301(Check):
    """The runbook covers deploy, retrain, rollback, monitoring and contacts, with no placeholder

    At 3 a.m. the client's on-call engineer has the runbook and nobody from the vendor. It needs
    a section for each of: deploying or reproducing the model, retraining, rolling back,
    monitoring and alerts, and who to call, each with at least `min-section-words` words
    (default 8), and no `[FILL:` instruction left. The audit reads `docs/runbook.md` (or
    `RUNBOOK.md`) and matches the section headings (`## Roll back`, `## Who to call`...).

    Fix: fill the contacts table of `docs/runbook.md` (`grep -n "\\[FILL:" docs/runbook.md`),
    and add any missing section with the exact commands.
    """

    pillar = Pillar.OPERATE
    severity = Severity.HIGH
    level = 3

    def check(self, runbook: MarkdownDoc | None, config: AuditConfig) -> Result:
        if runbook is None:
            return failed(
                "no runbook: neither docs/runbook.md nor RUNBOOK.md is in the repository",
                locations=(("docs/runbook.md", None),),
            )
        minimum = config.threshold("min-section-words")
        problems, locations = [], []
        for topic, keywords in RUNBOOK_TOPICS.items():
            section = runbook.find(*keywords)
            if section is None:
                problems.append(f"no section on {topic}")
            elif section.words < minimum:
                problems.append(f"'{section.title}' has {section.words} words (< {minimum:g})")
                locations.append((runbook.path, section.line))
        if runbook.markers:
            problems.append(f"{plural(len(runbook.markers), '[FILL: marker')} left")
            locations += [(runbook.path, m.line) for m in runbook.markers]
        if not problems:
            return passed(
                f"{runbook.path} covers {', '.join(RUNBOOK_TOPICS)}; no placeholder left",
                runbook.path,
            )
        score = 1 - len(problems) / (len(RUNBOOK_TOPICS) + 1)
        return _scored(
            score, "", f"{runbook.path}: {'; '.join(problems)}", (runbook.path,), tuple(locations)
        )


# --- Own -----------------------------------------------------------------------------------


def _close(a: float, b: float, tolerance: float) -> bool:
    return math.isclose(a, b, rel_tol=max(tolerance, 1e-9), abs_tol=tolerance)


class OW601(Check):
    """The model card is filled in, its metadata is valid and its metrics match the registry

    The model card is what the client shows an auditor, a regulator or a new team: what the model
    is for, how good it is, its limits and where it came from. The audit reads
    `docs/model-card.md` (or `MODEL_CARD.md`) and asks for:

    - no `[FILL:` instruction left;
    - every section (Model details, Intended use, Factors, Metrics, Evaluation data, Training
      data, Quantitative results, Ethical considerations, Caveats and recommendations, Lineage
      and reproduction, Operation, Owners and contacts) with at least `min-section-words` words;
    - front matter with a `license` and numeric `model-index` metric values;
    - the metrics of the results table equal to those of the front matter and, when the MLflow
      registry can be read, to the `champion` version's run (within `metric-tolerance`).

    Fix: run `handover card` after `dvc repro` (it writes the results, lineage and metric values
    from the registry), then replace each `[FILL: ...]` with the answer:
    `grep -n "\\[FILL:" docs/model-card.md`.
    """

    pillar = Pillar.OWN
    severity = Severity.CRITICAL
    level = 4

    def check(
        self,
        model_card: ModelCard | None,
        registry_champion: RegistryChampion,
        config: AuditConfig,
    ) -> Result:
        card = model_card
        if card is None:
            return failed(
                "no model card: neither docs/model-card.md nor MODEL_CARD.md is in the repository",
                locations=(("docs/model-card.md", None),),
            )
        path = card.path
        hard: list[str] = []  # problems that fail the check
        thin: list[str] = []  # sections too short: partial
        locations: list[tuple[str, int | None]] = []
        if card.doc.markers:
            hard.append(f"{plural(len(card.doc.markers), '[FILL: marker')} left")
            locations += [(path, m.line) for m in card.doc.markers]

        from mlops_handover.documents import MODEL_CARD_SECTIONS

        minimum = config.threshold("min-section-words")
        for title in MODEL_CARD_SECTIONS:
            section = card.section(title)
            if section is None:
                thin.append(f"no section '{title}'")
            elif section.words < minimum:
                thin.append(f"'{section.title}' has {section.words} words")
                locations.append((path, section.line))

        hard += self._metadata_problems(card)
        tolerance = config.threshold("metric-tolerance")
        values = {m.type: float(m.value) for m in card.metrics if m.numeric and m.type}
        for name, (line, value) in card.region_metrics().items():
            if name in values and not _close(value, values[name], max(tolerance, 1e-5)):
                hard.append(
                    f"results table says {name} = {value:g}, the front matter {values[name]:g}"
                )
                locations.append((path, line))

        registry, note = self._registry(card, registry_champion, values, tolerance)
        hard += registry
        if hard or thin:
            if registry:
                locations.append((path, 1))
            message = f"{path}: {'; '.join(hard + thin)}"
            if hard:
                return failed(message, path, locations=tuple(locations))
            done = len(MODEL_CARD_SECTIONS) - len(thin)
            return partial(
                done / len(MODEL_CARD_SECTIONS), message, path, locations=tuple(locations)
            )
        return passed(
            f"{path} is filled in: {len(MODEL_CARD_SECTIONS)} sections, "
            f"{plural(len(values), 'metric')} in model-index; {note}",
            path,
        )

    @staticmethod
    def _metadata_problems(card: ModelCard) -> list[str]:
        if card.metadata_problem:
            return [card.metadata_problem]
        if card.metadata is None:
            return ["no front matter (license, model-index)"]
        problems = []
        licence = card.metadata.get("license")
        if not isinstance(licence, str) or not licence.strip():
            problems.append("no license in the front matter")
        if not card.metrics:
            problems.append("no model-index metrics in the front matter")
        for metric in card.metrics:
            if not metric.numeric:
                problems.append(
                    f"model-index metric {metric.type or metric.name or '?'} has no numeric "
                    f"value ({metric.value!r})"
                )
        return problems

    @staticmethod
    def _registry(
        card: ModelCard,
        champion: RegistryChampion,
        values: dict[str, float],
        tolerance: float,
    ) -> tuple[list[str], str]:
        """(problems, note) of the comparison with the registry's champion."""
        if champion.metrics is None:
            return [], f"metrics not cross-checked with the registry ({champion.reason})"
        problems = []
        lineage = card.lineage
        version = str(lineage.get("version", "") or "")
        if version and champion.version and version != champion.version:
            problems.append(
                f"the card describes version {version}, the registry's champion is "
                f"version {champion.version} (run `handover card`)"
            )
        compared = 0
        for name, value in values.items():
            expected = champion.metric(name)
            if expected is None:
                continue
            compared += 1
            if not _close(value, expected, tolerance):
                problems.append(
                    f"{name} = {value:g} in the card, {expected:g} in the champion's run "
                    "(run `handover card`)"
                )
        if not compared and values:
            problems.append(
                f"none of the card's metrics ({', '.join(values)}) is logged on the champion's run"
            )
        where = f"version {champion.version}" if champion.version else "champion"
        return problems, f"{plural(compared, 'metric')} match the registry's {where}"


class OW602(Check):
    """The decision log is valid and the team has added its own decisions

    Decisions (why this metric, this data split, this infrastructure) are what a new team loses
    first. The audit reads `docs/decisions/` (or `docs/adr/`, `doc/adr/`): every
    `NNNN-title.md` record needs MADR front matter (or `Status:`/`Date:` lines), an allowed
    status (proposed, rejected, accepted, deprecated, superseded by ADR-NNNN), an ISO date, a
    title and the sections Context and Problem Statement, Considered Options and Decision
    Outcome, and no `[FILL:` left. Numbers are unique, every "superseded by" target exists, and
    at least one record goes beyond the seeded ones (0000-0004 in a generated project).
    `adr-template.md` is exempt.

    Fix: `handover decision new "Title"` creates the next record from the template; fill it,
    set `status: accepted` and the date, and merge it with the change it explains.
    """

    pillar = Pillar.OWN
    severity = Severity.HIGH
    level = 4

    def check(self, decisions: DecisionLog) -> Result:
        log = decisions
        if log.directory is None or not log.records:
            return failed(
                "no decision records (NNNN-title.md in docs/decisions/, docs/adr/ or doc/adr/)",
                locations=(("docs/decisions", None),),
            )
        problems: dict[str, list[str]] = {}
        locations: list[tuple[str, int | None]] = []
        for record in log.records:
            for line, problem in record.problems:
                problems.setdefault(record.path, []).append(problem)
                locations.append((record.path, line))
        by_number: dict[int, list[str]] = {}
        for record in log.records:
            by_number.setdefault(int(record.number), []).append(record.path)
        for paths in by_number.values():
            for path in paths[1:] if len(paths) > 1 else ():
                problems.setdefault(path, []).append(f"number shared with {paths[0]}")
                locations.append((path, None))
        for record in log.records:
            target = record.superseded_by
            if target is not None and int(target) not in by_number:
                problems.setdefault(record.path, []).append(
                    f"superseded by {target}, which does not exist"
                )
                locations.append((record.path, 1))
        valid = [r for r in log.records if r.path not in problems]
        own = [r for r in valid if int(r.number) > log.seeded_up_to]
        fraction = len(valid) / len(log.records)
        evidence = (log.directory,)
        summary = "; ".join(
            f"{path.rsplit('/', 1)[-1]}: {_listing(found, 2)}"
            for path, found in list(problems.items())[:4]
        )
        if len(problems) > 4:
            summary += f"; and {len(problems) - 4} more records"
        seeded = f"0000-{log.seeded_up_to:04d}" if log.seeded_up_to else "0000"
        if not problems and own:
            return passed(
                f"{plural(len(valid), 'valid record')} in {log.directory}, "
                f"{len(own)} beyond the seeded {seeded}",
                *evidence,
            )
        messages = []
        if problems:
            messages.append(
                f"{len(problems)} of {plural(len(log.records), 'record')} invalid ({summary})"
            )
        if not own:
            messages.append(f"no valid record beyond the seeded {seeded}")
        score = (fraction + (1 if own else 0)) / 2
        if not valid:
            score = 0
        return _scored(score, "", "; ".join(messages), evidence, tuple(locations))


def _handle_is_client(owner: str, domains: Domains) -> bool | None:
    """`@org/team` or `@user` listed in client-domains: True; else None (cannot tell)."""
    name = owner[1:].lower()
    org = name.split("/", 1)[0]
    if name in domains.client or org in domains.client:
        return True
    if name in domains.vendor or org in domains.vendor:
        return False
    return None


class OW604(Check):
    """Every CODEOWNERS rule names at least one client person or team

    Code owners review every change to what they own; after the handover that must be the
    client. The audit reads the CODEOWNERS file GitHub or GitLab uses (`.github/`, the root,
    `docs/`, `.gitlab/`): each rule needs an owner whose e-mail is in `client-domains`, or an
    `@org/team` or `@user` listed there. `@handles` the audit cannot place make the check
    partial; a rule owned only by vendor addresses, or by nobody, fails it.

    Fix: put client owners on every rule (`/docs/handover/ ml-owner@acme.example`), and list the
    client's GitHub organisation in `pyproject.toml`:
    `[tool.handover.audit] client-domains = ["acme.example", "acme-org"]`.
    """

    pillar = Pillar.OWN
    severity = Severity.HIGH
    level = 4

    def check(self, codeowners: Codeowners, domains: Domains) -> Result:
        owners = codeowners
        if owners.path is None:
            return failed(
                "no CODEOWNERS file (.github/CODEOWNERS, CODEOWNERS, docs/ or .gitlab/)",
                locations=((".github/CODEOWNERS", None),),
            )
        if not owners.rules:
            return failed(f"{owners.path} has no rules", locations=((owners.path, None),))
        if not domains.client:
            return unknown(
                "no client domains configured, so owners cannot be placed: set "
                '[tool.handover.audit] client-domains = ["client.example"] in pyproject.toml',
                owners.path,
            )
        client, unplaced, bad = 0, [], []
        locations: list[tuple[str, int | None]] = []
        for rule in owners.rules:
            verdicts = []
            for owner in rule.owners:
                if owner.startswith("@"):
                    verdicts.append(_handle_is_client(owner, domains))
                elif domains.is_client(owner):
                    verdicts.append(True)
                else:
                    verdicts.append(False)
            if True in verdicts:
                client += 1
            elif None in verdicts:
                unplaced.append(f"{rule.pattern} ({' '.join(rule.owners)})")
                locations.append((owners.path, rule.line))
            else:
                who = " ".join(rule.owners) or "no owner"
                bad.append(f"{rule.pattern} ({who})")
                locations.append((owners.path, rule.line))
        total = len(owners.rules)
        if bad:
            return failed(
                f"{owners.path}: {len(bad)} of {plural(total, 'rule')} have no client owner: "
                f"{_listing(bad)}",
                owners.path,
                locations=tuple(locations),
            )
        if unplaced:
            return partial(
                (client + 0.5 * len(unplaced)) / total,
                f"{owners.path}: {len(unplaced)} of {plural(total, 'rule')} are owned only by "
                f"@handles not listed in client-domains: {_listing(unplaced)}",
                owners.path,
                locations=tuple(locations),
            )
        return passed(
            f"{owners.path}: all {plural(total, 'rule')} have a client owner "
            f"({', '.join(domains.client)})",
            owners.path,
        )


class OW606(Check):
    """The project is linked to its template and not behind its latest release

    `.copier-answers.yml` records which template and version the project came from
    (`_src_path`, `_commit`), so `handover update` (or `copier update`) can bring template fixes
    in later. The audit compares `_commit` with the template's newest release: for a local
    template (a checkout or an installed wheel's history), the commits at which `__version__`
    changes; for a git URL, its release tags (`git ls-remote --tags`, 5 s timeout). Behind is
    partial; offline or an unreachable source passes with a note that freshness was not checked.

    Fix: a project without the answers file runs `handover adopt`; a project behind runs
    `handover update` and reviews the diff.
    """

    pillar = Pillar.OWN
    severity = Severity.LOW
    level = 4

    def check(self, answers: dict[str, Any] | None, options: AuditOptions) -> Result:
        if answers is None:
            return failed(
                "no .copier-answers.yml: the project is not linked to a template "
                "(run `handover adopt`)",
                locations=((".copier-answers.yml", None),),
            )
        src, commit = answers.get("_src_path"), answers.get("_commit")
        missing = [k for k, v in (("_src_path", src), ("_commit", commit)) if not v]
        if missing:
            return failed(
                f".copier-answers.yml has no {' or '.join(missing)}, so the template version "
                "is unknown (run `handover adopt`, or `copier update` to rewrite it)",
                ".copier-answers.yml",
                locations=((".copier-answers.yml", None),),
            )
        freshness = template_freshness(str(src), str(commit), options.offline)
        message = f"generated from {src} at {commit}; {freshness.note}"
        if freshness.state == "behind":
            return partial(
                0.5,
                f"behind the template: {freshness.note}; run `handover update`",
                ".copier-answers.yml",
                str(src),
                locations=((".copier-answers.yml", None),),
            )
        if freshness.state == "current":
            message = f"generated from {src} at {commit}, the latest release"
        return passed(message, ".copier-answers.yml", str(src))


class OW607(Check):
    """The three phase gates are signed off, and no sign-off is malformed or stale

    A gate (discovery, development, transition) is a go decision people vouch for; the audit
    cannot make it, only check that it was recorded properly. `docs/handover/signoffs.yaml`
    must follow `signoffs.schema.json` (gate, item, signer, role, ISO date, 7-40 hex commit),
    every commit must exist in git history, each gate needs an `item: gate` entry, and no entry
    may be stale: a file listed under `covers` changed in a commit dated after the sign-off.
    With all of that the outcome is *attested*.

    Fix: record the sign-offs as `docs/handover/README.md` ("Sign-offs") says, and renew a
    stale one with a new entry at the current commit (`git log --oneline <commit>..HEAD --
    <covered files>` lists what changed). Check the file with
    `check-jsonschema --schemafile docs/handover/signoffs.schema.json docs/handover/signoffs.yaml`.
    """

    pillar = Pillar.OWN
    severity = Severity.HIGH
    level = 4
    needs_attestation = True

    def check(self, signoff_review: SignoffReview) -> Result:
        review = signoff_review
        path = review.path
        if not review.present:
            return failed(f"no {path}: no sign-off is recorded", locations=((path, None),))
        if review.problems:
            text = "; ".join(p for _, p in review.problems)
            return failed(
                f"{path} is malformed: {text}",
                path,
                locations=tuple((path, line) for line, _ in review.problems),
            )
        bad = [r for r in review.entries if not r.counts]
        malformed = [r for r in bad if r.entry.problems]
        locations = tuple((path, r.entry.line) for r in bad)
        signed = [g for g in GATES if review.counting(g, "gate")]
        missing = [g for g in GATES if g not in signed]
        if malformed:
            details = _listing(
                [f"entry {r.entry.index + 1}: {'; '.join(r.problems)}" for r in malformed], 3
            )
            return failed(
                f"{path}: {plural(len(malformed), 'entry')} break the schema's rules ({details})",
                path,
                locations=locations,
            )
        if not bad and not missing:
            return attested(
                f"{path}: {plural(len(review.entries), 'sign-off')}, all three gates signed "
                "at existing commits, none stale",
                path,
            )
        messages = []
        if missing:
            messages.append(f"no valid gate sign-off for {', '.join(missing)}")
        if bad:
            details = _listing([f"{r.entry.label}: {'; '.join(r.problems)}" for r in bad], 3)
            messages.append(f"{plural(len(bad), 'sign-off')} do not count ({details})")
        score = len(signed) / len(GATES)
        if bad and not missing:
            score = 1 - len(bad) / (len(review.entries) + 1)
        return _scored(score, "", f"{path}: {'; '.join(messages)}", (path,), locations)


class OW608(Check):
    """Every item of the phase checklists is done or marked not applicable with a reason

    The checklists in `docs/handover/checklist-*.md` are the engagement's definition of done:
    client-owned tooling, the client's evaluation bar, the drills of the transition. An item
    counts when it is ticked (`- [x]`) with no `[FILL:` left in it, or when it says
    `n/a: <reason>`. The score is the fraction of items done.

    Fix: tick each item in the change that completes it, with the evidence in the pull request;
    for an item that does not apply, tick it and add `n/a: <why>`.
    """

    pillar = Pillar.OWN
    severity = Severity.HIGH
    level = 4

    def check(self, checklists: tuple[Checklist, ...]) -> Result:
        if not checklists:
            return failed(
                "no phase checklists (docs/handover/checklist-*.md)",
                locations=(("docs/handover", None),),
            )
        items = [item for checklist in checklists for item in checklist.items]
        evidence = tuple(c.path for c in checklists)
        if not items:
            return failed(
                f"no checklist items (`- [ ] ...`) in {', '.join(evidence)}",
                *evidence,
                locations=tuple((p, None) for p in evidence),
            )
        open_items = [i for i in items if not i.done]
        if not open_items:
            return passed(
                f"all {len(items)} items of {plural(len(checklists), 'checklist')} are done "
                f"({sum(1 for i in items if i.na_reason)} not applicable, with reasons)",
                *evidence,
            )
        reasons = []
        for item in open_items:
            if item.placeholders:
                reasons.append(f"{item.label} (a [FILL: left)")
            elif item.na_reason == "":
                reasons.append(f"{item.label} (n/a without a reason)")
            else:
                reasons.append(item.label)
        done = len(items) - len(open_items)
        return _scored(
            done / len(items),
            "",
            f"{done} of {len(items)} checklist items done; open: {_listing(reasons, 8)}",
            evidence,
            tuple((i.path, i.line) for i in open_items),
        )


class OW609(Check):
    """The ownership matrix names an owner for every asset, with no placeholder left

    When the vendor leaves, every asset (trained models, data sets, code, evaluation, experiment
    history, the vendor's pre-existing IP) must have an owner the contract agrees with. The audit
    reads the table with an `owner` column in `docs/handover/ownership.md`: every row needs an
    owner, and no `[FILL:` may be left anywhere in the document.

    Fix: the client's legal contact fills each `[FILL:` from the signed contract:
    `grep -n "\\[FILL:" docs/handover/ownership.md`.
    """

    pillar = Pillar.OWN
    severity = Severity.HIGH
    level = 4

    def check(self, ownership: MarkdownDoc | None) -> Result:
        doc = ownership
        if doc is None:
            return failed(f"no {OWNERSHIP_PATH}", locations=((OWNERSHIP_PATH, None),))
        tables = [
            t
            for t in parse_tables(doc.text)
            if any("owner" in h.lower() for h in t.header) and t.rows
        ]
        if not tables:
            return failed(
                f"{doc.path} has no table with an owner column",
                doc.path,
                locations=((doc.path, None),),
            )
        rows, open_rows, locations = 0, [], []
        row_lines = set()
        for table in tables:
            column = next(i for i, h in enumerate(table.header) if "owner" in h.lower())
            for line, cells in table.rows:
                rows += 1
                row_lines.add(line)
                owner = cells[column].strip() if column < len(cells) else ""
                asset = (cells[0] if cells else "").strip("`* ")[:40] or f"line {line}"
                if (
                    not owner
                    or owner.lower() in ("-", "?", "tbd", "todo", "n/a")
                    or "[FILL:" in (owner)
                ):
                    open_rows.append(f"{asset} (no owner)")
                    locations.append((doc.path, line))
                elif "[FILL:" in " ".join(cells):
                    open_rows.append(f"{asset} (a [FILL: left)")
                    locations.append((doc.path, line))
        outside = [m for m in doc.markers if m.line not in row_lines]
        locations += [(doc.path, m.line) for m in outside]
        units = rows + 1
        done = rows - len(open_rows) + (0 if outside else 1)
        if done == units:
            return passed(f"{doc.path}: all {rows} assets have an owner; no placeholder", doc.path)
        messages = []
        if open_rows:
            messages.append(f"{len(open_rows)} of {rows} rows incomplete: {_listing(open_rows)}")
        if outside:
            messages.append(f"{plural(len(outside), '[FILL: marker')} outside the matrix")
        return _scored(
            done / units, "", f"{doc.path}: {'; '.join(messages)}", (doc.path,), tuple(locations)
        )


#: Sections a data governance document needs, and the words their headings contain.
GOVERNANCE_TOPICS: dict[str, tuple[str, ...]] = {
    "data inventory": ("inventory",),
    "sensitivity classification": ("sensitivity", "classification"),
    "encryption": ("encryption", "encrypt"),
    "access control": ("access",),
    "residency": ("residency", "location"),
    "retention and deletion": ("retention", "deletion"),
}


class OW610(Check):
    """The data governance document covers every topic, with no placeholder left

    The client must know which data the system holds, how sensitive it is, where it is, who can
    read it and when the vendor deletes its copies. The audit reads
    `docs/handover/data-governance.md`: it needs a section for each of those topics and no
    `[FILL:` left; the score is the fraction of sections complete.

    Fix: the client tech lead and the data owner fill each `[FILL:` from the real data sets:
    `grep -n "\\[FILL:" docs/handover/data-governance.md`.
    """

    pillar = Pillar.OWN
    severity = Severity.MEDIUM
    level = 4

    def check(self, data_governance: MarkdownDoc | None) -> Result:
        doc = data_governance
        if doc is None:
            return failed(f"no {GOVERNANCE_PATH}", locations=((GOVERNANCE_PATH, None),))
        problems, locations, done = [], [], 0
        covered: set[int] = set()
        for topic, keywords in GOVERNANCE_TOPICS.items():
            section = doc.find(*keywords, levels=(2,))
            if section is None:
                problems.append(f"no section on {topic}")
                continue
            markers = doc.markers_in(section)
            covered.update(m.line for m in markers)
            if markers:
                problems.append(f"'{section.title}' has {plural(len(markers), '[FILL: marker')}")
                locations += [(doc.path, m.line) for m in markers]
            else:
                done += 1
        outside = [m for m in doc.markers if m.line not in covered]
        if outside:
            problems.append(f"{plural(len(outside), '[FILL: marker')} in other sections")
            locations += [(doc.path, m.line) for m in outside]
        else:
            done += 1
        units = len(GOVERNANCE_TOPICS) + 1
        if done == units:
            return passed(
                f"{doc.path} covers {', '.join(GOVERNANCE_TOPICS)}; no placeholder", doc.path
            )
        return _scored(
            done / units, "", f"{doc.path}: {'; '.join(problems)}", (doc.path,), tuple(locations)
        )


#: Transition items only people can vouch for: each needs a valid, fresh sign-off.
REHEARSAL_ITEMS: dict[str, str] = {
    "TRN-01": "knowledge-transfer sessions held",
    "TRN-02": "fresh-clone reproduction",
    "TRN-03": "retrain drill",
    "TRN-04": "rollback drill",
    "TRN-07": "model card reviewed",
    "TRN-08": "performance accepted",
    "TRN-09": "alerts reach client on-call",
    "TRN-13": "vendor access revoked",
    "TRN-14": "credentials rotated",
}


class OW611(Check):
    """The handover was rehearsed and the exit done, as signed by the client

    No file shows that a client engineer reproduced the model from a fresh clone, retrained it,
    rolled it back, or that the vendor's access was revoked. These are signed in
    `docs/handover/signoffs.yaml` (gate `transition`): TRN-01 (knowledge-transfer sessions),
    TRN-02 (fresh-clone reproduction), TRN-03 (retrain drill), TRN-04 (rollback drill), TRN-07
    (model card reviewed), TRN-08 (performance accepted), TRN-09 (alerts reach client on-call),
    TRN-13 (access revoked) and TRN-14 (credentials rotated). Each needs a well-formed sign-off
    at an existing commit that is not stale; with all nine the outcome is *attested*.

    Fix: run the drills of `docs/handover/knowledge-transfer.md` and the exit plan, then record
    one sign-off per item as `docs/handover/README.md` ("Sign-offs") says.
    """

    pillar = Pillar.OWN
    severity = Severity.HIGH
    level = 4
    needs_attestation = True

    def check(self, signoff_review: SignoffReview) -> Result:
        review = signoff_review
        path = review.path
        if not review.present:
            return failed(f"no {path}: no sign-off is recorded", locations=((path, None),))
        signed, missing, locations = [], [], []
        for item, what in REHEARSAL_ITEMS.items():
            if review.counting("transition", item):
                signed.append(item)
                continue
            latest = review.latest("transition", item)
            if latest is None:
                missing.append(f"{item} ({what})")
            else:
                missing.append(f"{item} ({'; '.join(latest.problems)})")
                locations.append((path, latest.entry.line))
        if not missing:
            return attested(
                f"{path}: all {len(REHEARSAL_ITEMS)} rehearsal and exit items are signed "
                f"({', '.join(signed)})",
                path,
            )
        return _scored(
            len(signed) / len(REHEARSAL_ITEMS),
            "",
            f"{path}: {len(signed)} of {len(REHEARSAL_ITEMS)} rehearsal and exit items signed; "
            f"missing or not counting: {_listing(missing, 9)}",
            (path,),
            tuple(locations) or ((path, None),),
        )
