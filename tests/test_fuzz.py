"""Hostile and broken input, fuzzed (issue 17): a result or a one-line error, never a traceback,
nothing written where the command must not write, and a level never raised by damage.

The base is a real project from `handover new` (its pipeline run: a real `mlflow.db`, a DVC
cache, a first commit). Hypothesis mutates one piece of evidence at a time, by bytes
(truncation, flipped and inserted bytes, random content) or by structure (a YAML value
replaced), in the answers file, DVC files, params, workflows, the model card, the sign-offs,
`mlflow.db` and `.git`, and the commands run through the CLI's own entry point:

- `audit`: exit 0 or 1, no internal error, the repository untouched (every file's size, mtime
  and bytes), and the level at most the unmutated repository's;
- `adopt`: exit 0, 1 or 2, no internal error, no existing file changed;
- `new --no-run` with hostile answers: exit 0, 1 or 2, a one-line error, nothing written
  outside the destination and nothing left behind on failure;
- `update` on a mutated answers file: a one-line error or an update, never an internal error.

CI runs a bounded number of examples (`HANDOVER_FUZZ_EXAMPLES`, default 40 for the audit and
fewer for the slower commands); `HANDOVER_FUZZ_EXAMPLES=10000 pytest -m fuzz -p no:randomly`
is the long run docs/development.md describes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import handover_new, run
from mlops_handover.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.fuzz, pytest.mark.xdist_group("fuzz")]

EXAMPLES = int(os.environ.get("HANDOVER_FUZZ_EXAMPLES", "40"))


def fuzz_settings(share: float) -> settings:
    """`share` of HANDOVER_FUZZ_EXAMPLES (at least 3), no deadline: the commands do real I/O."""
    return settings(
        max_examples=max(3, int(EXAMPLES * share)),
        deadline=None,
        derandomize=True,
        # A failing example is reported as found: shrinking one costs minutes of real commands.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


#: Evidence the audit reads, by kind of content.
YAML_TARGETS = (
    ".copier-answers.yml",
    "dvc.yaml",
    "dvc.lock",
    "params.yaml",
    ".github/workflows/ci.yml",
    ".pre-commit-config.yaml",
    "evaluation/acceptance.yaml",
    "docs/handover/signoffs.yaml",
)
TEXT_TARGETS = ("docs/model-card.md", "pyproject.toml", "requirements.lock", ".gitignore")
BINARY_TARGETS = ("mlflow.db", ".git/config", ".git/HEAD", ".git/index")


def cli(*args: str | os.PathLike[str]) -> tuple[int, str, str]:
    """The CLI's own entry point, in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_clean_failure(code: int, out: str, err: str, allowed: tuple[int, ...]) -> None:
    assert code in allowed, (code, err[-2000:])
    assert "internal error" not in out + err and "Traceback" not in err, err[-4000:]


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under `root` (with .git): size, mtime and digest."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                continue
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns, digest)
    return found


# --- mutations ---------------------------------------------------------------------------------

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.sampled_from(["../../etc", "/dev/zero", "s3://b/x", "http://127.0.0.1:1", "{{ x }}",
                       "main", "v0.0.0", "[FILL: x]", "~", "*", "\x00"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=15,
)  # fmt: skip


@st.composite
def byte_mutation(draw: st.DrawFn, original: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "replace", "empty"]))
    if kind == "empty" or not original:
        return b""
    if kind == "truncate":
        return original[: draw(st.integers(0, len(original) - 1))]
    if kind == "replace":
        return draw(st.binary(max_size=2048) | st.text(max_size=512).map(str.encode))
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


@st.composite
def yaml_mutation(draw: st.DrawFn, original: bytes) -> bytes:
    """One value of the document replaced (a key's value, or the whole document)."""
    try:
        data = yaml.safe_load(original)
    except yaml.YAMLError:
        data = None
    value = draw(yaml_values)
    if isinstance(data, dict) and data and draw(st.booleans()):
        data[draw(st.sampled_from(sorted(data, key=str)))] = value
    else:
        data = value
    try:
        return yaml.safe_dump(data, allow_unicode=True).encode()
    except (yaml.YAMLError, ValueError):
        return b"{"


@st.composite
def mutation(draw: st.DrawFn, project: Path) -> tuple[str, bytes]:
    """A target file of the project and its mutated content."""
    targets = [t for t in YAML_TARGETS + TEXT_TARGETS + BINARY_TARGETS if (project / t).is_file()]
    target = draw(st.sampled_from(targets))
    original = (project / target).read_bytes()
    if target in YAML_TARGETS and draw(st.booleans()):
        return target, draw(yaml_mutation(original))
    return target, draw(byte_mutation(original))


@contextlib.contextmanager
def mutated(project: Path, target: str, content: bytes) -> Iterator[Path]:
    """The project with `target` holding `content`, restored afterwards."""
    path = project / target
    original = path.read_bytes()
    path.write_bytes(content)
    try:
        yield project
    finally:
        path.write_bytes(original)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def delivery(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project from `handover new` with its pipeline run: every kind of evidence is there."""
    project = tmp_path_factory.mktemp("fuzz") / "demo-model"
    handover_new(template_repo, project)
    return project


def audit_level(project: Path) -> tuple[int, str, str, int | None]:
    code, out, err = cli("audit", project, "--format", "json", "--offline")
    level = None
    if out.strip().startswith("{"):
        level = json.loads(out)["repositories"][0]["level"]
    return code, out, err, level


@pytest.fixture(scope="module")
def baseline(delivery: Path) -> int:
    code, _, err, level = audit_level(delivery)
    assert code in (0, 1) and level is not None, err
    return level


# --- properties --------------------------------------------------------------------------------


@fuzz_settings(1.0)
@given(data=st.data())
def test_audit_of_damaged_evidence(delivery: Path, baseline: int, data: st.DataObject) -> None:
    target, content = data.draw(mutation(delivery), label="mutation")
    with mutated(delivery, target, content):
        before = snapshot(delivery)
        code, out, err, level = audit_level(delivery)
        assert snapshot(delivery) == before, "the audit wrote into the repository it read"
    assert_clean_failure(code, out, err, (0, 1))
    assert level is not None, err
    assert level <= baseline, (target, level, baseline)


@fuzz_settings(0.25)
@given(data=st.data())
def test_adopt_of_damaged_evidence(
    delivery: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    target, content = data.draw(mutation(delivery), label="mutation")
    copy = tmp_path_factory.mktemp("adopt") / "repo"
    shutil.copytree(delivery, copy, symlinks=True)
    (copy / target).write_bytes(content)
    before = {k: v[2] for k, v in snapshot(copy).items() if not k.startswith(".git/")}
    code, out, err = cli("adopt", copy)
    assert_clean_failure(code, out, err, (0, 1, 2))
    after = {k: v[2] for k, v in snapshot(copy).items() if not k.startswith(".git/")}
    changed = sorted(k for k, digest in before.items() if after.get(k) != digest)
    assert not changed, f"adopt changed existing files: {changed}"
    shutil.rmtree(copy.parent, ignore_errors=True)


HOSTILE_TEXT = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        ["../evil", "a/b", "/abs", "..", ".", "__init__", "_", "maybe", "abc", "x" * 300, "",
         " ", "-x", "Ünïcode", "a\nb", "s3://bucket/AKIAIOSFODNN7EXAMPLE/x",
         "https://mlflow.example/?token=abc", "https://s3.example/?X-Amz-Credential=k",
         "https://u:p@h.example", "ssh://git@h/x", "{{ 7*7 }}", "$(touch /tmp/pwned)"]
    ),
)  # fmt: skip
QUESTIONS = (
    "project_name", "project_slug", "package_name", "client_name", "vendor_name",
    "acceptance_threshold", "personal_data", "dvc_remote_url", "mlflow_tracking_uri",
    "dvc_s3_endpoint_url", "primary_metric", "ci_provider", "ml_task",
)  # fmt: skip


@fuzz_settings(0.4)
@given(answers=st.dictionaries(st.sampled_from(QUESTIONS), HOSTILE_TEXT, min_size=1, max_size=3))
def test_new_with_hostile_answers(
    template_repo: Path, tmp_path_factory: pytest.TempPathFactory, answers: dict[str, str]
) -> None:
    parent = tmp_path_factory.mktemp("new") / "parent"
    parent.mkdir()
    dest = parent / "demo"
    data = [f"--data={key}={value}" for key, value in answers.items()]
    code, out, err = cli(
        "new", dest, "--defaults", "--no-run", "--template", template_repo, "--vcs-ref", "HEAD",
        *data,
    )  # fmt: skip
    assert_clean_failure(code, out, err, (0, 1, 2))
    outside = {p.name for p in parent.parent.iterdir()} - {"parent"}
    assert not outside, f"written outside the destination's parent: {outside}"
    if code == 0:
        beside = {p.name for p in parent.iterdir()} - {"demo"}
        assert all(name.endswith("-dvc-storage") for name in beside), beside  # the local remote
    else:
        # Progress lines, then the error: one line, the last one.
        lines = err.strip().splitlines()
        assert (
            lines[-1].startswith("error: ")
            and sum(line.startswith("error: ") for line in lines) == 1
        ), err
        assert not dest.exists(), "a failed `new` left its destination behind"
    shutil.rmtree(parent.parent, ignore_errors=True)


@fuzz_settings(0.15)
@given(data=st.data())
def test_update_of_a_damaged_answers_file(
    delivery: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    answers = ".copier-answers.yml"
    original = (delivery / answers).read_bytes()
    content = data.draw(
        yaml_mutation(original) if data.draw(st.booleans()) else byte_mutation(original)
    )
    copy = tmp_path_factory.mktemp("update") / "repo"
    shutil.copytree(delivery, copy, symlinks=True)
    (copy / answers).write_bytes(content)
    run("git", "-c", "user.name=F", "-c", "user.email=f@acme.example", "commit", "-q",
        "--allow-empty", "-am", "a damaged answers file", cwd=copy)  # fmt: skip
    code, out, err = cli("update", copy, "--vcs-ref", ":current:")
    assert_clean_failure(code, out, err, (0, 1, 2))
    shutil.rmtree(copy.parent, ignore_errors=True)
