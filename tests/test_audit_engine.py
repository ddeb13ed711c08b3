"""The audit engine: scoring and levels, fixtures, configuration, selection and robustness.

Scoring is tested with the tests' own checks (`register=False`), so these tests do not depend on
what the catalogue's checks find; the catalogue's checks have their own test modules.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from audit_repos import make_repo
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_handover.audit import config as audit_config
from mlops_handover.audit.engine import audit, run_check, selected_checks, summarise
from mlops_handover.audit.fixtures import AuditOptions, Context, Domains, _glob_regex
from mlops_handover.audit.model import (
    Check,
    CheckResult,
    Outcome,
    Pillar,
    Result,
    Severity,
    Unavailable,
    all_checks,
    level_name,
    parse_level,
    partial,
)


def make_check(name: str, pillar: Pillar, severity: Severity, level: int) -> type[Check]:
    return type(
        name,
        (Check,),
        {"__doc__": f"{name} title\n\nAdvice.", "pillar": pillar, "severity": severity,
         "level": level, "__module__": __name__},
        register=False,
    )  # fmt: skip


def result(check: type[Check], outcome: Outcome, score: float | None = None) -> CheckResult:
    return CheckResult(check=check, result=Result(outcome, score=score))


def levels(results: list[CheckResult]) -> dict[str, int]:
    return {s.pillar.value: s.level for s in summarise(results, 0.8)}


REP_C1 = make_check("XA101", Pillar.REPRODUCE, Severity.CRITICAL, 1)
REP_M1 = make_check("XA102", Pillar.REPRODUCE, Severity.MEDIUM, 1)
RET_H2 = make_check("XB201", Pillar.RETRAIN, Severity.HIGH, 2)
OPS_H3 = make_check("XC301", Pillar.OPERATE, Severity.HIGH, 3)
OPS_L3 = make_check("XC302", Pillar.OPERATE, Severity.LOW, 3)
OWN_M4 = make_check("XD601", Pillar.OWN, Severity.MEDIUM, 4)
OWN_C4 = make_check("XD602", Pillar.OWN, Severity.CRITICAL, 4)


def test_everything_passing_is_l4() -> None:
    results = [result(c, Outcome.PASS) for c in (REP_C1, REP_M1, RET_H2, OPS_H3, OWN_M4)]
    assert set(levels(results).values()) == {4}


def test_failed_critical_caps_the_pillar_below_its_level() -> None:
    results = [result(REP_C1, Outcome.FAIL), result(REP_M1, Outcome.PASS)]
    summary = summarise(results, 0.8)[0]
    assert summary.level == 0
    assert "XA101 (critical) failed" in summary.blockers


def test_weighted_mean_below_pass_score_stops_at_the_level_below() -> None:
    # Operate at L3: high fail (7.5 x 0) + low pass (2.5 x 1) = 0.25 < 0.8.
    results = [result(OPS_H3, Outcome.FAIL), result(OPS_L3, Outcome.PASS)]
    assert levels(results) == {"Operate": 2}
    # A low-severity failure alone keeps the mean at 0.75 with a high pass: still below 0.8.
    results = [result(OPS_H3, Outcome.PASS), result(OPS_L3, Outcome.FAIL)]
    assert levels(results) == {"Operate": 2}
    results = [result(OPS_H3, Outcome.PASS), result(OPS_L3, Outcome.PARTIAL, 0.5)]
    assert levels(results) == {"Operate": 4}


def test_level_four_needs_every_level_four_check_passed_or_attested() -> None:
    assert levels([result(OWN_M4, Outcome.PARTIAL, 0.95)]) == {"Own": 3}
    assert levels([result(OWN_M4, Outcome.ATTESTED)]) == {"Own": 4}


def test_unknown_critical_blocks_only_level_four() -> None:
    results = [result(REP_C1, Outcome.UNKNOWN), result(REP_M1, Outcome.PASS)]
    summary = summarise(results, 0.8)[0]
    assert summary.level == 3
    assert "XA101 (critical) is unknown" in summary.blockers


@pytest.mark.parametrize("outcome", [Outcome.NOT_APPLICABLE, Outcome.UNKNOWN])
def test_unscored_outcomes_do_not_count(outcome: Outcome) -> None:
    results = [result(OPS_H3, outcome), result(OPS_L3, Outcome.PASS)]
    assert levels(results) == {"Operate": 4}


def test_waived_failure_is_not_scored() -> None:
    waived = result(OWN_C4, Outcome.FAIL)
    waived.waiver = "not-applicable: the client serves no model"
    assert waived.outcome is Outcome.WAIVED
    assert levels([waived, result(OWN_M4, Outcome.PASS)]) == {"Own": 4}


def test_headline_is_the_weakest_pillar(tmp_path: Path) -> None:
    results = [
        result(REP_C1, Outcome.PASS),
        result(RET_H2, Outcome.FAIL),
        result(OWN_M4, Outcome.PASS),
    ]
    summaries = summarise(results, 0.8)
    assert [s.pillar for s in summaries] == [Pillar.REPRODUCE, Pillar.RETRAIN, Pillar.OWN]
    assert min(s.level for s in summaries) == 1


def test_partial_scores_stay_strictly_between_zero_and_one() -> None:
    assert partial(0.0, "none").score == pytest.approx(0.01)
    assert partial(1.0, "all").score == pytest.approx(0.99)


# --- running a check ------------------------------------------------------------------------


def context(path: Path) -> Context:
    return Context(root=path, options=AuditOptions(offline=True, environ={}),
                   config=audit_config.AuditConfig())  # fmt: skip


def test_missing_evidence_makes_the_check_unknown_with_the_reason(tmp_path: Path) -> None:
    class XE101(Check, register=False):
        """Needs git"""

        pillar, severity, level = Pillar.REPRODUCE, Severity.LOW, 1

        def check(self, git) -> Result:  # pragma: no cover - never reached without git
            raise AssertionError("called without git")

    item = run_check(XE101, context(tmp_path))
    assert item.outcome is Outcome.UNKNOWN
    assert "not a git repository" in item.result.message
    assert item.evidence_sources == ("git",)


def test_a_crashing_check_is_unknown_and_names_where(tmp_path: Path) -> None:
    class XE102(Check, register=False):
        """Crashes"""

        pillar, severity, level = Pillar.REPRODUCE, Severity.LOW, 1

        def check(self, root) -> Result:
            return {}["missing"]

    item = run_check(XE102, context(tmp_path))
    assert item.outcome is Outcome.UNKNOWN
    assert "internal error" in item.result.message
    assert "KeyError" in item.result.message
    assert "test_audit_engine.py" in item.result.message


def test_a_check_returning_something_else_is_unknown(tmp_path: Path) -> None:
    class XE103(Check, register=False):
        """Returns True"""

        pillar, severity, level = Pillar.REPRODUCE, Severity.LOW, 1

        def check(self, root) -> Result:
            return True  # type: ignore[return-value]

    assert run_check(XE103, context(tmp_path)).outcome is Outcome.UNKNOWN


def test_fixture_unavailable_is_cached_and_raised_again(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    with pytest.raises(Unavailable):
        ctx.get("git")
    with pytest.raises(Unavailable, match="not a git repository"):
        ctx.get("git")


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("lower101", {"__doc__": "x", "level": 1}, "must be an ID"),
        ("XF101", {"level": 1}, "needs a docstring"),
        ("XF102", {"__doc__": "x", "level": 5}, "level must be 1-4"),
    ],
)
def test_check_metadata_is_validated(name: str, body: dict, message: str) -> None:
    body = {"pillar": Pillar.OWN, "severity": Severity.LOW, **body}
    with pytest.raises(TypeError, match=message):
        type(name, (Check,), body, register=False)


# --- levels, selection, configuration --------------------------------------------------------


@pytest.mark.parametrize(("text", "level"), [("L2", 2), ("l0", 0), ("4", 4), ("operable", 3)])
def test_parse_level(text: str, level: int) -> None:
    assert parse_level(text) == level


def test_parse_level_names_the_choices() -> None:
    with pytest.raises(ValueError, match="L0 \\(vendor-dependent\\)"):
        parse_level("L5")
    assert level_name(2) == "L2 retrainable"


def test_selection_by_id_prefix_and_pillar() -> None:
    catalogue = all_checks()
    first = "RP101"
    assert [c.id() for c in selected_checks([first])] == [first]
    pillar = catalogue[first].pillar.value
    chosen = selected_checks([pillar.lower()])
    assert chosen and all(c.pillar.value == pillar for c in chosen)
    assert first not in [c.id() for c in selected_checks(ignore=[first])]
    with pytest.raises(ValueError, match="'ZZ9' matches no check"):
        selected_checks(["ZZ9"])


def test_config_reports_unknown_keys_and_reads_the_rest() -> None:
    cfg = audit_config.from_table(
        {
            "fail-under": "L2",
            "ignroe": ["RP103"],
            "ignore": {"RP103": "no Docker here"},
            "waivers": {"OW605": {"reason": "one-person team", "kind": "not-applicable"}},
            "client-domains": ["@Acme.example"],
            "thresholds": {"max-file-size-mb": 50, "speed": 3},
        }
    )
    assert cfg.fail_under == 2
    assert cfg.ignore == {"RP103": "no Docker here"}
    assert cfg.waivers == {"OW605": "not-applicable: one-person team"}
    assert cfg.client_domains == ("acme.example",)
    assert cfg.threshold("max-file-size-mb") == 50.0
    assert any("'ignroe'" in p for p in cfg.problems)
    assert any("'speed'" in p for p in cfg.problems)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"fail-under": "L9"}, "fail-under"),
        ({"select": 3}, "select must be"),
        ({"waivers": {"RP101": ""}}, "needs a reason"),
        ({"waivers": {"RP101": {"reason": "x", "kind": "because"}}}, "kind 'because'"),
        ({"thresholds": {"pass-score": "high"}}, "non-negative number"),
        ({"client-domains": [1]}, "client-domains must be"),
    ],
)
def test_config_rejects_bad_values_naming_the_key(table: dict, message: str) -> None:
    with pytest.raises(audit_config.ConfigError, match=message):
        audit_config.from_table(table)


def test_audit_of_a_missing_path_or_bad_config_is_an_error_report(tmp_path: Path) -> None:
    assert "no such directory" in (audit(tmp_path / "absent").error or "")
    repo = make_repo(
        tmp_path / "bad", {"pyproject.toml": "[tool.handover.audit]\nfail-under = 'L7'\n"}
    )
    report = audit(repo, AuditOptions(offline=True, environ={}))
    assert report.error and "fail-under" in report.error


def test_malformed_pyproject_is_reported_not_fatal(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"pyproject.toml": "[project\nname = 'x'\n"})
    report = audit(repo, AuditOptions(offline=True, environ={}))
    assert report.error is None
    assert any("pyproject.toml could not be read" in p for p in report.problems)


def test_waiver_from_pyproject_shows_its_reason(tmp_path: Path) -> None:
    check_id = "RP101"
    repo = make_repo(
        tmp_path / "repo",
        {"pyproject.toml": f'[tool.handover.audit.waivers]\n{check_id} = "agreed at the gate"\n'},
    )
    report = audit(repo, AuditOptions(offline=True, environ={}), select=[check_id])
    (item,) = report.results
    assert item.outcome is Outcome.WAIVED
    assert item.waiver == "agreed at the gate"


def test_a_non_git_folder_is_audited_from_its_files(tmp_path: Path) -> None:
    folder = make_repo(
        tmp_path / "plain", {"README.md": "# x\n", "src/a.py": "x = 1\n"}, git_init=False
    )
    report = audit(folder, AuditOptions(offline=True, environ={}))
    assert report.error is None
    assert report.commit is None
    ctx = context(folder)
    assert list(ctx.get("files")) == ["README.md", "src/a.py"]


def test_files_are_what_git_tracks_not_ignored_content(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo", {".gitignore": "data/\n", "a.py": "", "data/big.csv": "x\n"}
    )
    files = context(repo).get("files")
    assert "data/big.csv" not in files and "a.py" in files and files.tracked


def test_malformed_yaml_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"params.yaml": "a: [1, 2\n"})
    with pytest.raises(Unavailable, match=r"params\.yaml is not valid YAML"):
        context(repo).get("files").yaml("params.yaml")


@pytest.mark.parametrize(
    ("text", "entry", "expected"),
    [
        ("dev@acme.example", "acme.example", True),
        ("https://mlflow.ml.acme.example/", "acme.example", True),
        ("https://notacme.example/", "acme.example", False),
        ("s3://acme-ml/dvc", "s3://acme-ml/", True),
        ("s3://vendor-ml/dvc", "s3://acme-ml/", False),
    ],
)
def test_domain_matching(text: str, entry: str, expected: bool) -> None:
    assert Domains.matches(text, entry) is expected


def test_ci_fixture_reads_github_and_gitlab(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {
            ".github/workflows/ci.yml": (
                "on:\n  pull_request:\n  schedule: [{cron: '0 3 * * 1'}]\npermissions: {}\n"
                "jobs:\n  test:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n"
                "      - run: pytest\n"
            ),
            ".gitlab-ci.yml": (
                "stages: [test]\ntest:\n  script: [pytest]\n  rules:\n"
                "    - if: $CI_PIPELINE_SOURCE == 'merge_request_event'\n"
            ),
        },
    )
    github, gitlab = context(repo).get("ci")
    assert github.triggers == {"pull_request", "schedule"}
    assert github.jobs[0].uses == ("actions/checkout@v4",) and github.commands == ("pytest",)
    assert gitlab.provider == "gitlab" and "merge_request" in gitlab.triggers
    assert gitlab.commands == ("pytest",)


# Parts made only of dots are normalised away by PurePath; git never lists such paths.
PART = st.text(alphabet="ab.-_", min_size=1, max_size=4).filter(lambda p: p.strip("."))
PATTERN_PART = (
    st.text(alphabet="ab.*?", min_size=1, max_size=4).filter(lambda p: p.strip("."))
    | st.just("[ab]")
    | st.just("[!a]")
)


@settings(max_examples=300, deadline=None)
@given(
    path=st.lists(PART, min_size=1, max_size=4).map("/".join),
    pattern=st.lists(PATTERN_PART, min_size=1, max_size=3).map("/".join),
)
def test_glob_matches_like_purepath_match(path: str, pattern: str) -> None:
    """ProjectFiles.glob's compiled regex agrees with PurePosixPath.match, which it replaces."""
    assert bool(_glob_regex((pattern,)).search(path)) == PurePosixPath(path).match(pattern)
