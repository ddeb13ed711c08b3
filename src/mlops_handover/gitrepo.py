"""Git plumbing shared by every command: one hardened way to run git, and the working-tree guard.

Every git process of handover goes through `run_git`, because a repository's own config can
name commands that git runs on reads (core.fsmonitor by `git status`, hooks, filter and diff
drivers, an ssh command, files pulled in by include.path). Command-line `-c` settings win over
every config file, so each such key is overridden on the command line:

- `trusted=True` (the default of `git`): the user's own project, where `new`, `update` and
  `adopt` commit or stage. The user's global and system config stay in force (their identity,
  core.excludesFile, credential helpers), only what the repository could name is disabled.
- `trusted=False`: a repository handover only reads (the audit, doctor, the drill's clone),
  possibly a vendor's delivery. No system or global config either, so the reading does not
  depend on who runs it, no lock is taken and the index is never refreshed.

`handover update` and `handover adopt` refuse to start on a path that is not a git repository
(and `update` on a dirty tree), so that everything they change is what `git status` shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlops_handover.errors import HandoverError

#: Seconds a git command may take before it counts as hung.
GIT_TIMEOUT = 600.0
#: Transports git may use; `ext::` (runs a command) and `fd::` are not among them.
PROTOCOLS = "file:git:http:https:ssh"
#: Sub-commands that can run diff drivers: given --no-ext-diff --no-textconv.
_DIFF_COMMANDS = frozenset({"diff", "log", "show", "whatchanged", "diff-tree", "diff-index"})
_ATTRIBUTE_FILTER = re.compile(rb"(?:^|\s)filter=([^\s]+)")
#: A filter driver's settings that make it a no-op: `cat`, no long-running process.
_NO_FILTER = (("clean", "cat"), ("smudge", "cat"), ("process", ""), ("required", "false"))


def _overrides(repo: Path | None, trusted: bool) -> list[str]:
    """`-c` options that switch off every command a repository's config can name."""
    options = {
        "core.fsmonitor": "false",
        # No hook is found under /dev/null, and nothing is created that a killed process
        # would leave behind (an empty directory would do the same).
        "core.hooksPath": os.devnull,
        "core.alternateRefsCommand": "",  # an empty program: nothing runs
        "protocol.ext.allow": "never",
        "log.showSignature": "false",  # else gpg.program runs on `git log`
    }
    if repo is not None:
        # No repository is read by a command run outside of one (clone, ls-remote): ssh and
        # credentials then come from the user's own config.
        options["core.sshCommand"] = "false"
        options["credential.helper"] = ""
        options["core.askPass"] = "false"
    if repo is not None and not trusted:
        options["submodule.recurse"] = "false"
        # A tarball delivery is owned by another uid; only command-line and global config
        # may mark it safe, and everything it could run is switched off above.
        options["safe.directory"] = str(repo.absolute())
    return [arg for key, value in options.items() for arg in ("-c", f"{key}={value}")]


def _environment(trusted: bool, env: Mapping[str, str] | None) -> dict[str, str]:
    environ = {**os.environ, **(env or {})}
    environ.update(
        GIT_OPTIONAL_LOCKS="0",
        GIT_TERMINAL_PROMPT="0",
        GIT_ALLOW_PROTOCOL=PROTOCOLS,
        GIT_NO_LAZY_FETCH="1",  # git >= 2.44: a partial clone does not fetch what it lacks
    )
    if not trusted:
        environ.update(
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_NO_REPLACE_OBJECTS="1",  # the objects as stored, not as refs/replace says
            LC_ALL="C",  # messages and formats as parsed
        )
    return environ


#: Repository -> (its `_fingerprint`, its filter drivers): the audit runs dozens of git commands.
_drivers: dict[str, tuple[tuple[int, ...], frozenset[str]]] = {}


def _fingerprint(repo: Path) -> tuple[int, ...] | None:
    """Stamps of .git/config, the attribute files at hand and the index, which change when a
    driver is added (an include file changing alone is not seen: nothing handover reads edits
    one); None when the git directory is not `repo/.git` (a worktree, a submodule): no cache."""
    git_dir = repo / ".git"
    if not git_dir.is_dir():
        return None
    index = os.environ.get("GIT_INDEX_FILE") or str(git_dir / "index")
    stamps: list[int] = []
    for path in (git_dir / "config", git_dir / "info" / "attributes", repo / ".gitattributes"):
        try:
            stat = os.stat(path)
            stamps += [stat.st_mtime_ns, stat.st_size]
        except OSError:
            stamps += [0, 0]
    try:
        stamps.append(os.stat(index).st_mtime_ns)
    except OSError:
        stamps.append(0)
    return tuple(stamps)


def filter_drivers(repo: Path) -> frozenset[str]:
    """The filter drivers the repository's config (include files too) defines, and those its
    attribute files name (root .gitattributes, tracked ones, .git/info/attributes)."""
    key, stamp = str(repo.absolute()), _fingerprint(repo)
    cached = _drivers.get(key)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    # The repository's own config only, read as untrusted: `git config` runs nothing.
    base, env = ["git", *_overrides(repo, trusted=False)], _environment(False, None)
    found: set[str] = set()

    def read(*args: str) -> bytes:
        try:
            result = subprocess.run(
                [*base, *args], cwd=repo, env=env, capture_output=True, stdin=subprocess.DEVNULL,
                timeout=GIT_TIMEOUT, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return b""
        return result.stdout if result.returncode == 0 else b""

    listing = read("config", "--includes", "-z", "--get-regexp", r"^filter\.")
    for entry in listing.split(b"\0"):
        name = entry.partition(b"\n")[0][len(b"filter.") :]
        found.add(os.fsdecode(name.rpartition(b".")[0]))
    files = [repo / ".gitattributes"]
    if git_dir := os.fsdecode(read("rev-parse", "--absolute-git-dir").strip()):
        files.append(Path(git_dir, "info", "attributes"))
    tracked = read("ls-files", "-z", "--cached", "--", ":(glob)**/.gitattributes")
    files += [repo / os.fsdecode(p) for p in tracked.split(b"\0") if p]
    for path in files:
        if not path.is_file():  # a FIFO would block the read
            continue
        try:
            with open(path, "rb") as attributes:
                names = _ATTRIBUTE_FILTER.findall(attributes.read(1 << 20))
        except OSError:
            continue
        found.update(os.fsdecode(name) for name in names)
    drivers = frozenset(found - {""})
    if stamp is not None:
        _drivers[key] = (stamp, drivers)
    return drivers


def _filter_environment(drivers: frozenset[str], environ: dict[str, str]) -> None:
    """Each driver made a no-op (`cat`, no long-running process, not required).

    Set as GIT_CONFIG_KEY_<n>: like `-c`, above every config file, and a driver's name may
    hold a `=` that `-c` cannot express.
    """
    given = environ.get("GIT_CONFIG_COUNT", "")
    count = int(given) if given.isdigit() else 0
    for driver in sorted(drivers):
        for setting, value in _NO_FILTER:
            environ[f"GIT_CONFIG_KEY_{count}"] = f"filter.{driver}.{setting}"
            environ[f"GIT_CONFIG_VALUE_{count}"] = value
            count += 1
    environ["GIT_CONFIG_COUNT"] = str(count)


def git_invocation(
    repo: Path | None, *args: str, trusted: bool = True, env: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of a hardened git command to run in `repo`; for `subprocess.Popen`
    callers that stream, everyone else uses `run_git`. `repo` None: see `run_git`."""
    environ = _environment(trusted, env)
    if repo is not None:
        _filter_environment(filter_drivers(repo), environ)
    command = list(args)
    if command and command[0] in _DIFF_COMMANDS:
        command[1:1] = ["--no-ext-diff", "--no-textconv"]
    if command and command[0] in ("status", "diff") and not trusted:
        # A submodule is looked at by a git run with its own config, filters included.
        command[1:1] = ["--ignore-submodules=all"]
    return ["git", "--no-pager", *_overrides(repo, trusted), *command], environ


def run_git(
    repo: Path | None,
    *args: str,
    trusted: bool = True,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = GIT_TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """Run hardened git in `repo`; output as bytes (paths are not always UTF-8).

    `repo` None: a command that reads no repository (clone, ls-remote with absolute paths),
    run in an empty directory of its own so that the caller's current repository is not read.
    A non-zero exit is the caller's to judge; a git that cannot start or hangs past `timeout`
    is a HandoverError naming the command.
    """
    if repo is not None and not os.path.isdir(repo):
        raise HandoverError(f"{repo} is not a directory: git cannot run there")
    argv, environ = git_invocation(repo, *args, trusted=trusted, env=env)
    with contextlib.ExitStack() as stack:
        if repo is None:
            cwd = stack.enter_context(tempfile.TemporaryDirectory(prefix="handover-git-"))
            environ["GIT_CEILING_DIRECTORIES"] = str(Path(cwd).parent)
        else:
            cwd = str(repo)
        try:
            return subprocess.run(
                argv, cwd=cwd, env=environ, input=input, capture_output=True, timeout=timeout,
                stdin=None if input is not None else subprocess.DEVNULL, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise HandoverError(
                f"`git {' '.join(args)}` did not finish in {timeout:g} s in {repo or cwd}"
            ) from None
        except OSError as error:
            raise HandoverError(f"git could not run ({error}): install git") from None


def git(
    repo: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    trusted: bool = True,
    input: bytes | None = None,
) -> str:
    """Run git in `repo` (`env` added to the environment); its output as text (undecodable
    bytes of file names kept as surrogates); its error output becomes a HandoverError."""
    result = run_git(repo, *args, env=env, trusted=trusted, input=input)
    if result.returncode != 0:
        error = os.fsdecode(result.stderr).strip()
        raise HandoverError(f"`git {' '.join(args)}` failed in {repo}: {error}")
    return os.fsdecode(result.stdout).rstrip()


def require_repository(path: Path, command: str) -> Path:
    """The top level of the git repository at `path`; a clear error (exit 2) otherwise."""
    if not path.exists():
        raise HandoverError(f"{path} does not exist: give the path of a git repository.", 2)
    if not path.is_dir():
        raise HandoverError(f"{path} is not a directory: give the path of a git repository.", 2)
    result = run_git(path, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise HandoverError(
            f"{path} is not a git repository: `handover {command}` works on git repositories, "
            "so that every change it makes shows in `git status` (run `git init` and commit "
            "the files first).",
            2,
        )
    return Path(os.fsdecode(result.stdout.strip()))


def status(repo: Path) -> list[dict[str, str]]:
    """Changed, staged and untracked (not ignored) paths with their `git status` code ("M",
    "??", "UU" ...); a rename is its deletion and its addition. Read with -z: a path is
    never quoted or split."""
    out = run_git(repo, "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames")
    if out.returncode != 0:
        error = os.fsdecode(out.stderr).strip()
        raise HandoverError(f"`git status` failed in {repo}: {error}")
    records = [os.fsdecode(r) for r in out.stdout.split(b"\0") if r]
    return [{"status": r[:2].strip(), "path": r[3:]} for r in records]


def _identity(repo: Path) -> list[str]:
    """No options when git knows who commits; else the last commit's author, as `-c` options.

    The same question hooks/post_copy.py asks before the first commit.
    """
    known = all(
        run_git(repo, "var", ident).returncode == 0
        for ident in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
    )
    if known:
        return []
    name, email = git(repo, "log", "-1", "--format=%an%n%ae").splitlines()
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]


def commit_all(repo: Path, message: str) -> None:
    """Commit everything; without a git identity, reuse the last commit's author."""
    git(repo, "add", "--all")
    if not git(repo, "status", "--porcelain"):
        return
    git(repo, *_identity(repo), "commit", "--quiet", "--no-verify", "-m", message)


def amend(repo: Path, path: str) -> None:
    """Fold the change of `path` into the last commit, when there is one and it tracks `path`."""
    if not git(repo, "ls-files", "--", path) or not git(repo, "status", "--porcelain", "--", path):
        return
    options = ["--quiet", "--no-verify", "--amend", "--no-edit"]
    git(repo, *_identity(repo), "commit", *options, "--", path)
