"""DVC evidence from files alone: `.dvc/config`, `dvc.yaml`, `dvc.lock` and the working tree.

The `dvc` fixture gives a `DvcProject`. Nothing here imports DVC (its import costs half a
second): the config is read with configparser, the pipeline files with PyYAML, and whether
`dvc.lock` matches the working tree is decided the way DVC 3 decides it
(research/mlflow-dvc-wiring.md, 2.6):

1. each stage's `cmd` in dvc.yaml equals the one in dvc.lock;
2. the md5 of every dependency and output file equals the lock's (DVC 3: plain md5 of the bytes;
   lock entries without `hash: md5` were written by DVC 2, which hashed text files with CRLF
   turned into LF);
3. a directory's hash is `md5(json.dumps(sorted [{"md5", "relpath"}], sort_keys=True)) + ".dir"`
   over its files, without what `.dvcignore` excludes;
4. every parameter has the value recorded in the lock;
5. every stage of dvc.yaml is in dvc.lock, with the same dependencies, outputs and parameters.

Properties parse lazily and raise `Unavailable` with the reason when their file is malformed,
so a broken dvc.lock makes only the checks that read it unknown.

API used by other checks: `.config`, `.remotes` (name -> url, committed `.dvc/config` only),
`.default_remote` (the name in `core.remote`, or None), `.config_local`, `.local_remotes`,
`.stages` (dvc.yaml `stages:` as given), `.lock` (dvc.lock as a dict, or None),
`.lock_status()`.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import posixpath
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mlops_handover.audit.fixtures import Context, ProjectFiles, fixture, load_yaml
from mlops_handover.audit.model import Unavailable, Unreadable
from mlops_handover.audit.readers import read_bytes, read_text

#: Bytes of data RP106 hashes at most per audit; what is left over is listed as not compared.
HASH_BUDGET = 512 * 1024 * 1024

_SECTION_REMOTE = re.compile(r"""^'?\s*remote\s+"([^"]+)"\s*'?$""")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
#: What DVC itself never descends into (dvc/ignore.py).
_ALWAYS_IGNORED = {".git", ".hg", ".dvc"}
_YAML11_BOOLS = {
    "yes": "true", "y": "true", "on": "true", "true": "true",
    "no": "false", "n": "false", "off": "false", "false": "false",
}  # fmt: skip


def is_local_url(url: str) -> bool:
    """A DVC remote URL that is a directory (a path, `file://`, `C:\\...`), not a service."""
    url = url.strip()
    match = _SCHEME.match(url)
    if _DRIVE.match(url) or not match:
        return True
    return match.group(1).lower() == "file"


def is_remote_path(path: str) -> bool:
    """A dependency or output outside the workspace (`s3://...`, `remote://name/...`)."""
    return bool(_SCHEME.match(path.strip())) and not _DRIVE.match(path)


# --- dvc.yaml ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    path: str
    #: out | metric | plot
    kind: str = "out"
    cache: bool = True


@dataclass(frozen=True)
class StageSpec:
    """One stage of dvc.yaml, normalised (paths relative to the repository root)."""

    name: str
    cmd: Any
    wdir: str
    deps: tuple[str, ...]
    outs: tuple[Output, ...]
    #: params file (repository path) -> keys; None: the whole file.
    params: dict[str, tuple[str, ...] | None]
    frozen: bool = False
    always_changed: bool = False
    #: `foreach`/`matrix` stages: dvc.lock holds `name@...` entries for them.
    generated: bool = False
    #: `${...}` interpolation: dvc.yaml's text is not what DVC runs, compare dvc.lock only.
    templated: bool = False

    @property
    def is_callback(self) -> bool:
        """A command without dependencies and outputs: DVC reruns it every time."""
        return bool(self.cmd) and not self.deps and not self.outs


def _join(wdir: str, path: str) -> str:
    if is_remote_path(path):
        return path
    joined = posixpath.normpath(posixpath.join(wdir, path.replace("\\", "/")))
    return "" if joined == "." else joined


def _entry_path(item: Any) -> tuple[str, dict[str, Any]]:
    """`path` or `{path: {options}}` -> (path, options)."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        (path, options), *_ = item.items()
        if isinstance(path, str):
            return path, options if isinstance(options, dict) else {}
    raise Unavailable(f"dvc.yaml: an entry {item!r:.80} is neither a path nor {{path: options}}")


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, (str, dict)):
        return [value]
    raise Unavailable(f"dvc.yaml: {where} must be a list")


def _mentions(data: Any, needle: str, budget: int = 10_000) -> bool:
    """Whether any string in nested YAML data contains `needle` (aliases visited once)."""
    stack, seen = [data], set()
    while stack and budget > 0:
        budget -= 1
        item = stack.pop()
        if isinstance(item, str):
            if needle in item:
                return True
        elif isinstance(item, (dict, list)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend(item.items() if isinstance(item, dict) else item)
        elif isinstance(item, tuple):
            stack.extend(item)
    return False


def parse_stage(name: str, data: Any) -> StageSpec:
    """A dvc.yaml stage; Unavailable with the reason when it does not have DVC's shape."""
    if not isinstance(data, dict):
        raise Unreadable(f"dvc.yaml: stage {name!r} is not a mapping")
    generated = "foreach" in data or "matrix" in data
    body = data.get("do") if "foreach" in data else data
    if not isinstance(body, dict):
        raise Unavailable(f"dvc.yaml: stage {name!r} has no `do:` mapping")
    wdir = body.get("wdir", ".")
    if not isinstance(wdir, str):
        raise Unavailable(f"dvc.yaml: stage {name!r} has a wdir that is not a path")
    wdir = _join("", wdir)
    cmd = body.get("cmd")
    if cmd is not None and not isinstance(cmd, (str, list)):
        raise Unavailable(f"dvc.yaml: stage {name!r} has a cmd that is not text or a list")
    deps = tuple(_join(wdir, _entry_path(d)[0]) for d in _list(body.get("deps"), f"{name}.deps"))
    outs = []
    for key, kind in (("outs", "out"), ("metrics", "metric"), ("plots", "plot")):
        for item in _list(body.get(key), f"{name}.{key}"):
            path, options = _entry_path(item)
            outs.append(Output(_join(wdir, path), kind, options.get("cache", kind == "out")))
    params: dict[str, tuple[str, ...] | None] = {}
    default_file = _join(wdir, "params.yaml")
    for item in _list(body.get("params"), f"{name}.params"):
        if isinstance(item, str):
            keys = params.get(default_file) or ()
            params[default_file] = (*keys, item)
        elif isinstance(item, dict):
            for file, keys in item.items():
                if not isinstance(file, str):
                    raise Unavailable(f"dvc.yaml: stage {name!r} names a params file {file!r}")
                keys = _list(keys, f"{name}.params.{file}")
                if not all(isinstance(k, str) for k in keys):
                    raise Unavailable(f"dvc.yaml: stage {name!r} has a params key that is not text")
                params[_join(wdir, file)] = tuple(keys) or None
        else:
            raise Unavailable(f"dvc.yaml: stage {name!r} has a params entry {item!r:.80}")
    return StageSpec(
        name=name,
        cmd=cmd,
        wdir=wdir,
        deps=deps,
        outs=tuple(outs),
        params=params,
        frozen=body.get("frozen") is True,
        always_changed=body.get("always_changed") is True,
        generated=generated,
        templated=_mentions(body, "${"),
    )


# --- hashing ----------------------------------------------------------------------------------


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, size: int) -> bool:
        if size > self.left:
            return False
        self.left -= size
        return True


class _OverBudget(Exception):
    pass


def _is_text(block: bytes) -> bool:
    """DVC 2's test for md5-dos2unix: no NUL byte in the first 8000 bytes."""
    return b"\x00" not in block[:8000]


def file_md5(path: Path, dos2unix: bool = False) -> str:
    """DVC's md5 of a file: the bytes (DVC 3), or CRLF -> LF for text files (DVC 2 entries)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        first = f.read(1 << 20)
        if dos2unix and _is_text(first):
            rest = first + f.read()
            digest.update(rest.replace(b"\r\n", b"\n"))
            return digest.hexdigest()
        digest.update(first)
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _IgnoreRules:
    """`.dvcignore` files: (base directory, their patterns), root first, as DVC reads them.

    Matching is pathspec's gitignore semantics, as DVC's own; a later file's verdict on a path
    overrides an earlier one's, so a sub-folder's `.dvcignore` can re-include what the root's
    ignores.
    """

    specs: list[tuple[str, Any]] = field(default_factory=list)

    def add_file(self, path: Path, base: str) -> None:
        import pathspec  # ~40 ms: only for repositories with a .dvcignore

        data = read_bytes(path, f"{base}/.dvcignore".lstrip("/"))
        if data is None:
            return
        lines = []
        for line in data.decode("utf-8", errors="replace").splitlines():
            line = line.strip()  # as DVC: leading and trailing blanks do not count
            if not line or line.startswith("#") or line.count("*") > 12:
                continue  # so many wildcards that matching could take forever: skipped
            try:
                pathspec.GitIgnoreSpec.from_lines([line])
            except ValueError:
                continue  # not a valid pattern (DVC fails on it): skipped
            lines.append(line)
        self.specs.append((base, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, path: str, is_dir: bool) -> bool:
        result = False
        for base, spec in self.specs:
            if base:
                if not path.startswith(base + "/"):
                    continue
                path_in_base = path[len(base) + 1 :]
            else:
                path_in_base = path
            verdict = spec.check_file(path_in_base + "/" if is_dir else path_in_base).include
            if verdict is not None:
                result = verdict
        return result


def _dir_listing(root: Path, rel: str, rules: _IgnoreRules) -> list[tuple[str, Path]]:
    """(relpath inside `rel`, file) for every file DVC would hash in the directory."""
    entries = []
    rules = _IgnoreRules(list(rules.specs))
    for directory, dirnames, filenames in os.walk(root / rel):
        here = Path(directory).relative_to(root).as_posix()
        if ".dvcignore" in filenames:
            rules.add_file(Path(directory) / ".dvcignore", "" if here == "." else here)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _ALWAYS_IGNORED and not rules.ignored(f"{here}/{d}", is_dir=True)
        )
        for name in filenames:
            path = f"{here}/{name}"
            if name in (".dvcignore", ".git") or rules.ignored(path, is_dir=False):
                continue
            if not _regular(Path(directory) / name):
                continue  # sockets, FIFOs, devices, broken links: DVC skips or fails on them
            entries.append((path[len(rel) + 1 :], Path(directory) / name))
    return entries


def dir_md5(root: Path, rel: str, rules: _IgnoreRules, budget: _Budget, dos2unix=False) -> str:
    """DVC's `<md5>.dir` hash of a directory; _OverBudget when it is too large to hash."""
    listing = _dir_listing(root, rel, rules)
    total = sum(path.stat().st_size for _, path in listing)
    if not budget.take(total):
        raise _OverBudget
    entries = [{"md5": file_md5(path, dos2unix), "relpath": relpath} for relpath, path in listing]
    entries.sort(key=lambda e: e["relpath"])
    payload = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(payload, usedforsecurity=False).hexdigest() + ".dir"


# --- parameters -------------------------------------------------------------------------------


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value).strip()
    if text.lower() in _YAML11_BOOLS:
        return _YAML11_BOOLS[text.lower()]
    if text in ("~", "null", "Null", "NULL"):
        return "null"
    try:
        return repr(float(text.replace("_", "")))
    except ValueError:
        return text


def same_value(a: Any, b: Any) -> bool:
    """Equal parameter values, forgiving YAML 1.1 (PyYAML) versus 1.2 (DVC's ruamel) readings
    such as `1e-3` (a string to PyYAML, a float to DVC) or `on`."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and set(map(str, a)) == set(map(str, b))
            and all(same_value(a[k], {str(x): y for x, y in b.items()}[str(k)]) for k in a)
        )
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (
            isinstance(a, (list, tuple))
            and isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(same_value(x, y) for x, y in zip(a, b, strict=True))
        )
    if type(a) is type(b) and a == b:
        return True
    return _scalar_text(a) == _scalar_text(b)


_MISSING = object()


def _same_value_bounded(a: Any, b: Any) -> bool:
    try:
        return same_value(a, b)
    except RecursionError:
        raise Unavailable("a parameter value is nested too deeply to compare") from None


def _regular(path: Path) -> bool:
    import stat

    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def lookup(data: Any, key: str) -> Any:
    """A dotted params key (`train.C`, `layers.0.units`) in a params file's data."""
    if isinstance(data, dict) and key in data:
        return data[key]
    value = data
    for part in key.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Something in the working tree or dvc.yaml that dvc.lock does not record."""

    stage: str
    #: command | dependency | output | parameter | stage
    kind: str
    target: str
    #: modified | deleted | new | not in dvc.lock | ...
    detail: str

    def __str__(self) -> str:
        what = f"{self.kind} {self.target}" if self.target else self.kind
        return f"{self.stage}: {what} {self.detail}"


@dataclass
class LockStatus:
    """dvc.lock against the working tree (see the module docstring)."""

    changes: list[Change] = field(default_factory=list)
    #: Files, directories and parameters compared.
    compared: int = 0
    #: Outputs missing from the working tree (not pulled, not reproduced): not compared.
    absent_outputs: list[str] = field(default_factory=list)
    #: Dependencies missing from the working tree, checked against the .dvc file or the stage
    #: that produces them instead.
    absent_dependencies: list[str] = field(default_factory=list)
    #: What was not compared and why (remote paths, frozen stages, the hashing budget...).
    notes: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not self.changes


def _norm_cmd(cmd: Any) -> Any:
    if isinstance(cmd, list) and len(cmd) == 1:
        return cmd[0]
    return cmd


class DvcProject:
    """A repository's DVC set-up, read from its files (see the module docstring)."""

    def __init__(self, root: Path, files: ProjectFiles) -> None:
        self.root = root
        self.files = files

    # -- configuration

    @property
    def initialized(self) -> bool:
        """`.dvc/config` is in the repository (tracked, or on disk without git)."""
        return ".dvc/config" in self.files

    @staticmethod
    def parse_config(text: str, name: str = ".dvc/config") -> configparser.ConfigParser:
        parser = configparser.ConfigParser(
            interpolation=None, strict=False, comment_prefixes=("#", ";"),
            inline_comment_prefixes=None, default_section="\0defaults",
        )  # fmt: skip
        try:
            parser.read_string(text, source=name)
        except configparser.Error as error:
            reason = " ".join(str(error).split())
            raise Unreadable(f"{name} is not valid as a DVC config: {reason}") from None
        return parser

    @cached_property
    def config(self) -> configparser.ConfigParser | None:
        """The committed `.dvc/config`, None when there is none."""
        text = self.files.read(".dvc/config")
        return None if text is None else self.parse_config(text)

    @staticmethod
    def _value(text: str) -> str:
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        return text

    @classmethod
    def _remotes_of(cls, parser: configparser.ConfigParser | None) -> dict[str, str]:
        remotes: dict[str, str] = {}
        if parser is None:
            return remotes
        for section in parser.sections():
            match = _SECTION_REMOTE.match(section.strip())
            if match and parser.has_option(section, "url"):
                remotes[match.group(1)] = cls._value(parser.get(section, "url"))
        return remotes

    @cached_property
    def remotes(self) -> dict[str, str]:
        """Remote name -> URL, from the committed `.dvc/config` only."""
        return self._remotes_of(self.config)

    @cached_property
    def default_remote(self) -> str | None:
        """The name in `core.remote` of the committed `.dvc/config`, None when unset."""
        parser = self.config
        if parser is None or not parser.has_option("core", "remote"):
            return None
        return self._value(parser.get("core", "remote")) or None

    def remote_path(self, url: str) -> Path:
        """A local remote's directory: relative URLs are relative to `.dvc/` (DVC's rule)."""
        url = url.removeprefix("file://")
        path = Path(os.path.expanduser(url))
        return path if path.is_absolute() else (self.root / ".dvc" / path).resolve()

    @property
    def config_local(self) -> bool:
        """`.dvc/config.local` exists in the working tree (credentials belong there)."""
        return (self.root / ".dvc" / "config.local").is_file()

    @cached_property
    def local_config(self) -> configparser.ConfigParser | None:
        """The machine-local `.dvc/config.local` (never committed), None when there is none."""
        text = read_text(self.root / ".dvc" / "config.local", ".dvc/config.local")
        return None if text is None else self.parse_config(text, ".dvc/config.local")

    @cached_property
    def local_remotes(self) -> dict[str, str]:
        """Remote name -> URL set in `.dvc/config.local` (machine-local, not committed)."""
        return self._remotes_of(self.local_config)

    @cached_property
    def local_default_remote(self) -> str | None:
        """`core.remote` set only in `.dvc/config.local`, None when it sets none."""
        parser = self.local_config
        if parser is None or not parser.has_option("core", "remote"):
            return None
        return self._value(parser.get("core", "remote")) or None

    # -- pipeline

    @cached_property
    def stages(self) -> dict[str, dict]:
        """dvc.yaml's `stages:` as written ({} without a dvc.yaml)."""
        if "dvc.yaml" not in self.files:
            return {}
        data = self.files.yaml("dvc.yaml")
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise Unreadable("dvc.yaml is not a mapping")
        stages = data.get("stages") or {}
        if not isinstance(stages, dict):
            raise Unreadable("dvc.yaml: `stages:` is not a mapping of stage names")
        for name, stage in stages.items():
            if not isinstance(name, str) or not isinstance(stage, dict):
                raise Unreadable(f"dvc.yaml: stage {name!r} is not a mapping")
        return stages

    @cached_property
    def specs(self) -> dict[str, StageSpec]:
        """dvc.yaml's stages, normalised."""
        return {name: parse_stage(name, data) for name, data in self.stages.items()}

    @cached_property
    def lock(self) -> dict | None:
        """The committed dvc.lock, None when there is none."""
        if "dvc.lock" not in self.files:
            return None
        data = self.files.yaml("dvc.lock")
        if not isinstance(data, dict):
            raise Unreadable("dvc.lock is not a mapping (corrupted?)")
        return data

    @cached_property
    def lock_stages(self) -> dict[str, dict]:
        """dvc.lock's stage entries (schema 2.0, or DVC 1's stages at the top level)."""
        lock = self.lock
        if lock is None:
            return {}
        stages = lock.get("stages") if "schema" in lock else lock
        if stages is None:
            return {}
        if not isinstance(stages, dict):
            raise Unreadable("dvc.lock: `stages:` is not a mapping (corrupted?)")
        for name, entry in stages.items():
            if not isinstance(name, str) or not isinstance(entry, dict):
                raise Unavailable(f"dvc.lock: entry {name!r} is not a stage mapping")
            for key in ("deps", "outs"):
                items = entry.get(key) or []
                if not isinstance(items, list) or not all(
                    isinstance(i, dict) and isinstance(i.get("path"), str) for i in items
                ):
                    raise Unreadable(f"dvc.lock: {name}.{key} is not a list of {{path: ...}}")
            params = entry.get("params") or {}
            if not isinstance(params, dict) or not all(
                isinstance(f, str) and isinstance(v, dict | None) for f, v in params.items()
            ):
                raise Unreadable(f"dvc.lock: {name}.params is not a mapping of files")
        return stages

    def lock_entries(self, name: str) -> dict[str, dict]:
        """The dvc.lock entries of a dvc.yaml stage (`name`, or `name@...` for foreach)."""
        spec = self.specs.get(name)
        if spec is not None and spec.generated:
            return {k: v for k, v in self.lock_stages.items() if k.startswith(name + "@")}
        entry = self.lock_stages.get(name)
        return {name: entry} if entry is not None else {}

    # -- lock status

    def _inside(self, path: str) -> bool:
        """A repository-relative path that stays inside the repository and has no NUL."""
        if "\0" in path or path.startswith("/") or _DRIVE.match(path):
            return False
        return path != ".." and not path.startswith("../")

    def _params_data(self, path: str, cache: dict[str, Any]) -> Any:
        if path in cache:
            return cache[path]
        file = self.root / path
        text = read_text(file, path) if self._inside(path) else None
        if text is None:
            value = _MISSING
        else:
            suffix = file.suffix.lower()
            if suffix == ".json":
                try:
                    value = json.loads(text)
                except ValueError as error:
                    raise Unreadable(f"{path} is not valid JSON: {error}") from None
            elif suffix == ".toml":
                try:
                    value = tomllib.loads(text)
                except tomllib.TOMLDecodeError as error:
                    raise Unreadable(f"{path} is not valid TOML: {error}") from None
            elif suffix == ".py":
                value = None  # not compared (DVC reads Python constants; we do not run code)
            else:
                value = load_yaml(text, path)
        cache[path] = value
        return value

    def lock_status(self) -> LockStatus:
        """Compare dvc.lock with dvc.yaml and the working tree, without DVC (cached)."""
        if "_status" not in self.__dict__:
            self.__dict__["_status"] = self._lock_status()
        return self.__dict__["_status"]

    def _lock_status(self) -> LockStatus:
        status = LockStatus()
        specs, lock = self.specs, self.lock_stages
        params_cache: dict[str, Any] = {}
        rules = _IgnoreRules()
        if (self.root / ".dvcignore").is_file():
            rules.add_file(self.root / ".dvcignore", "")
        budget = _Budget(HASH_BUDGET)
        produced = {}
        for entry_name, entry in lock.items():
            spec = specs.get(entry_name.split("@", 1)[0])
            for out in entry.get("outs") or []:
                produced[_join(spec.wdir if spec else "", out["path"])] = out.get("md5")
        matched: set[str] = set()
        for name, spec in specs.items():
            entries = self.lock_entries(name)
            matched.update(entries)
            if spec.frozen:
                status.notes.append(f"stage {name} is frozen: not compared")
                continue
            if spec.always_changed or spec.is_callback:
                status.notes.append(f"stage {name} always runs (DVC reruns it every time)")
            if not entries:
                status.changes.append(Change(name, "stage", "", "not in dvc.lock"))
                continue
            if not (spec.generated or spec.templated):
                self._compare_declaration(spec, entries[name], status)
            elif spec.templated and not spec.generated:
                status.notes.append(f"stage {name} uses ${{...}}: its cmd is not compared")
            for entry_name, entry in entries.items():
                self._compare_entry(entry_name, entry, spec.wdir, status, rules, budget,
                                    produced, params_cache)  # fmt: skip
        stale = sorted(set(lock) - matched)
        if stale:
            status.notes.append(
                f"dvc.lock has {len(stale)} entr{'y' if len(stale) == 1 else 'ies'} for stages "
                f"no longer in dvc.yaml ({', '.join(stale[:5])}): DVC drops them on the next repro"
            )
        return status

    def _compare_declaration(self, spec: StageSpec, entry: dict, status: LockStatus) -> None:
        """dvc.yaml's cmd, deps, outs and param keys against the lock entry."""
        name = spec.name
        status.compared += 1
        if _norm_cmd(spec.cmd) != _norm_cmd(entry.get("cmd")):
            status.changes.append(Change(name, "command", "", "modified"))

        def locked(key: str) -> set[str]:
            return {_join(spec.wdir, item["path"]) for item in entry.get(key) or []}

        for kind, declared, recorded in (
            ("dependency", set(spec.deps), locked("deps")),
            ("output", {o.path for o in spec.outs}, locked("outs")),
        ):
            for path in sorted(declared - recorded):
                status.changes.append(Change(name, kind, path, "new (not in dvc.lock)"))
            for path in sorted(recorded - declared):
                status.changes.append(Change(name, kind, path, "removed from dvc.yaml"))
        locked_params = entry.get("params") or {}
        for file, keys in spec.params.items():
            recorded = {_join(spec.wdir, f): v for f, v in locked_params.items()}.get(file)
            recorded = recorded or {}
            if keys is None:  # the whole file: every top-level key
                data = self._params_data(file, {})
                keys = tuple(data) if isinstance(data, dict) else tuple(recorded)
            for key in keys:
                if key not in recorded:
                    status.changes.append(Change(name, "parameter", f"{file}:{key}", "new"))

    def _compare_entry(
        self,
        name: str,
        entry: dict,
        wdir: str,
        status: LockStatus,
        rules: _IgnoreRules,
        budget: _Budget,
        produced: dict[str, Any],
        params_cache: dict[str, Any],
    ) -> None:
        """The lock entry's hashes and parameter values against the working tree."""
        for kind, key in (("dependency", "deps"), ("output", "outs")):
            for item in entry.get(key) or []:
                path = _join(wdir, item["path"])
                if is_remote_path(path) or not path:
                    status.notes.append(f"{name}: {path or '.'} is not in the workspace")
                    continue
                self._compare_path(name, kind, path, item, status, rules, budget, produced)
        for file, values in (entry.get("params") or {}).items():
            path = _join(wdir, file)
            data = self._params_data(path, params_cache)
            if data is None and path.endswith(".py"):
                status.notes.append(f"{name}: Python params file {path} not compared")
                continue
            for key, value in (values or {}).items():
                status.compared += 1
                current = _MISSING if data is _MISSING else lookup(data, str(key))
                if current is _MISSING:
                    status.changes.append(Change(name, "parameter", f"{path}:{key}", "deleted"))
                elif not _same_value_bounded(current, value):
                    status.changes.append(Change(name, "parameter", f"{path}:{key}", "modified"))

    def _compare_path(
        self,
        name: str,
        kind: str,
        path: str,
        item: dict,
        status: LockStatus,
        rules: _IgnoreRules,
        budget: _Budget,
        produced: dict[str, Any],
    ) -> None:
        recorded = item.get("md5")
        if not isinstance(recorded, str):
            hashes = sorted(k for k in item if k not in ("path", "size", "nfiles", "hash"))
            status.notes.append(
                f"{name}: {path} has no md5 in dvc.lock ({', '.join(hashes) or 'none'}): "
                "not compared"
            )
            return
        dos2unix = item.get("hash") != "md5"
        target = self.root / path
        if not self._inside(path):
            status.notes.append(f"{name}: {path} is outside the repository: not compared")
            return
        if not target.exists():
            if kind == "output":
                status.absent_outputs.append(path)
                return
            status.absent_dependencies.append(path)
            source = produced.get(path)
            if source is None:
                source = self._dvc_file_md5(path)
            if source is None:
                status.changes.append(Change(name, kind, path, "deleted"))
            else:
                status.compared += 1
                if source != recorded:
                    status.changes.append(
                        Change(name, kind, path, "modified (differs from its producer's hash)")
                    )
            return
        status.compared += 1
        try:
            if target.is_dir():
                if not recorded.endswith(".dir"):
                    status.changes.append(Change(name, kind, path, "modified (now a directory)"))
                    return
                current = dir_md5(self.root, path, rules, budget, dos2unix)
            elif not _regular(target):
                status.compared -= 1
                status.notes.append(f"{name}: {path} is not a regular file: not compared")
                return
            else:
                size = target.stat().st_size
                if isinstance(item.get("size"), int) and item["size"] != size and not dos2unix:
                    status.changes.append(Change(name, kind, path, "modified"))
                    return
                if not budget.take(size):
                    raise _OverBudget
                current = file_md5(target, dos2unix)
        except _OverBudget:
            status.compared -= 1
            status.notes.append(
                f"{name}: {path} not hashed (over the {HASH_BUDGET >> 20} MB budget)"
            )
            return
        except OSError as error:
            raise Unavailable(f"{path} cannot be read: {error}") from None
        if current != recorded:
            status.changes.append(Change(name, kind, path, "modified"))

    def _dvc_file_md5(self, path: str) -> str | None:
        """The md5 `<path>.dvc` (from `dvc add`) records, None without one."""
        dvc_file = f"{path}.dvc"
        if dvc_file not in self.files:
            return None
        data = self.files.yaml(dvc_file)
        outs = data.get("outs") if isinstance(data, dict) else None
        if isinstance(outs, list) and outs and isinstance(outs[0], dict):
            md5 = outs[0].get("md5")
            return md5 if isinstance(md5, str) else None
        return None


@fixture
def dvc(context: Context) -> DvcProject:
    """The repository's DVC set-up; files are parsed when a check first asks for them."""
    return DvcProject(context.root, context.get("files"))
