"""`handover update`: bring a generated project to a newer template version, losing nothing.

Copier does the merge (`copier update`, inline conflicts). Around it this module adds what
Copier leaves to the user (docs/update.md):

- it refuses a dirty working tree, so the update's changes are exactly what `git status` shows;
- it finds every conflict the merge left (unmerged index entries, conflict markers, `*.rej`
  files), because Copier exits 0 even when it leaves them;
- `pretend` runs the same update in a throw-away clone and reports it, writing nothing here;
- it names the template version before and after and the migrations that ran;
- post-copy tasks never run (`skip_tasks`); migrations still do, when the update crosses them;
- the template's versions are its releases, found without tags (mlops_handover.releases):
  Copier reads the template with them (`copier_source`), and `_src_path` stays the stable one.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import git, require_repository, status
from mlops_handover.template import (
    ANSWERS_FILE,
    TemplateSource,
    copier_source,
    set_src_path,
    template_freshness,
)

#: A conflict marker line as Copier's `git merge-file` (or any merge) writes it.
MARKER = re.compile(rb"^(<{7}|>{7})(?: |$)", re.MULTILINE)
ABORT = "`git reset --hard HEAD && git clean -fd` undoes the update"


@dataclass
class Conflict:
    path: str
    #: Why it is a conflict: "unmerged" (index), "markers" (in the file), "rejected" (*.rej).
    reasons: list[str]


@dataclass
class UpdateResult:
    """What an update did (or, with `pretend`, would do); the CLI prints it or dumps JSON."""

    path: str
    template: str
    version_before: str
    version_after: str
    pretend: bool
    #: `git status --porcelain` of the update: [{"status": "M", "path": ...}].
    changes: list[dict[str, str]]
    conflicts: list[Conflict]
    #: The template's migrations this update crossed: [{"version", "command"}].
    migrations: list[dict[str, str]]
    seconds: float

    @property
    def clean(self) -> bool:
        return not self.conflicts

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "clean": self.clean}, indent=2)

    def summary(self) -> str:
        verb = "would update" if self.pretend else "updated"
        if self.version_before == self.version_after and not self.changes:
            head = f"{self.path}: already at template version {self.version_after}; nothing to do."
        elif self.version_before == self.version_after:
            verb = "would re-render" if self.pretend else "re-rendered"
            head = (
                f"{self.path}: {verb} at template version {self.version_after} "
                f"({len(self.changes)} file(s))."
            )
        else:
            head = (
                f"{self.path}: {verb} from template version {self.version_before} to "
                f"{self.version_after} ({len(self.changes)} file(s))."
            )
        lines = [head]
        for migration in self.migrations:
            lines.append(f"  migration {migration['version']}: {migration['command']}")
        if not self.migrations and self.version_before != self.version_after:
            lines.append("  no migration crossed")
        for change in self.changes:
            lines.append(f"  {change['status']:>2} {change['path']}")
        if self.conflicts:
            lines.append(f"{len(self.conflicts)} conflict(s) to resolve:")
            lines.extend(f"  {c.path} ({', '.join(c.reasons)})" for c in self.conflicts)
            if self.pretend:
                lines.append("Nothing was written. Resolving them is part of the real update.")
            else:
                lines.append(
                    "Next: edit each file (keep what you need between `<<<<<<< before updating` "
                    "and `>>>>>>> after updating`, delete the markers; apply any *.rej by hand "
                    "and delete it), `git add` them, review `git diff --cached`, then commit. "
                    f"To abort instead: {ABORT}."
                )
        elif self.pretend and self.changes:
            lines.append("Nothing was written; `handover update` without --pretend applies this.")
        elif self.changes:
            lines.append("Clean. Review with `git diff HEAD`, run the tests, then commit.")
        return "\n".join(lines)


@dataclass
class Freshness:
    """`handover update --check`: is the project on the template's latest release?"""

    path: str
    template: str
    version: str
    latest: str | None
    state: str
    note: str = field(default="")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def summary(self) -> str:
        if self.state == "behind":
            return (
                f"{self.path}: behind the template ({self.note}). "
                "Run `handover update` and review the diff."
            )
        return f"{self.path}: on the latest template release ({self.version})."


def read_answers(project: Path) -> dict[str, Any]:
    """The project's `.copier-answers.yml`, with the template link it must hold."""
    path = project / ANSWERS_FILE
    if not path.is_file():
        raise HandoverError(
            f"{project} has no {ANSWERS_FILE}, so it is not linked to the template: "
            f"`handover adopt {project}` links an existing repository (if the file was deleted, "
            "restore it from git history).",
            2,
        )
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise HandoverError(f"{path} is not valid YAML: {error}", 2) from error
    missing = [key for key in ("_src_path", "_commit") if not answers.get(key)]
    if not isinstance(answers, dict) or missing:
        raise HandoverError(
            f"{path} has no {' or '.join(missing) or 'answers'}, so the template and version "
            "it came from are unknown; restore the file from git history.",
            2,
        )
    return answers


def parse_answers(
    path: str | Path, pairs: list[str], template: str | None = None
) -> dict[str, str]:
    """`--data KEY=VALUE` pairs, checked against the questions of the project's template (or
    of `template`)."""
    if not pairs:
        return {}
    from mlops_handover.new import parse_data

    return parse_data(pairs, template or str(read_answers(Path(path).absolute())["_src_path"]))


def check_freshness(path: str | Path, template: str | None = None) -> Freshness:
    """Compare `_commit` with the newest release of the project's template (or of `template`);
    unknowable is an error."""
    project = Path(path).absolute()
    answers = read_answers(project)
    src, commit = template or str(answers["_src_path"]), str(answers["_commit"])
    found = template_freshness(src, commit)
    if found.state == "unchecked":
        raise HandoverError(f"cannot tell whether {project} is current: {found.note}.", 2)
    return Freshness(str(project), src, commit, found.latest, found.state, found.note)


def update_project(
    path: str | Path,
    data: Mapping[str, str] | None = None,
    *,
    vcs_ref: str | None = None,
    pretend: bool = False,
    template: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> UpdateResult:
    """Update the project at `path` in place (or, with `pretend`, in a throw-away clone).

    `data` changes answers (`ci_provider=gitlab`); `vcs_ref=":current:"` keeps the template
    version, to re-render with a changed answer only; `template` replaces `_src_path`.
    """
    started = time.monotonic()
    project = Path(path).absolute()
    top = require_repository(project, "update")
    answers = read_answers(project)
    if dirty := [entry["path"] for entry in status(top)]:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise HandoverError(
            f"the working tree of {top} has uncommitted changes ({shown}): commit them "
            "(`git add -A && git commit`) or stash them (`git stash --include-untracked`), "
            "then run `handover update` again, so that the update's changes are exactly what "
            "`git diff` shows.",
            2,
        )
    src = template or str(answers["_src_path"])
    if pretend:
        with _clone(top, progress) as clone:
            target = clone / project.relative_to(top)
            result = _run_update(target, clone, src, dict(data or {}), vcs_ref, progress)
    else:
        try:
            result = _run_update(project, top, src, dict(data or {}), vcs_ref, progress)
        except BaseException:
            # The tree was clean: going back to HEAD loses nothing, and a half-applied update
            # (a migration ran, then an answer was refused) never stays behind.
            git(top, "reset", "--quiet", "--hard", "HEAD")
            git(top, "clean", "--quiet", "-fd")
            raise
    result.path, result.pretend = str(project), pretend
    result.version_before = str(answers["_commit"])
    result.seconds = round(time.monotonic() - started, 2)
    return result


@contextmanager
def _clone(top: Path, progress: Callable[[str], None]) -> Iterator[Path]:
    """A local clone of the repository's HEAD (the tree is clean, so HEAD is the tree)."""
    with tempfile.TemporaryDirectory(prefix="handover-pretend-") as tmp:
        clone = Path(tmp) / top.name
        progress(f"Cloning {top} into a throw-away directory for --pretend")
        git(Path(tmp), "clone", "--quiet", "--local", "--no-hardlinks", str(top), str(clone))
        yield clone


def _run_update(
    project: Path,
    top: Path,
    src: str,
    data: dict[str, str],
    vcs_ref: str | None,
    progress: Callable[[str], None],
) -> UpdateResult:
    progress(f"Updating {project} from {src}" + (f" at {vcs_ref}" if vcs_ref else ""))
    import copier  # about a second: only once the inputs are known to be good
    from copier import VcsRef
    from copier.errors import CopierError, TaskError

    with copier_source(src) as template, _template_link(project, template):
        ref = VcsRef.CURRENT if vcs_ref == VcsRef.CURRENT.value else vcs_ref or template.ref
        try:
            worker = copier.run_update(
                str(project),
                data,
                defaults=True,
                overwrite=True,
                unsafe=True,
                skip_tasks=True,
                conflict="inline",
                context_lines=3,
                vcs_ref=ref,
                quiet=True,
            )
        except TaskError as error:
            raise HandoverError(
                f"a template migration failed (exit {error.returncode}; its output is above); "
                "the update was undone, nothing changed.",
                1,
            ) from error
        except (CopierError, ValueError) as error:
            raise HandoverError(f"the update was refused, nothing changed: {error}", 2) from error
        migrations = _migrations(worker)
    progress("Looking for conflicts (unmerged entries, markers, *.rej files)")
    after = read_answers(project)
    changes = status(top)
    return UpdateResult(
        path=str(project),
        template=str(after.get("_src_path", src)),
        version_before="",
        version_after=str(after["_commit"]),
        pretend=False,
        changes=changes,
        conflicts=find_conflicts(top, [c["path"] for c in changes]),
        migrations=migrations,
        seconds=0.0,
    )


@contextmanager
def _template_link(project: Path, template: TemplateSource) -> Iterator[None]:
    """Have Copier read the template from `template.read`, and the project record
    `template.record` afterwards.

    Copier takes an update's template from `_src_path` in the answers file and from nowhere
    else (`run_update` has no source argument), so while it runs `_src_path` names what it
    must read (a throw-away tagged clone, say), and `--skip-worktree` hides that edit from its
    clean-tree check (`git status`); the tree was clean, so nothing else is hidden. Then the
    flag is lifted and `_src_path` names the stable source, whatever the answers file template
    of the new version wrote.
    """
    hide = str(read_answers(project)["_src_path"]) != template.read
    if hide:
        set_src_path(project, template.read)
        git(project, "update-index", "--skip-worktree", "--", ANSWERS_FILE)
    try:
        yield
    finally:
        if hide:
            git(project, "update-index", "--no-skip-worktree", "--", ANSWERS_FILE)
        if template.read != template.record:
            set_src_path(project, template.record)


def find_conflicts(top: Path, changed: list[str]) -> list[Conflict]:
    """Every conflict an update can leave: unmerged index entries, markers in changed files,
    and `*.rej` files (also ignored ones: Copier may write them even with inline conflicts)."""
    reasons: dict[str, list[str]] = {}
    for line in git(top, "ls-files", "--unmerged").splitlines():
        reasons.setdefault(line.split("\t", 1)[1], []).append("unmerged")
    for rel in changed:
        path = top / rel
        if path.is_file() and not path.is_symlink() and MARKER.search(path.read_bytes()):
            reasons.setdefault(rel, []).append("markers")
    ignored = git(top, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory")
    for rel in [*changed, *ignored.splitlines()]:
        if rel.endswith(".rej") and (top / rel).is_file():
            reasons.setdefault(rel, []).append("rejected")
    return [Conflict(p, sorted(set(r))) for p, r in sorted(reasons.items())]


def _migrations(worker: Any) -> list[dict[str, str]]:
    """The migrations Copier ran: those whose version the update crossed, as Copier picks them."""
    old, new = worker.subproject.template, worker.template
    seen: dict[tuple[str, str], None] = {}
    for stage in ("before", "after"):
        for task in new.migration_tasks(stage, old):
            cmd = task.cmd if isinstance(task.cmd, str) else " ".join(map(str, task.cmd))
            script = next((Path(p).name for p in cmd.split() if "hooks/migrations/" in p), cmd)
            seen[(str(task.extra_vars.get("version_current", "")), script)] = None
    return [{"version": version, "command": script} for version, script in seen]
