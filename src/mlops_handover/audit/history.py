"""Evidence from the whole git history: large blobs, model binaries and secrets.

The fixture `history` gives a `History` of the audited repository. Git does the heavy lifting
in C, and the expensive parts run in background threads from the moment a check asks for the
fixture, so the tree scan and the history scan overlap:

- **large blobs**: `git cat-file --batch-all-objects --batch-check` lists every object's size
  (about 0.1 s for 130,000 objects);
- **secrets in tracked files**: one `git grep --cached -I -n -z -i` over the index with a
  prefilter (PCRE when git has it, else POSIX ERE), each candidate line then checked by the
  precise patterns of `scan_lines`;
- **secrets in history**: every stored blob that is not in the index (older versions of
  files, deleted files) streamed through one `git cat-file --batch` and scanned by
  `scan_lines` after a literal prefilter;
- only the suspects (large blobs, blobs with a probable secret) are then looked up in one
  `git log --all --raw --find-object=...` walk, which proves they are reachable (a dangling
  blob left by an amended commit is not history) and names their path and the commit that
  added them. A clean repository never pays for that walk.

Measured on a repository of 100,000 tracked files and 5,000 commits: about 0.6 s of CPU for
a clean one (the three scans overlap in threads), 0.55 s more when a suspect is found.

A finding never carries the secret: `Secret.masked` keeps at most a known prefix (`AKIA`,
`ghp_`...) and stars.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_handover.audit.fixtures import Context, fixture
from mlops_handover.audit.model import Unavailable
from mlops_handover.errors import HandoverError
from mlops_handover.gitrepo import git_invocation, run_git

#: Model binaries that belong in DVC or a model registry, never in git.
MODEL_SUFFIXES = (
    ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".h5", ".hdf5", ".keras", ".onnx",
    ".safetensors", ".ckpt", ".skops", ".tflite", ".pb", ".gguf",
)  # fmt: skip
#: History blobs larger than this are not scanned for secrets (data, not configuration).
MAX_SCAN_BYTES = 5 * 1024 * 1024
#: A line with one of these markers is an accepted false positive (gitleaks, detect-secrets).
ALLOW_MARKERS = ("handover:allow", "gitleaks:allow", "pragma: allowlist secret")

# --- the secret patterns -------------------------------------------------------------------

#: Case-sensitive patterns with a fixed prefix, run on the original bytes.
_TOKENS = re.compile(
    rb"(?P<aws>(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9]))"
    rb"|(?P<pem>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)"
    rb"|(?P<github>(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})"
    rb"(?![A-Za-z0-9_]))"
    rb"|(?P<gitlab>(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,})"
    rb"|(?P<slack>(?<![A-Za-z0-9_])xox[bpars]-[0-9A-Za-z-]{10,})"
    rb"|(?P<url>://(?P<user>[^\s/:@'\"<>(){}\[\]]{1,128}):(?P<pw>[^\s/@'\"<>]{3,256})@"
    rb"(?=[A-Za-z0-9\[]))"
)
#: Case-insensitive keyword assignments, run on the lower-cased bytes (same offsets).
_ASSIGNMENTS = re.compile(
    rb"(?P<awssecret>aws_?secret_?access_?key)[\"']?[ \t]*[:=][ \t]*[\"']?"
    rb"(?P<awsvalue>[a-z0-9/+=]{40})(?![a-z0-9/+=])"
    rb"|(?P<key>passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    rb"|private[_-]?key|secret[_-]?key|client[_-]?secret)"
    rb"[\"'`]?[ \t]*(?::=|=>|:|=)(?!=)[ \t]*(?P<quote>[\"'`]?)(?P<value>[^\s\"'`,;]{8,})"
)

#: What `git grep` looks for first (lower-cased, so `-i` applies); PCRE and ERE alike.
GREP_PREFILTER = (
    "(akia|asia)[0-9a-z]{16}"
    "|private key"
    "|gh[pousr]_[0-9a-z]{36}|github_pat_|glpat-|xox[bpars]-"
    "|(passw(or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    "|secret[_-]?key|client[_-]?secret)[\"'`]?[[:space:]]*[:=]"
    "|://[^/[:space:]:@]+:[^/[:space:]@]+@"
)

_KINDS = {
    "aws": "AWS access key ID",
    "awssecret": "AWS secret access key",
    "pem": "private key",
    "github": "GitHub token",
    "gitlab": "GitLab token",
    "slack": "Slack token",
    "url": "password in a URL",
    "key": "hard-coded credential",
}

_PLACEHOLDER_WORDS = (
    "example", "changeme", "change_me", "change-me", "placeholder", "dummy", "fake", "sample",
    "redacted", "xxxx", "****", "...", "your", "[fill", "todo", "replace", "insert", "test",
    "secret", "password", "passwd", "token", "<", ">", "${", "{{", "$(", "%(", "%s", "{",
)  # fmt: skip
_URL_PLACEHOLDER_PASSWORDS = {
    "pass",
    "tiger",
    "pw",
    "pwd",
    "user",
    "username",
    "secret",
    "xxx",
    "***",
    "token",
    "key",
    "apikey",
}
_CONFIG_SUFFIXES = {
    ".env", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".properties", ".toml", ".json",
    ".config", ".local", ".tfvars", ".sh", ".bash", ".zsh",
}  # fmt: skip
_SKIP_NAMES = {
    "uv.lock", "poetry.lock", "pdm.lock", "pipfile.lock", "package-lock.json", "yarn.lock",
    "pnpm-lock.yaml", "cargo.lock", "go.sum", "dvc.lock",
}  # fmt: skip


@dataclass(frozen=True)
class Secret:
    """A probable secret: where it is, what kind, and a masked form for messages."""

    kind: str
    path: str
    line: int | None
    masked: str
    #: Stable digest of the value, to tell the same secret in several places apart.
    fingerprint: str
    #: For a finding in history only: the commit that added it (short SHA) when known.
    commit: str | None = None

    @property
    def label(self) -> str:
        """What it is: "AWS access key ID", "password in a URL", "hard-coded credential"..."""
        return _KINDS.get(self.kind, self.kind)

    def describe(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        if self.commit:
            where += f" (commit {self.commit})"
        return f"{self.label} {self.masked} at {where}"


def mask(value: str, keep: int = 0) -> str:
    """`value` with all but the first `keep` characters starred (at most 12 stars)."""
    keep = min(keep, max(len(value) - 8, 0))
    return value[:keep] + "*" * min(max(len(value) - keep, 4), 12)


def _placeholder(value: str) -> bool:
    low = value.lower()
    if any(word in low for word in _PLACEHOLDER_WORDS):
        return True
    if value[:1] in "$%@&*" or len(set(value)) <= 3:
        return True
    # An environment variable's name (`MLFLOW_TRACKING_PASSWORD`) or words (`access_token`).
    if re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z]+(?:[._-][a-z]+)+", value):
        return True
    # A path or a file name: where the secret is kept, not the secret.
    path_like = re.search(r"\.(pem|key|json|crt|p12|txt|ya?ml|env|cfg|ini)$", low)
    return value.startswith(("/", "./", "../", "~/")) or path_like is not None


def _config_like(path: str) -> bool:
    name = PurePosixPath(path).name.lower()
    return name.startswith(".env") or PurePosixPath(name).suffix in _CONFIG_SUFFIXES


def _pem_has_body(lines: list[bytes], index: int) -> bool:
    """Whether the lines after a `BEGIN ... PRIVATE KEY` header hold key material."""
    for raw in lines[index + 1 : index + 4]:
        text = raw.strip().strip(b"\"',\\n")
        if text.startswith((b"Proc-Type:", b"DEK-Info:", b"Comment:")) or not text:
            continue
        return re.fullmatch(rb"[A-Za-z0-9+/=]{40,}", text) is not None
    return False


def _fingerprint(kind: str, value: bytes) -> str:
    return hashlib.sha256(kind.encode() + b"\0" + value).hexdigest()[:16]


def scan_lines(
    path: str, lines: list[bytes], numbers: Iterable[int] | None = None
) -> list[tuple[Secret, bytes]]:
    """Probable secrets in `lines` of the file `path` (only `numbers`, 0-based, when given).

    Returns each finding with the raw value (kept in memory only, to compare findings; never
    shown). Placeholders (`${{ secrets.X }}`, `$VAR`, `<...>`, `[FILL: ...]`, `example`,
    `changeme`, `***`) and lines marked `handover:allow` are not findings.
    """
    name = PurePosixPath(path).name.lower()
    if name in _SKIP_NAMES or name.endswith((".min.js", ".min.css", ".svg", ".map")):
        return []
    config = _config_like(path)
    found: list[tuple[Secret, bytes]] = []
    for index in numbers if numbers is not None else range(len(lines)):
        line = lines[index]
        if len(line) < 12 or any(marker.encode() in line for marker in ALLOW_MARKERS):
            continue
        spans = []  # of the tokens found, so that `TOKEN=ghp_...` is one finding, not two
        for match in _TOKENS.finditer(line):
            spans.append(match.span())
            kind = next(k for k in ("aws", "pem", "github", "gitlab", "slack", "url") if match[k])
            value = match[kind]
            text = value.decode("ascii", "replace")
            if kind == "pem":
                if not _pem_has_body(lines, index):
                    continue
                shown = "-----BEGIN ... PRIVATE KEY-----"
                value = b"".join(lines[index : index + 3])
            elif kind == "url":
                scheme = re.search(rb"([A-Za-z][A-Za-z0-9+.-]*)$", line[: match.start()])
                user = match["user"].decode("utf-8", "replace")
                password = match["pw"].decode("utf-8", "replace")
                host = line[match.end() : match.end() + 64].decode("utf-8", "replace")
                if scheme is None or _url_placeholder(scheme[1].decode(), user, password, host):
                    continue
                value = match["pw"]
                shown = f"{scheme[1].decode()}://{user}:****@"
            else:
                if kind == "slack" and _placeholder(text[5:]):
                    continue
                if kind != "slack" and ("EXAMPLE" in text or "xxxx" in text.lower()):
                    continue
                shown = mask(text, 5 if kind in ("gitlab", "slack") else 4)
            found.append((Secret(kind, path, index + 1, shown, _fingerprint(kind, value)), value))
        low = line.lower()
        for match in _ASSIGNMENTS.finditer(low):
            if match["awssecret"]:
                start, end = match.span("awsvalue")
                raw = line[start:end]
                text = raw.decode("ascii", "replace")
                if "EXAMPLE" in text:
                    continue
                found.append((Secret("awssecret", path, index + 1, mask(text), _fingerprint(
                    "awssecret", raw)), raw))  # fmt: skip
                continue
            start, end = match.span("value")
            raw = line[start:end]
            text = raw.decode("utf-8", "replace")
            quoted = bool(match["quote"])
            if quoted and line[end : end + 1] != match["quote"]:
                continue  # `"abc" + variable`, a value with spaces...: not a literal
            if any(a < end and start < b for a, b in spans):
                continue
            if not quoted and (not config or not _mixed(text) or re.search(r"[(\[{]", text)):
                continue  # unquoted: only in configuration, and not a call such as `os.getenv(`
            if _placeholder(text):
                continue
            key_start = match.start("key")
            key = re.search(rb"[A-Za-z0-9_.-]*$", line[:key_start])
            key_name = (key[0] if key else b"") + line[key_start : match.end("key")]
            shown = f"{key_name.decode('utf-8', 'replace')} = {mask(text)}"
            found.append((Secret("key", path, index + 1, shown, _fingerprint("key", raw)), raw))
    return found


#: URL schemes (the part before any `+driver`) whose `user:password@` is a login.
_LOGIN_SCHEMES = {
    "http", "https", "ftp", "ftps", "sftp", "ssh", "git", "svn", "postgres", "postgresql",
    "mysql", "mariadb", "mssql", "oracle", "mongodb", "redis", "rediss", "amqp", "amqps",
    "smtp", "smtps", "imap", "imaps", "ldap", "ldaps", "mqtt", "mqtts", "kafka", "nats", "s3",
    "webdav", "webdavs", "dav", "davs", "snowflake", "clickhouse", "cassandra", "neo4j",
    "bolt", "trino", "presto", "hive", "sqlserver", "jdbc", "databricks", "influxdb", "socks5",
}  # fmt: skip
#: Hosts of documentation examples: a password for them is an example, not a secret.
_EXAMPLE_HOST = re.compile(
    r"(localhost|127\.0\.0\.1|host|hostname|server|([a-z0-9-]+\.)*example\.(com|org|net)"
    r"|[a-z0-9.-]+\.(example|invalid|test|localhost))(?![a-z0-9.-])"
)


def _url_placeholder(scheme: str, user: str, password: str, host: str) -> bool:
    low = password.lower()
    return (
        scheme.lower().split("+")[0] not in _LOGIN_SCHEMES
        or low in _URL_PLACEHOLDER_PASSWORDS
        or low == user.lower()
        or _placeholder(password)
        or _EXAMPLE_HOST.match(host.lower()) is not None
    )


def _mixed(value: str) -> bool:
    """At least two of lower case, upper case, digits and symbols: not a plain word."""
    classes = [
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any(c.isdigit() for c in value),
        any(not c.isalnum() for c in value),
    ]
    return sum(classes) >= 2


def scan_text(path: str, text: str | bytes) -> list[Secret]:
    """The probable secrets in one file's content (see `scan_lines`)."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return [secret for secret, _ in scan_lines(path, data.split(b"\n"))]


# --- git plumbing ----------------------------------------------------------------------------


def _git(root: Path, *args: str, input: bytes | None = None) -> tuple[int, bytes, bytes]:
    """git run as on an untrusted repository (see `gitrepo`): (exit code, stdout, stderr)."""
    try:
        result = run_git(root, *args, trusted=False, input=input)
    except HandoverError as error:
        raise Unavailable(str(error)) from None
    return result.returncode, result.stdout, result.stderr


def _git_ok(root: Path, *args: str, input: bytes | None = None) -> bytes:
    code, out, err = _git(root, *args, input=input)
    if code != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()
        raise Unavailable(f"git {args[0]} failed: {message[-1] if message else code}")
    return out


class _Background:
    """A value computed in a thread; `.result()` waits and re-raises its error."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self._function = function
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._function()
        except BaseException as error:  # handed to the caller
            self._error = error

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _batch_spans(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(oid, start, end) of each object's content in `git cat-file --batch` output."""
    position = 0
    while position < len(data):
        header_end = data.find(b"\n", position)
        if header_end < 0:
            return
        header = data[position:header_end].split()
        if len(header) < 3:  # "<oid> missing"
            position = header_end + 1
            continue
        start = header_end + 1
        end = start + int(header[2])
        yield header[0], start, end
        position = end + 1


def _read_batch(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(oid, content) from `git cat-file --batch` output."""
    for oid, start, end in _batch_spans(data):
        yield oid, data[start:end]


#: Blobs of a million bytes or more (seven digits): the only sizes anything compares.
_INDEX_OID = re.compile(rb"^\d+ ([0-9a-f]+) ", re.MULTILINE)


_TOKEN_HINT = re.compile(rb"AKIA|ASIA|-----BEGIN|gh[pousr]_|github_pat_|glpat-|xox[bpars]-|://")
_KEYWORD_HINT = re.compile(
    rb"(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    rb"|secret[_-]?key|client[_-]?secret)[\"'`]?[ \t]*[:=]"
)


@dataclass(frozen=True)
class _Objects:
    #: Every blob in the object store (reachable or not).
    blobs: set[bytes]
    #: Size of every blob of 1,000,000 bytes or more (fewer digits for a lower limit).
    sizes: dict[bytes, int]
    #: The blobs of the index (the tracked files as staged).
    index: set[bytes]
    has_commits: bool


@dataclass(frozen=True)
class LargeBlob:
    oid: str
    size: int
    path: str
    commit: str | None = None

    @property
    def megabytes(self) -> float:
        return self.size / (1024 * 1024)


class History:
    """Large blobs, model binaries and secrets of one repository (see the module doc)."""

    def __init__(self, root: Path, tracked: tuple[str, ...], limit_bytes: int) -> None:
        self.root = root
        self.tracked = tracked
        #: Blobs larger than this are large (the `max-file-size-mb` threshold).
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._objects = _Background(self._list_objects)
        self._tree = _Background(self._scan_tree)
        self._history = _Background(self._scan_history)
        self._located: _Background | None = None

    # objects and the index

    def _list_objects(self) -> _Objects:
        """Every stored blob, the large ones with their size, and the index's blobs."""
        head = _Background(lambda: _git(self.root, "rev-parse", "--verify", "-q", "HEAD")[0])
        index = _Background(self._index_blobs)
        out = _git_ok(
            self.root, "cat-file", "--batch-all-objects", "--unordered",
            "--batch-check=%(objecttype) %(objectsize) %(objectname)",
        )  # fmt: skip
        # Each of 100,000s of lines is touched once, by C-implemented calls where possible.
        lines = out.split(b"\n")
        width = len(lines[0].rpartition(b" ")[2])  # 40 (SHA-1) or 64 (SHA-256) hex digits
        blobs = {line[-width:] for line in lines if line[:5] == b"blob "}
        digits = min(7, len(str(self.limit_bytes)))
        big = re.compile(rb"^blob (\d{%d,}) ([0-9a-f]+)" % digits, re.MULTILINE)
        sizes = {oid: int(size) for size, oid in big.findall(out)}
        return _Objects(blobs, sizes, index.result(), head.result() == 0)

    def _index_blobs(self) -> set[bytes]:
        code, out, _ = _git(self.root, "ls-files", "--format=%(objectname)")
        if code == 0:
            return set(out.split())
        # git before 2.38 has no --format
        return set(_INDEX_OID.findall(_git_ok(self.root, "ls-files", "-s")))

    @property
    def objects(self) -> _Objects:
        return self._objects.result()

    @property
    def has_commits(self) -> bool:
        return self.objects.has_commits

    def _index_oids(self, paths: list[str]) -> dict[str, bytes]:
        """path -> staged blob oid for these tracked paths."""
        if not paths:
            return {}
        out = _git_ok(self.root, "ls-files", "-s", "-z", "--", *(f":(literal){p}" for p in paths))
        oids = {}
        for entry in out.split(b"\0"):
            meta, _, path = entry.partition(b"\t")
            if path:
                oids[path.decode("utf-8", "replace")] = meta.split(b" ")[1]
        return oids

    # reachability: which suspicious blobs are in history, at which path and commit

    def _suspects(self) -> frozenset[bytes]:
        large = {oid for oid, size in self.objects.sizes.items() if size > self.limit_bytes}
        return frozenset(large | {oid for _, _, oid in self._history.result()[0]})

    def _locate(self) -> dict[bytes, tuple[str, str | None]]:
        """oid -> (path, commit that added it) of the suspects reachable from any ref.

        One `git log --all --raw --find-object=...` walk names the commit and the path; a
        suspect it does not show (added by a merge, or a tag pointing at a tree) is looked up
        in `git rev-list --objects --all`. What neither finds is not history (a blob left by
        an amended commit or a dropped stash).
        """
        oids = self._suspects()
        if not oids or not self.has_commits:
            return {}
        args = ["log", "--all", "--no-color", "--format=commit %H", "--raw", "--no-abbrev"]
        args += ["--no-renames", "--no-ext-diff", "--no-textconv"]
        args += [f"--find-object={oid.decode()}" for oid in sorted(oids)]
        _, out, _ = _git(self.root, *args)
        found: dict[bytes, tuple[str, str | None]] = {}
        commit = None
        for line in out.split(b"\n"):
            if line.startswith(b"commit "):
                commit = line[7:19].decode()
            elif line.startswith(b":"):
                meta, _, path = line.partition(b"\t")
                fields = meta.split()
                if len(fields) >= 4 and fields[3] in oids:
                    # log lists the newest first: the last one seen added the blob.
                    found[fields[3]] = (path.decode("utf-8", "replace"), commit)
        missing = oids - found.keys()
        if missing:
            listing = _git_ok(self.root, "rev-list", "--objects", "--all", "--missing=allow-any")
            for line in listing.split(b"\n"):
                oid, _, path = line.partition(b" ")
                if oid in missing and oid not in found:
                    found[oid] = (path.decode("utf-8", "replace"), None)
        return found

    def located(self) -> dict[bytes, tuple[str, str | None]]:
        with self._lock:
            if self._located is None:
                self._located = _Background(self._locate)
        return self._located.result()

    # large blobs and model binaries

    def large_blobs(self) -> list[LargeBlob]:
        """Blobs over the limit anywhere in history (or staged), largest first."""
        big = {oid: size for oid, size in self.objects.sizes.items() if size > self.limit_bytes}
        if not big:
            return []
        located = self.located()
        blobs = [
            LargeBlob(oid.decode(), size, *located[oid])
            for oid, size in big.items()
            if oid in located
        ]
        unlocated = [oid for oid in big if oid not in located and oid in self.objects.index]
        if unlocated:  # staged, not committed yet
            staged = {oid: path for path, oid in self._index_oids(list(self.tracked)).items()}
            blobs += [
                LargeBlob(oid.decode(), big[oid], staged[oid]) for oid in unlocated if oid in staged
            ]
        return sorted(blobs, key=lambda b: (-b.size, b.path))

    def model_binaries(self) -> tuple[list[str], list[str]]:
        """(tracked model binaries, those stored as Git LFS pointers)."""
        paths = [p for p in self.tracked if p.lower().endswith(MODEL_SUFFIXES)]
        if not paths:
            return [], []
        oids = self._index_oids(paths)
        small = [p for p in paths if p in oids and oids[p] not in self.objects.sizes]
        lfs = set()
        if small:
            out = _git_ok(
                self.root, "cat-file", "--batch", input=b"".join(oids[p] + b"\n" for p in small)
            )
            pointers = {
                oid for oid, data in _read_batch(out) if data.startswith(b"version https://git-lfs")
            }
            lfs = {p for p in small if oids[p] in pointers}
        return [p for p in paths if p not in lfs], sorted(lfs)

    # secrets

    def _scan_tree(self) -> list[tuple[Secret, bytes]]:
        base = ["grep", "--cached", "--no-color", "-I", "-n", "-z", "-i"]
        code, out, err = _git(self.root, *base, "-P", "-e", GREP_PREFILTER)
        if code not in (0, 1):  # git without PCRE: POSIX ERE is slower, same result
            code, out, err = _git(self.root, *base, "-E", "-e", GREP_PREFILTER)
        if code == 1:
            return []
        if code != 0:
            message = err.decode("utf-8", "replace").strip()
            raise Unavailable(f"git grep failed: {message or code}")
        candidates: dict[str, dict[int, bytes]] = {}
        for record in out.split(b"\n"):
            parts = record.split(b"\0", 2)
            if len(parts) == 3 and parts[1].isdigit():
                path = parts[0].decode("utf-8", "replace")
                candidates.setdefault(path, {})[int(parts[1]) - 1] = parts[2]
        found = []
        for path, lines in candidates.items():
            numbers = sorted(lines)
            if any(b"private key" in lines[n].lower() for n in numbers):
                # The key's body is on the next lines: read the staged file (unless a damaged
                # index gives no blob, or not the one grep read).
                code, content, _ = _git(self.root, "cat-file", "blob", f":{path}")
                staged = content.split(b"\n")
                if code == 0 and len(staged) > numbers[-1]:
                    found.extend(scan_lines(path, staged, numbers))
                    continue
            sparse = [b""] * (numbers[-1] + 1)
            for n in numbers:
                sparse[n] = lines[n]
            found.extend(scan_lines(path, sparse, numbers))
        return found

    def _scan_history(self) -> tuple[list[tuple[Secret, bytes, bytes]], int]:
        """(findings in blob versions that are not in the index, with their oid; blobs read)."""
        objects = self.objects
        oversized = {oid for oid, size in objects.sizes.items() if size > MAX_SCAN_BYTES}
        wanted = sorted(objects.blobs - objects.index - oversized)
        if not wanted:
            return [], 0
        found = []
        for oid, data in self._stream_blobs(wanted):
            # Cheap literal hints first; only a blob with one is split into lines.
            if _TOKEN_HINT.search(data) is None and _KEYWORD_HINT.search(data.lower()) is None:
                continue
            if b"\0" in data[:8000]:
                continue  # binary, as git grep -I decides
            for secret, value in scan_lines(f"<blob {oid[:10].decode()}>", data.split(b"\n")):
                found.append((secret, value, oid))
        return found, len(wanted)

    def _stream_blobs(self, oids: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
        """(oid, content) of each blob, one at a time: memory stays at one blob, however
        large the history."""
        try:
            argv, env = git_invocation(self.root, "cat-file", "--batch", trusted=False)
            process = subprocess.Popen(
                argv, cwd=self.root, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as error:
            raise Unavailable(f"git could not run: {error}") from None
        assert process.stdin is not None and process.stdout is not None

        def feed() -> None:
            try:
                process.stdin.write(b"\n".join(oids) + b"\n")
                process.stdin.close()
            except OSError:  # git ended early: the reader sees the end of its output
                pass

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            while header := process.stdout.readline():
                fields = header.split()
                if len(fields) < 3:  # "<oid> missing"
                    continue
                size = int(fields[2])
                data = process.stdout.read(size)
                process.stdout.read(1)
                yield fields[0], data
        finally:
            process.stdout.close()
            if process.poll() is None:
                process.kill()
            process.wait()
            writer.join()

    @property
    def tree_secrets(self) -> list[Secret]:
        """Probable secrets in the tracked (staged) files."""
        return [secret for secret, _ in self._tree.result()]

    def history_secrets(self) -> list[Secret]:
        """Probable secrets in earlier versions or deleted files that are not in the tracked
        files any more (each secret once), with the path and commit that added them."""
        if not self.has_commits:
            return []
        in_tree = {secret.fingerprint for secret in self.tree_secrets}
        raw, _ = self._history.result()
        candidates = [(s, oid) for s, _, oid in raw if s.fingerprint not in in_tree]
        if not candidates:
            return []
        located = self.located()
        seen, result = set(), []
        for secret, oid in candidates:
            if oid not in located or secret.fingerprint in seen:
                continue  # dangling (an amended commit, a dropped stash): not history
            seen.add(secret.fingerprint)
            path, commit = located[oid]
            result.append(
                Secret(
                    secret.kind, path or secret.path, secret.line, secret.masked,
                    secret.fingerprint, commit,
                )
            )  # fmt: skip
        return sorted(result, key=lambda s: (s.path, s.line or 0))

    @property
    def history_blobs_scanned(self) -> int:
        return self._history.result()[1]


@fixture
def history(context: Context) -> History:
    """The repository's history evidence; Unavailable without git."""
    repo = context.get("git")
    limit = int(context.config.threshold("max-file-size-mb") * 1024 * 1024)
    return History(context.root, repo.tracked, limit)


@dataclass(frozen=True)
class GitHubAccess:
    """How to reach the GitHub REST API: the token (GITHUB_TOKEN, else GH_TOKEN) and the API
    base (GITHUB_API_URL, as GitHub Actions sets it, else https://api.github.com), both from
    the audit's environment (`AuditOptions.environ`)."""

    token: str | None
    api_url: str


@fixture
def github_access(context: Context) -> GitHubAccess:
    environ = context.environ
    token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN") or None
    return GitHubAccess(token, environ.get("GITHUB_API_URL") or "https://api.github.com")
