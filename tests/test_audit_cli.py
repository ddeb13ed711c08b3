"""`handover audit`, `handover checks` and `handover explain` end to end, on real repositories.

Each test builds small git repositories with `make_repo` and runs the CLI's `main()` (the same
code path as the installed command, without a process start per call); one test runs the
installed `handover` to check stdout and the exit code of a real process.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
from audit_repos import make_repo

from conftest import ROOT, run, tool
from mlops_handover.audit.model import Pillar, all_checks
from mlops_handover.cli import main

SCHEMA = ROOT / "docs" / "audit-report.schema.json"

#: A small but plausible ML repository: a locked environment, a DVC pipeline, CI, tests.
PROJECT = {
    "README.md": "# Churn\n\nReproduce with `dvc pull && dvc repro`.\n",
    "pyproject.toml": (
        '[project]\nname = "churn"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["pandas>=2"]\n\n'
        '[tool.handover.audit]\nclient-domains = ["client.example"]\n'
    ),
    "requirements.lock": "pandas==2.2.3\nnumpy==2.1.0\n",
    ".dvc/config": "[core]\n    remote = storage\n['remote \"storage\"']\n"
    "    url = s3://churn-data.client.example/dvc\n",
    ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
    "dvc.yaml": "stages:\n  train:\n    cmd: python src/churn/train.py\n"
    "    deps: [src/churn/train.py]\n    outs: [models/model.pkl]\n",
    "params.yaml": "train:\n  seed: 1\n",
    "src/churn/__init__.py": "",
    "src/churn/train.py": "import pandas\n\nprint(pandas.__version__)\n",
    "tests/test_train.py": "def test_nothing():\n    assert True\n",
    ".gitignore": "/models\n.env\n",
}


def audit(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["audit", "--offline", *args])
    out, err = capsys.readouterr()
    return code, out, err


def audit_json(*args: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = audit(*args, "--format", "json", capsys=capsys)
    assert code in (0, 1), err
    return json.loads(out)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "churn", PROJECT)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


# --- exit codes -----------------------------------------------------------------------------


def test_exit_code_follows_fail_under(project: Path, capsys) -> None:
    """0 at or above the requested level, 1 below it, with the reason on stderr."""
    level = audit_json(str(project), capsys=capsys)["level"]
    assert level < 4, "the example project should not be owned already"
    code, _, err = audit(str(project), "--fail-under", f"L{level}", capsys=capsys)
    assert code == 0, err
    code, _, err = audit(str(project), "--fail-under", f"L{level + 1}", capsys=capsys)
    assert code == 1
    assert f"is below the required L{level + 1}" in err
    # Levels are also accepted by number and by name.
    names = ["vendor-dependent", "reproducible", "retrainable", "operable", "owned"]
    assert audit(str(project), "--fail-under", names[level], capsys=capsys)[0] == 0
    assert audit(str(project), "--fail-under", str(level + 1), capsys=capsys)[0] == 1


def test_fail_under_from_the_configuration(tmp_path: Path, capsys) -> None:
    files = dict(PROJECT)
    files["pyproject.toml"] += 'fail-under = "L4"\n'
    repo = make_repo(tmp_path / "strict", files)
    code, _, err = audit(str(repo), "--format", "json", capsys=capsys)
    assert code == 1
    assert "is below the required L4 owned" in err
    # The command line wins over the configuration.
    assert audit(str(repo), "--fail-under", "L0", capsys=capsys)[0] == 0
    # Without either, the audit never exits 1.
    assert audit(str(make_repo(tmp_path / "lax", PROJECT)), capsys=capsys)[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-under", "L9"], "unknown level 'L9'"),
        (["--fail-under", "excellent"], "unknown level 'excellent'"),
        (["--select", "ZZ999"], "'ZZ999' matches no check"),
        (["--ignore", "RP101,nonsense"], "'nonsense' matches no check"),
    ],
)
def test_usage_errors_exit_2(project: Path, capsys, args: list[str], message: str) -> None:
    code, _, err = audit(str(project), *args, capsys=capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_missing_path_exits_2(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere"
    code, out, err = audit(str(missing), capsys=capsys)
    assert code == 2
    assert "no such directory" in out + err
    # In JSON the repository carries the error, and the document is still valid JSON.
    code, out, err = audit(str(missing), "--format", "json", capsys=capsys)
    assert code == 2
    (entry,) = json.loads(out)["repositories"]
    assert "no such directory" in entry["error"]


def test_invalid_configuration_value_exits_2(tmp_path: Path, capsys) -> None:
    files = dict(PROJECT)
    files["pyproject.toml"] += 'fail-under = "L9"\n'
    repo = make_repo(tmp_path / "bad", files)
    code, out, err = audit(str(repo), capsys=capsys)
    assert code == 2
    assert "fail-under" in out + err


def test_argparse_rejects_an_unknown_format(project: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", str(project), "--format", "pdf"])
    assert exit_info.value.code == 2


# --- formats and --output -------------------------------------------------------------------


class _Tags(HTMLParser):
    """Collects start tags and checks that the document closes what it opens."""

    VOID: ClassVar[set[str]] = {"meta", "link", "br", "hr", "img", "input", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "json", "sarif", "html"])
def test_every_format_parses(project: Path, tmp_path: Path, capsys, schema, fmt: str) -> None:
    output = tmp_path / f"report.{fmt}"
    code, out, err = audit(str(project), "--format", fmt, "--output", str(output), capsys=capsys)
    assert code == 0, err
    assert out == "", "with --output, standard output stays empty"
    text = output.read_text(encoding="utf-8")
    if fmt == "terminal":
        assert "Handover readiness of" in text
        assert "fix: handover explain" in text  # the checks that fall short
        assert "\033[" not in text, "no colour codes in a file"
    elif fmt == "markdown":
        assert text.lstrip().startswith("#") and "RP101" in text
        assert re.search(r"^\|.*\|$", text, re.MULTILINE), "no table"
    elif fmt == "json":
        document = json.loads(text)
        jsonschema.Draft202012Validator(schema).validate(document)
        (repo,) = document["repositories"]
        assert set(repo["checks"]) == set(all_checks())
    elif fmt == "sarif":
        sarif = json.loads(text)
        assert sarif["version"] == "2.1.0"
        assert "sarif" in sarif["$schema"]
        (sarif_run,) = sarif["runs"]
        assert sarif_run["tool"]["driver"]["name"]
        rules = {rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]}
        for result in sarif_run["results"]:
            assert result["ruleId"] in rules
            assert result["level"] in ("error", "warning", "note", "none")
            assert result["message"]["text"]
    else:
        parser = _Tags()
        parser.feed(text)
        parser.close()
        assert text.lstrip().lower().startswith("<!doctype html>")
        assert parser.stack == [], f"unclosed elements: {parser.stack}"
        # Self-contained: no script, stylesheet or image fetched from elsewhere.
        for tag, attrs in parser.tags:
            if tag in ("script", "img", "iframe"):
                assert not (attrs.get("src") or "").startswith(("http:", "https:", "//")), tag
            if tag == "link":
                assert "stylesheet" not in (attrs.get("rel") or ""), attrs


def test_json_is_the_default_output_when_piped(project: Path, capsys, schema) -> None:
    """Without --output, the JSON document is the whole of standard output."""
    document = audit_json(str(project), capsys=capsys)
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["schema_version"] == "1"
    assert document["tool"]["name"] == "mlops-handover"
    (repo,) = document["repositories"]
    assert repo["path"] == str(project)
    assert repo["git"]["commit"] and repo["git"]["branch"] == "main"
    assert {p["name"] for p in repo["pillars"]} == {p.value for p in Pillar}
    for check_id, result in repo["checks"].items():
        assert result["url"].endswith(f"#{check_id.lower()}")
        assert "internal error" not in result["message"], (check_id, result["message"])


# --- several repositories -------------------------------------------------------------------


def test_several_paths_give_a_summary_and_one_entry_each(tmp_path: Path, capsys) -> None:
    first = make_repo(tmp_path / "alpha-model", PROJECT)
    second = make_repo(tmp_path / "beta-model", {"README.md": "# beta\n"})
    plain = make_repo(tmp_path / "gamma-folder", {"notes.txt": "x\n"}, git_init=False)
    paths = [str(first), str(second), str(plain)]

    code, out, err = audit(*paths, capsys=capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith(str(tmp_path))]
    assert [row.split()[0] for row in rows] == paths
    assert all(re.search(r"\sL[0-4]\s", row) for row in rows)
    assert "weakest:" in out
    for path in paths:  # progress, one line per repository, on stderr
        assert f"audited {path}:" in err

    document = audit_json(*paths, capsys=capsys)
    assert [repo["path"] for repo in document["repositories"]] == paths
    assert document["level"] == min(repo["level"] for repo in document["repositories"])

    markdown = audit(*paths, "--format", "markdown", capsys=capsys)[1]
    for path in paths:
        assert path in markdown


def test_one_missing_path_among_several_exits_2(project: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = audit(str(project), str(tmp_path / "gone"), "--format", "json", capsys=capsys)
    assert code == 2
    repos = json.loads(out)["repositories"]
    assert repos[0]["error"] is None and "no such directory" in repos[1]["error"]


# --- robustness: never crash ----------------------------------------------------------------

MALFORMED = {
    "pyproject.toml": '[project\nname = "x"\n[tool.handover.audit\n',
    "dvc.yaml": "stages:\n  train: [unclosed\n  cmd: {\n",
    "dvc.lock": "\x00\x01 not yaml: [\n",
    "params.yaml": ": : :\n- - [\n",
    ".dvc/config": "[core\nremote = \n['remote \"x\"'\n",
    ".github/workflows/ci.yml": "on: [push\njobs:\n  x: {steps: [\n",
    ".gitlab-ci.yml": "stages: {\n",
    ".copier-answers.yml": "_src_path: [\n",
    ".pre-commit-config.yaml": "repos: {{\n",
    "docs/model-card.md": "---\nlicense: [\n---\n# Model card\n",
    "docs/handover/signoffs.yaml": "signoffs:\n  - gate: [\n",
    "docs/decisions/0001-x.md": "---\nstatus: {\n---\n",
    "CODEOWNERS": "\x00\xff\xfe garbage\n",
    "requirements.lock": b"\xff\xfe\x00\x00",
}


@pytest.mark.parametrize("git_init", [True, False], ids=["git", "plain-folder"])
def test_malformed_files_never_crash(tmp_path: Path, capsys, git_init: bool) -> None:
    files = {k: v.encode("latin-1") if isinstance(v, str) else v for k, v in MALFORMED.items()}
    repo = make_repo(tmp_path / "broken", files, git_init=git_init)
    for fmt in ("terminal", "markdown", "json", "sarif", "html"):
        code, out, err = audit(str(repo), "--format", fmt, capsys=capsys)
        assert code == 0, err
        assert "Traceback" not in out + err
    document = audit_json(str(repo), capsys=capsys)
    (entry,) = document["repositories"]
    assert any("pyproject.toml could not be read" in p for p in entry["problems"])
    internal = {
        check_id: r["message"]
        for check_id, r in entry["checks"].items()
        if "internal error" in r["message"]
    }
    assert not internal, f"checks that crashed instead of reporting unknown: {internal}"
    outcomes = {r["outcome"] for r in entry["checks"].values()}
    assert "unknown" in outcomes


def test_non_git_folder_is_audited(tmp_path: Path, capsys) -> None:
    folder = make_repo(tmp_path / "export", PROJECT, git_init=False)
    document = audit_json(str(folder), capsys=capsys)
    (entry,) = document["repositories"]
    assert entry["error"] is None
    assert entry["git"]["commit"] is None
    # Checks that need git history say so instead of failing.
    unknown = [r["message"] for r in entry["checks"].values() if r["outcome"] == "unknown"]
    assert any("git" in message.lower() for message in unknown), unknown


def test_empty_git_repository(tmp_path: Path, capsys) -> None:
    """`git init` and nothing else: no HEAD, no files."""
    repo = make_repo(tmp_path / "empty", {}, commit_files=False)
    code, out, err = audit(str(repo), "--format", "json", capsys=capsys)
    assert code == 0, err
    (entry,) = json.loads(out)["repositories"]
    assert entry["level"] == 0
    assert not [r for r in entry["checks"].values() if "internal error" in r["message"]]


# --- configuration problems -----------------------------------------------------------------


def test_unknown_configuration_keys_are_reported(tmp_path: Path, capsys) -> None:
    files = dict(PROJECT)
    files["pyproject.toml"] += 'ignroe = ["SC505"]\n\n[tool.handover.audit.thresholds]\nspeed = 3\n'
    repo = make_repo(tmp_path / "typo", files)

    code, out, err = audit(str(repo), "--format", "json", capsys=capsys)
    assert code == 0
    (entry,) = json.loads(out)["repositories"]
    problems = "\n".join(entry["problems"])
    assert "unknown key 'ignroe'" in problems and "unknown key 'speed'" in problems
    assert "unknown key 'ignroe'" in err, "with a non-terminal format, problems go to stderr"

    code, out, err = audit(str(repo), capsys=capsys)
    assert "unknown key 'ignroe'" in out, "the terminal report shows them at the top"


def test_waivers_and_ignore_from_the_configuration(tmp_path: Path, capsys) -> None:
    files = dict(PROJECT)
    files["pyproject.toml"] += (
        'ignore = ["SC505"]\n\n[tool.handover.audit.waivers]\n'
        'RP101 = "the lock is produced by the client platform team"\n'
    )
    repo = make_repo(tmp_path / "waived", files)
    (entry,) = audit_json(str(repo), capsys=capsys)["repositories"]
    assert "SC505" not in entry["checks"]
    assert entry["checks"]["RP101"]["outcome"] == "waived"
    assert entry["checks"]["RP101"]["waiver"] == "the lock is produced by the client platform team"


def test_select_runs_only_the_selected_checks(project: Path, capsys) -> None:
    (entry,) = audit_json(str(project), "--select", "RP1,secure", capsys=capsys)["repositories"]
    ids = set(entry["checks"])
    assert ids == {
        i for i, c in all_checks().items() if i.startswith("RP1") or c.pillar is Pillar.SECURE
    }
    assert {p["name"] for p in entry["pillars"]} == {"Reproduce", "Secure"}
    (entry,) = audit_json(str(project), "--ignore", "RP", capsys=capsys)["repositories"]
    assert not any(i.startswith("RP") for i in entry["checks"])


# --- handover checks and handover explain ---------------------------------------------------


def test_checks_lists_the_catalogue(capsys) -> None:
    assert main(["checks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 30
    ids = [line.split()[0] for line in lines]
    assert ids == list(all_checks())
    assert main(["checks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) >= 30 and len({r["id"] for r in rows}) == len(rows)
    assert {r["pillar"] for r in rows} == {p.value for p in Pillar}
    for row in rows:
        assert re.fullmatch(r"[A-Z]{2}\d{3}", row["id"])
        assert row["severity"] in ("critical", "high", "medium", "low")
        assert row["level"] in (1, 2, 3, 4)
        assert row["title"] and not row["title"].endswith(".")
        assert row["url"].endswith(f"#{row['id'].lower()}")
        assert isinstance(row["needs_attestation"], bool)


def test_every_check_explains_how_to_fix_it() -> None:
    for check_id, check in all_checks().items():
        assert check.title(), check_id
        assert len(check.advice().split()) >= 15, f"{check_id}: the advice is too short to act on"


def test_explain_prints_the_advice(capsys) -> None:
    check = all_checks()["RP101"]
    assert main(["explain", "rp101"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"RP101: {check.title()}\n")
    assert "severity critical" in out and "L1 reproducible" in out
    assert check.advice() in out
    assert f"More: {check.url()}" in out


def test_explain_unknown_id_exits_2(capsys) -> None:
    assert main(["explain", "RP999"]) == 2
    err = capsys.readouterr().err
    assert "no check 'RP999'" in err and "RP101" in err  # the near misses are listed


# --- the installed command ------------------------------------------------------------------


def test_installed_command_prints_pure_json(project: Path) -> None:
    result = run(
        tool("handover"), "audit", "--offline", "--format", "json", str(project),
        cwd=project, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["repositories"][0]["path"] == str(project)
    result = run(tool("handover"), "audit", "--fail-under", "L4", cwd=project, check=False)
    assert result.returncode == 1
    assert "Handover readiness of ." in result.stdout
    assert "below the required L4 owned" in result.stderr
