"""`handover update`: bring a generated project to a newer template version, losing nothing.

Copier does the merge (`copier update`, inline conflicts). Around it this module adds what
Copier leaves to the user (docs/update.md):

- it refuses a dirty working tree, so the update's changes are exactly what `git status` shows;
- Copier runs in a throw-away worktree and the result is swapped in through a journal, so a
  kill at any moment leaves the project as it was or, once `recover_update` (the next
  `handover update`) has run, as updated;
- a file the update deletes although the user edited it is kept, as a conflict ("removed");
- it finds every conflict the merge left (unmerged index entries, conflict markers, `*.rej`
  files), because Copier exits 0 even when it leaves them;
- `pretend` runs the same update in a throw-away clone and reports it, writing nothing here;
- it names the template version before and after and the migrations that ran;
- post-copy tasks never run (`skip_tasks`); migrations still do, when the update crosses them;
- the template's versions are its releases, found without tags (mlops_handover.releases):
  Copier reads the template with them (`copier_source`), and `_src_path` stays the stable one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
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
            if any("removed" in c.reasons for c in self.conflicts):
                lines.append(
                    "A `removed` file is one the new version (or a changed answer) no longer "
                    "renders, which you had edited: it is kept as you had it. Move what you need "
                    "into the files that replace it, then `git rm` it, or keep it as your own."
                )
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
    restore = "restore the file from git history (`git log -p -- .copier-answers.yml`)"
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise HandoverError(f"{path} is not UTF-8 text: {restore}.", 2) from None
    # PyYAML also raises ValueError (an impossible date) and RecursionError (deep nesting).
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        reason = " ".join(str(error).split())
        raise HandoverError(f"{path} is not valid YAML ({reason}): {restore}.", 2) from None
    if not isinstance(answers, dict):
        raise HandoverError(f"{path} is not a mapping of answers: {restore}.", 2)
    missing = [key for key in ("_src_path", "_commit") if not answers.get(key)]
    if missing:
        raise HandoverError(
            f"{path} has no {' or '.join(missing)}, so the template and version it came from "
            f"are unknown: {restore}.",
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
    with _update_lock(top):
        if finished := _recover(project, top, progress):
            finished.seconds = round(time.monotonic() - started, 2)
            return finished
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
            result = _transaction(project, top, src, dict(data or {}), vcs_ref, progress)
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

    before = read_answers(project)
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
        kept = _keep_edited_removals(project, top, template.read, before)
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
        conflicts=sorted(
            [*find_conflicts(top, [c["path"] for c in changes]), *kept], key=lambda c: c.path
        ),
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


def _keep_edited_removals(
    project: Path, top: Path, source: str, before: Mapping[str, Any]
) -> list[Conflict]:
    """Put back each file the update deleted although the user had edited it, as a conflict.

    Copier deletes what the new version (or a changed answer) no longer renders, edited or
    not. An edit is a difference from the old version's rendering, so that is rendered again
    (only when the update deleted something) to tell the two apart.
    """
    deleted = [p for p in git(top, "ls-files", "--deleted", "-z").split("\0") if p]
    if not deleted:
        return []
    import copier

    answers = {k: v for k, v in before.items() if not k.startswith("_")}
    with tempfile.TemporaryDirectory(prefix="handover-old-render-") as tmp:
        copier.run_copy(
            source,
            str(Path(tmp) / project.relative_to(top)),
            data=answers,
            defaults=True,
            vcs_ref=str(before["_commit"]),
            skip_tasks=True,
            unsafe=True,
            quiet=True,
        )
        edited = [p for p in deleted if not _renders_as(top, p, Path(tmp) / p)]
    if edited:
        git(top, "checkout-index", "--force", "--", *edited)
    return [Conflict(p, ["removed"]) for p in edited]


def _renders_as(top: Path, path: str, rendered: Path) -> bool:
    """Whether the index holds `path` exactly as the template rendered it (`rendered`)."""
    if not rendered.is_file() or rendered.is_symlink():
        return False
    rendered_id = git(top, "hash-object", "--no-filters", "--", str(rendered))
    return rendered_id == git(top, "rev-parse", f":{path}")


# --- the transaction: stage, journal, swap -----------------------------------------------------
#
# The update runs in a throw-away worktree of HEAD (`stage`), never in the project. Then a journal
# under the git directory, `.git/handover-update/journal.json`, written atomically, records every
# path the update changes (a sha256 of it before and after) with the new files copied beside it,
# and the index entries. From then on the update is done: the files and the index are swapped in,
# path by path, and the journal is deleted. Whoever finds a journal (`recover_update`) undoes a
# staging one (the project was not touched) and finishes a swapping one.

JOURNAL = "handover-update"


@contextmanager
def _update_lock(top: Path) -> Iterator[None]:
    """Held for a whole update, recovery included, so that no update settles the journal of
    one still running; the kernel drops it when its process dies, so it is never stale. The
    lock is on the git directory itself: taking it writes nothing."""
    fd = os.open(git(top, "rev-parse", "--absolute-git-dir"), os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HandoverError(
                f"another `handover update` is running in {top}: wait for it to finish.", 2
            ) from None
        yield
    finally:
        os.close(fd)


def _journal_dir(top: Path) -> Path:
    """Where this worktree's journal lives (`.git/handover-update`; the per-worktree git
    directory in a linked worktree)."""
    return top / git(top, "rev-parse", "--git-path", JOURNAL)


def _write_journal(journal: Path, state: dict[str, Any]) -> None:
    """Replace the journal atomically: a kill leaves the old state or the new one."""
    part = journal / "journal.json.part"
    with part.open("w", encoding="utf-8") as handle:
        json.dump(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, journal / "journal.json")


def _read_journal(journal: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((journal / "journal.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _transaction(
    project: Path,
    top: Path,
    src: str,
    data: dict[str, str],
    vcs_ref: str | None,
    progress: Callable[[str], None],
) -> UpdateResult:
    """The update, staged in a throw-away worktree of HEAD and swapped in through the journal."""
    journal = _journal_dir(top)
    journal.mkdir()  # _recover, under the same lock, left none
    stage = Path(tempfile.gettempdir()) / f"handover-update-{uuid.uuid4().hex}"
    _write_journal(journal, {"state": "staging", "stage": str(stage)})
    try:
        git(top, "worktree", "add", "--quiet", "--detach", str(stage), "HEAD")
        result = _run_update(stage / project.relative_to(top), stage, src, data, vcs_ref, progress)
        result.path, result.version_before = str(project), str(read_answers(project)["_commit"])
        _stage_swap(top, stage, journal, result)
    except BaseException:
        _settle(top, journal)  # undone, or finished if the journal was already written
        raise
    return _as_applied(top, result, _settle(top, journal))


def _as_applied(top: Path, result: UpdateResult, changed: list[str]) -> UpdateResult:
    """`result` with the changes and conflicts read from the project itself once the update is
    in it (a `*.rej` the project ignores is there, not in the stage), plus the removed files
    kept and the paths `changed` after an interruption."""
    result.changes = status(top)
    found = find_conflicts(top, [c["path"] for c in result.changes])
    found += [c for c in result.conflicts if "removed" in c.reasons]
    found += [Conflict(p, ["changed since the interrupted update"]) for p in changed]
    result.conflicts = sorted(found, key=lambda c: c.path)
    return result


def _stage_swap(top: Path, stage: Path, journal: Path, result: UpdateResult) -> None:
    """Copy the update's files into the journal and write it: the update's point of no return."""
    out = git(
        stage, "status", "--porcelain", "-z", "--untracked-files=all", "--ignored", "--no-renames"
    )
    paths = sorted({entry[3:] for entry in out.split("\0") if entry})
    records = []
    for path in paths:
        after = _digest(stage / path)
        if after is not None:
            copy = journal / "after" / path
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(stage / path, copy, follow_symlinks=False)
            if not copy.is_symlink():  # on disk before the journal points at it
                with copy.open("rb") as handle:
                    os.fsync(handle.fileno())
        records.append([path, _digest(top / path), after])
    wanted = set(paths)
    index = [
        entry
        for entry in git(stage, "ls-files", "--stage", "-z").split("\0")
        if entry and entry.split("\t", 1)[1] in wanted
    ]
    _write_journal(
        journal,
        {
            "state": "swapping",
            "stage": str(stage),
            "paths": records,
            "index": index,
            "result": asdict(result),
        },
    )


def _digest(path: Path) -> str | None:
    """What is at `path`: None (nothing), a symlink's target, or a file's sha256."""
    if path.is_symlink():
        return "symlink:" + os.readlink(path)
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _settle(top: Path, journal: Path) -> list[str]:
    """Finish a swapping journal or undo any other, then delete it and the stage. Returns the
    paths left as they are because they changed after the interruption (neither before nor
    after)."""
    state = _read_journal(journal) or {}
    changed: list[str] = []
    if state.get("state") == "swapping":
        changed = _swap(top, journal, state)
    if stage := state.get("stage"):
        with suppress(HandoverError):  # not registered yet, or already removed
            git(top, "worktree", "remove", "--force", stage)
        shutil.rmtree(stage, ignore_errors=True)
    (journal / "journal.json").unlink(missing_ok=True)
    shutil.rmtree(journal, ignore_errors=True)
    return changed


def _swap(top: Path, journal: Path, state: dict[str, Any]) -> list[str]:
    """Put each path in its after state, then the index entries; idempotent, so a kill in the
    middle is finished by running it again."""
    changed = []
    # Deletions last: a file the update moves is always somewhere in the tree.
    for path, before, after in sorted(state["paths"], key=lambda r: r[2] is None):
        target = top / path
        now = _digest(target)
        if now == after:
            continue
        if now != before:
            changed.append(path)
            continue
        if after is None:
            target.unlink()
            with suppress(OSError):  # directories the update emptied go, as Copier's do
                for parent in target.parents:
                    if parent == top:
                        break
                    parent.rmdir()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".handover-update")
        if part.is_symlink() or part.exists():
            part.unlink()
        shutil.copy2(journal / "after" / path, part, follow_symlinks=False)
        os.replace(part, target)
    swapped = {path for path, _, _ in state["paths"]} - set(changed)
    zero = "0" * len(git(top, "rev-parse", "HEAD"))
    lines = [f"0 {zero}\t{path}" for path in sorted(swapped)]
    lines += [e for e in state["index"] if e.split("\t", 1)[1] in swapped]
    index_info = "".join(f"{line}\0" for line in lines)
    git(top, "update-index", "-z", "--index-info", input=os.fsencode(index_info))
    return changed


def recover_update(
    path: str | Path, progress: Callable[[str], None] = lambda message: None
) -> UpdateResult | None:
    """Settle an update that was interrupted in the project at `path` (killed, power lost).

    An update killed before its journal was complete is undone (the project was never
    touched) and None returned; one killed while swapping is finished, and its result
    returned. Either way the project ends byte for byte as before or as after the update.
    Also repairs what an update by an earlier mlops-handover, killed while Copier ran in the
    project itself, left: `_src_path` naming a deleted throw-away clone, and the answers file
    hidden from `git status` (`--skip-worktree`). Cheap when there is nothing to settle (four
    git calls), so every command that works on a project can call it first.
    """
    project = Path(path).absolute()
    try:
        top = require_repository(project, "update")
    except HandoverError:
        return None  # no repository, no update: the calling command says what is wrong
    with _update_lock(top):
        return _recover(project, top, progress)


def _recover(project: Path, top: Path, progress: Callable[[str], None]) -> UpdateResult | None:
    """`recover_update`, under the update lock."""
    _recover_hidden_answers(project, progress)
    journal = _journal_dir(top)
    if not journal.exists():
        return None
    state = _read_journal(journal) or {}
    changed = _settle(top, journal)
    if state.get("state") != "swapping":
        progress(f"Undid an update of {top} that was interrupted: it is as it was before.")
        return None
    result = state["result"]
    conflicts = [Conflict(**c) for c in result.pop("conflicts")]
    progress(
        f"Finished an update of {top} that was interrupted (to template version "
        f"{result['version_after']}); run `handover update` again once it is committed."
    )
    return _as_applied(top, UpdateResult(**result, conflicts=conflicts), changed)


def _recover_hidden_answers(project: Path, progress: Callable[[str], None]) -> None:
    """Undo the answers-file edits an earlier mlops-handover made in the project itself (since
    the update runs in a stage, it no longer does): the `--skip-worktree` flag and the
    throw-away `_src_path`, put back as HEAD has it."""
    if not git(project, "ls-files", "-v", "--", ANSWERS_FILE).startswith("S "):
        return
    git(project, "update-index", "--no-skip-worktree", "--", ANSWERS_FILE)
    committed = yaml.safe_load(git(project, "show", f"HEAD:./{ANSWERS_FILE}")) or {}
    if (project / ANSWERS_FILE).is_file() and committed.get("_src_path"):
        set_src_path(project, str(committed["_src_path"]))
    progress(
        f"An interrupted update by an earlier mlops-handover left {ANSWERS_FILE} hidden from "
        f"git with a temporary _src_path: both repaired. `git status` shows anything else it "
        f"changed; {ABORT}."
    )


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
