"""The document checks (OP301, OW601-OW611 of C) on real repositories.

The failing repository is the real scaffold: the template rendered (no post-copy task) and
committed, with its `[FILL:` markers, unticked checklists and empty sign-offs. The passing one
is the same scaffold after `fill_documents` (tests/audit_documents_fill.py) filled, ticked and
signed it in real commits.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from audit_documents_fill import fill_documents
from audit_repos import check_result, commit, git, make_repo, write_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_handover.audit import config as audit_config
from mlops_handover.audit.engine import run_check
from mlops_handover.audit.fixtures import AuditOptions, Context
from mlops_handover.audit.handover_docs import (
    parse_checklist,
    parse_codeowners,
    parse_signoffs,
    validate_signoff,
)
from mlops_handover.audit.model import Outcome, Unavailable, all_checks
from mlops_handover.template import template_freshness

_BASE: dict[str, Path] = {}


def _copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, symlinks=True)
    return dest


@pytest.fixture
def scaffold(render, tmp_path: Path) -> Path:
    """The rendered template, committed once: the documents as a client first gets them."""
    if "scaffold" not in _BASE:
        base = render(name="scaffold-base")
        git(base, "init", "-q", "-b", "main")
        commit(base, "Generate the project", author="Client ML Owner <ml-owner@acme.example>")
        _BASE["scaffold"] = base
    return _copy(_BASE["scaffold"], tmp_path / "scaffold")


@pytest.fixture
def filled(scaffold: Path, tmp_path: Path) -> Path:
    """The scaffold with every document filled, the checklists ticked and the gates signed."""
    if "filled" not in _BASE:
        base = _copy(scaffold, tmp_path / "filled-base")
        fill_documents(base)
        _BASE["filled"] = base
    return _copy(_BASE["filled"], tmp_path / "filled")


def result(path: Path, check_id: str, **kwargs):
    item = check_result(path, check_id, **kwargs)
    assert "internal error" not in item.result.message, item.result.message
    return item.result


def edit(repo: Path, path: str, old: str, new: str, count: int = 1) -> None:
    file = repo / path
    text = file.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new, count), encoding="utf-8")


def remove(repo: Path, *paths: str) -> None:
    git(repo, "rm", "-q", "-r", *paths)
    commit(repo, "remove")


# --- the two reference repositories ---------------------------------------------------------

MINE = ("OP301", "OW601", "OW602", "OW604", "OW606", "OW607", "OW608", "OW609", "OW610", "OW611")


def test_filled_project_passes_every_document_check(filled: Path) -> None:
    expected = {"OW607": Outcome.ATTESTED, "OW611": Outcome.ATTESTED}
    for check_id in MINE:
        found = result(filled, check_id)
        assert found.outcome is expected.get(check_id, Outcome.PASS), (check_id, found)


def test_scaffold_fails_the_document_checks(scaffold: Path) -> None:
    outcomes = {check_id: result(scaffold, check_id).outcome for check_id in MINE}
    assert outcomes == {
        "OP301": Outcome.PARTIAL,  # complete but for the contacts table
        "OW601": Outcome.FAIL,
        "OW602": Outcome.FAIL,  # the dates are unstamped without the post-copy task
        "OW604": Outcome.PASS,  # the client owner owns every path from the start
        "OW606": Outcome.PASS,
        "OW607": Outcome.FAIL,
        "OW608": Outcome.FAIL,
        "OW609": Outcome.PARTIAL,
        "OW610": Outcome.PARTIAL,
        "OW611": Outcome.FAIL,
    }


# --- OP301 runbook --------------------------------------------------------------------------


def test_op301_scaffold_runbook_lacks_contacts(scaffold: Path) -> None:
    found = result(scaffold, "OP301")
    assert "[FILL: marker" in found.message
    assert all(path == "docs/runbook.md" for path, _ in found.locations)


def test_op301_no_runbook_fails(scaffold: Path) -> None:
    remove(scaffold, "docs/runbook.md")
    found = result(scaffold, "OP301")
    assert found.outcome is Outcome.FAIL and "no runbook" in found.message


def test_op301_missing_rollback_section(filled: Path) -> None:
    edit(filled, "docs/runbook.md", "## Roll back", "## Going backwards")
    commit(filled, "rename")
    found = result(filled, "OP301")
    assert found.outcome is Outcome.PARTIAL and "no section on roll back" in found.message


def test_op301_root_runbook(tmp_path: Path) -> None:
    text = "\n\n".join(
        f"## {title}\n\nThe on-duty engineer follows these steps with the commands below in order."
        for title in ("Deploy", "Retrain", "Rollback", "Alerts", "Contacts")
    )
    repo = make_repo(tmp_path / "r", {"RUNBOOK.md": f"# Runbook\n\n{text}\n"})
    assert result(repo, "OP301").outcome is Outcome.PASS


# --- OW601 model card -----------------------------------------------------------------------


def test_ow601_scaffold_card_fails(scaffold: Path) -> None:
    found = result(scaffold, "OW601")
    assert found.outcome is Outcome.FAIL
    assert "[FILL: marker" in found.message and "no numeric value" in found.message


def test_ow601_filled_card_notes_no_registry(filled: Path) -> None:
    found = result(filled, "OW601")
    assert found.outcome is Outcome.PASS and "not cross-checked" in found.message


def test_ow601_no_card_fails(filled: Path) -> None:
    remove(filled, "docs/model-card.md")
    assert result(filled, "OW601").outcome is Outcome.FAIL


def test_ow601_results_table_disagrees_with_front_matter(filled: Path) -> None:
    edit(filled, "docs/model-card.md", "| **f1** | 0.9512 |", "| **f1** | 0.8 |")
    commit(filled, "edit")
    found = result(filled, "OW601")
    assert found.outcome is Outcome.FAIL and "results table says f1 = 0.8" in found.message


def test_ow601_thin_section_is_partial(filled: Path) -> None:
    card = filled / "docs/model-card.md"
    text = card.read_text(encoding="utf-8")
    start = text.index("## Factors")
    end = text.index("## Metrics")
    card.write_text(text[:start] + "## Factors\n\nNone known.\n\n" + text[end:], encoding="utf-8")
    commit(filled, "thin")
    found = result(filled, "OW601")
    assert found.outcome is Outcome.PARTIAL and "'Factors' has 2 words" in found.message


def test_ow601_license_and_numeric_values_required(filled: Path) -> None:
    edit(filled, "docs/model-card.md", "license: other\n", "")
    edit(filled, "docs/model-card.md", "value: 0.9512", "value: high")
    commit(filled, "edit")
    found = result(filled, "OW601")
    assert found.outcome is Outcome.FAIL
    assert "no license" in found.message and "no numeric value ('high')" in found.message


def test_ow601_malformed_front_matter_is_unknown(filled: Path) -> None:
    edit(filled, "docs/model-card.md", "library_name: sklearn", "library_name: [sklearn")
    commit(filled, "break")
    found = result(filled, "OW601")
    assert found.outcome is Outcome.UNKNOWN and "not valid YAML" in found.message


class FakeStore:
    """What the `mlflow` fixture gives: `champion()` with the run's metrics."""

    def __init__(self, metrics: dict[str, float] | None, version: int = 1) -> None:
        self.metrics, self.version = metrics, version

    def champion(self):
        if self.metrics is None:
            raise Unavailable("no MLflow tracking store found")
        return SimpleNamespace(
            name="demo-model", version=self.version, run_id="5f0c", metrics=self.metrics
        )


def with_store(repo: Path, check_id: str, store: FakeStore):
    context = Context(
        root=repo.resolve(),
        options=AuditOptions(offline=True, environ={}),
        config=audit_config.load(repo),
    )
    context._values["mlflow"] = store
    return run_check(all_checks()[check_id], context).result


def test_ow601_metrics_match_the_registry(filled: Path) -> None:
    found = with_store(filled, "OW601", FakeStore({"eval_f1": 0.9512, "train_f1": 0.99}))
    assert found.outcome is Outcome.PASS
    assert "1 metric match the registry's version 1" in found.message


def test_ow601_metrics_differ_from_the_registry(filled: Path) -> None:
    found = with_store(filled, "OW601", FakeStore({"eval_f1": 0.93}))
    assert found.outcome is Outcome.FAIL
    assert "0.9512 in the card, 0.93 in the champion's run" in found.message


def test_ow601_card_describes_an_older_version(filled: Path) -> None:
    found = with_store(filled, "OW601", FakeStore({"eval_f1": 0.9512}, version=2))
    assert found.outcome is Outcome.FAIL and "registry's champion is version 2" in found.message


def test_ow601_registry_unavailable_still_checks_the_card(filled: Path) -> None:
    found = with_store(filled, "OW601", FakeStore(None))
    assert found.outcome is Outcome.PASS
    assert "not cross-checked with the registry (no MLflow tracking store found)" in found.message


# --- OW602 decision log ---------------------------------------------------------------------


def test_ow602_scaffold_records_are_invalid(scaffold: Path) -> None:
    found = result(scaffold, "OW602")
    assert found.outcome is Outcome.FAIL
    assert "5 of 5 records invalid" in found.message and "not an ISO date" in found.message


def test_ow602_stamped_seed_without_own_record_is_partial(filled: Path) -> None:
    remove(filled, "docs/decisions/0005-serve-predictions-as-a-nightly-batch-job.md")
    found = result(filled, "OW602")
    assert found.outcome is Outcome.PARTIAL
    assert "no valid record beyond the seeded 0000-0004" in found.message


def test_ow602_duplicate_numbers_and_missing_supersede_target(filled: Path) -> None:
    decisions = filled / "docs/decisions"
    record = (decisions / "0005-serve-predictions-as-a-nightly-batch-job.md").read_text()
    (decisions / "0005-another.md").write_text(record)
    edit(
        filled,
        "docs/decisions/0001-track-experiments-and-models-in-mlflow.md",
        "status: accepted",
        "status: superseded by ADR-0009",
    )
    edit(filled, "docs/decisions/0002-version-data-and-pipeline-with-dvc.md", "status: accepted",
         "status: maybe")  # fmt: skip
    commit(filled, "edit")
    found = result(filled, "OW602")
    assert found.outcome is Outcome.PARTIAL
    assert "number shared with" in found.message
    assert "superseded by 0009, which does not exist" in found.message
    assert "status 'maybe' is not one of" in found.message


def test_ow602_missing_section(filled: Path) -> None:
    edit(
        filled,
        "docs/decisions/0005-serve-predictions-as-a-nightly-batch-job.md",
        "## Considered Options",
        "## Options",
    )
    commit(filled, "edit")
    found = result(filled, "OW602")
    assert found.outcome is Outcome.PARTIAL and "missing section(s) Considered Options" in (
        found.message
    )


def test_ow602_adr_tools_log_in_a_plain_repository(tmp_path: Path) -> None:
    nygard = (
        "# {n}. {title}\n\nDate: 2024-03-0{n}\n\n## Status\n\n{status}\n\n## Context\n\n"
        "Why.\n\n## Decision\n\nWhat.\n\n## Consequences\n\nSo.\n"
    )
    repo = make_repo(
        tmp_path / "r",
        {
            "doc/adr/0001-record-architecture-decisions.md": nygard.format(
                n=1, title="Record architecture decisions", status="Accepted"
            ),
            "doc/adr/0002-use-postgres.md": nygard.format(
                n=2, title="Use Postgres", status="Superseded by [3. Use SQLite](0003-x.md)"
            ),
            "doc/adr/0003-use-sqlite.md": nygard.format(n=3, title="Use SQLite", status="Accepted"),
        },
    )
    found = result(repo, "OW602")
    assert found.outcome is Outcome.PASS, found
    assert "3 valid records in doc/adr, 3 beyond the seeded 0000" in found.message


def test_ow602_bullet_metadata_and_no_log(tmp_path: Path) -> None:
    madr2 = (
        "# Use X\n\n* Status: accepted\n* Date: 2023-05-01\n\n## Context and Problem Statement\n\n"
        "Q.\n\n## Considered Options\n\n* X\n\n## Decision Outcome\n\nX.\n"
    )
    repo = make_repo(tmp_path / "r", {"docs/adr/0001-use-x.md": madr2})
    assert result(repo, "OW602").outcome is Outcome.PASS
    empty = make_repo(tmp_path / "e", {"README.md": "hello\n"})
    assert result(empty, "OW602").outcome is Outcome.FAIL


# --- OW604 code owners ----------------------------------------------------------------------


def test_ow604_vendor_owned_rule_fails(scaffold: Path) -> None:
    with (scaffold / ".github/CODEOWNERS").open("a") as f:
        f.write("/src/  dev@vendor.example\n")
    commit(scaffold, "vendor owns src")
    found = result(scaffold, "OW604")
    assert found.outcome is Outcome.FAIL and "/src/ (dev@vendor.example)" in found.message
    assert found.locations[-1][0] == ".github/CODEOWNERS"


def test_ow604_handles_are_partial_unless_listed(scaffold: Path) -> None:
    with (scaffold / ".github/CODEOWNERS").open("a") as f:
        f.write("/src/  @acme-org/ml-team  # the team\n")
    commit(scaffold, "team owns src")
    assert result(scaffold, "OW604").outcome is Outcome.PARTIAL
    edit(
        scaffold,
        "pyproject.toml",
        'client-domains = ["acme.example"]',
        'client-domains = ["acme.example", "@acme-org"]',
    )
    commit(scaffold, "configure")
    assert result(scaffold, "OW604").outcome is Outcome.PASS


def test_ow604_gitlab_sections_and_missing_file(tmp_path: Path) -> None:
    text = "[Docs] @acme-org/docs\n/docs/\n\n^[Code][2] lead@acme.example\n/src/\n"
    repo = make_repo(
        tmp_path / "r",
        {
            ".gitlab/CODEOWNERS": text,
            "pyproject.toml": '[tool.handover.audit]\nclient-domains = ["acme.example"]\n',
        },
    )
    found = result(repo, "OW604")
    assert found.outcome is Outcome.PARTIAL and "/docs/ (@acme-org/docs)" in found.message
    bare = make_repo(tmp_path / "b", {"README.md": "x\n"})
    assert result(bare, "OW604").outcome is Outcome.FAIL


def test_ow604_without_client_domains_is_unknown(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"CODEOWNERS": "* someone@example.com\n"})
    found = result(repo, "OW604")
    assert found.outcome is Outcome.UNKNOWN and "client-domains" in found.message


# --- OW606 template link --------------------------------------------------------------------


def test_ow606_no_answers_file_fails(scaffold: Path) -> None:
    remove(scaffold, ".copier-answers.yml")
    found = result(scaffold, "OW606")
    assert found.outcome is Outcome.FAIL and "handover adopt" in found.message


def test_ow606_answers_without_commit_fails(scaffold: Path) -> None:
    text = (scaffold / ".copier-answers.yml").read_text()
    (scaffold / ".copier-answers.yml").write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("_commit"))
    )
    commit(scaffold, "edit")
    assert result(scaffold, "OW606").outcome is Outcome.FAIL


def tagged_template(path: Path, *tags: str) -> Path:
    repo = make_repo(path, {"copier.yml": "x: 1\n"})
    for tag in tags:
        commit(repo, f"release {tag}")
        git(repo, "tag", "-a", tag, "-m", tag)
    return repo


def answers_repo(path: Path, src: Path | str, at: str) -> Path:
    return make_repo(path, {".copier-answers.yml": f"_commit: {at}\n_src_path: {src}\n"})


def test_ow606_behind_the_latest_tag_is_partial(tmp_path: Path) -> None:
    template = tagged_template(tmp_path / "t", "v0.1.0", "v0.2.0", "v0.3.0rc1")
    behind = answers_repo(tmp_path / "p", template, "v0.1.0-2-gabcdef0")
    found = result(behind, "OW606")
    assert found.outcome is Outcome.PARTIAL and "the latest is v0.2.0" in found.message
    current = answers_repo(tmp_path / "q", template, "v0.2.0")
    assert result(current, "OW606").outcome is Outcome.PASS
    sha = git(template, "rev-parse", "v0.2.0^{commit}")[:7]
    by_sha = answers_repo(tmp_path / "s", template, sha)
    assert "the latest release" in result(by_sha, "OW606").message


def test_ow606_offline_or_unreachable_passes_with_a_note(tmp_path: Path) -> None:
    remote = answers_repo(tmp_path / "p", "https://example.invalid/t.git", "v0.1.0")
    found = result(remote, "OW606", offline=True)
    assert found.outcome is Outcome.PASS and "freshness not checked (offline)" in found.message
    gone = answers_repo(tmp_path / "q", tmp_path / "nowhere", "v0.1.0")
    found = result(gone, "OW606")
    assert found.outcome is Outcome.PASS and "freshness not checked (unreachable" in found.message


def test_template_freshness_gh_shorthand_offline() -> None:
    assert template_freshness("gh:org/tpl", "v1.0.0", offline=True).state == "unchecked"


# --- OW607 / OW611 sign-offs ----------------------------------------------------------------

SIGNOFFS = "docs/handover/signoffs.yaml"


def test_ow607_scaffold_has_no_signoff(scaffold: Path) -> None:
    found = result(scaffold, "OW607")
    assert found.outcome is Outcome.FAIL and "discovery, development, transition" in found.message


def test_ow607_stale_after_a_covered_file_changes(filled: Path) -> None:
    with (filled / "evaluation/acceptance.yaml").open("a") as f:
        f.write("# reviewed\n")
    commit(filled, "change the bar", date="2099-01-01T10:00:00+00:00")
    found = result(filled, "OW607")
    # the tech lead's gate entries cover the bar: stale; the other two roles' still count
    assert found.outcome is Outcome.PARTIAL
    assert (
        "6 sign-offs do not count (discovery/DIS-04 by Client ML Owner: stale: "
        "evaluation/acceptance.yaml changed on 2099-01-01, after the sign-off"
    ) in found.message
    assert (SIGNOFFS, None) not in found.locations


def test_ow607_stale_item_signoff_is_partial(filled: Path) -> None:
    with (filled / "dvc.yaml").open("a") as f:
        f.write("# touched\n")
    commit(filled, "touch dvc.yaml", date="2099-01-01T10:00:00+00:00")
    found = result(filled, "OW607")
    assert found.outcome is Outcome.PARTIAL
    assert "transition/TRN-02 by Tomas Berg: stale: dvc.yaml changed on 2099-01-01" in (
        found.message
    )
    found = result(filled, "OW611")
    assert found.outcome is Outcome.PARTIAL and "8 of 9" in found.message
    assert "TRN-02 (stale: dvc.yaml" in found.message


def test_ow607_commit_must_exist(filled: Path) -> None:
    text = (filled / SIGNOFFS).read_text()
    sha = yaml.safe_load(text)["signoffs"][0]["commit"]
    (filled / SIGNOFFS).write_text(text.replace(sha, "deadbeefcafe"))
    commit(filled, "wrong commit")
    found = result(filled, "OW607")
    assert found.outcome is Outcome.PARTIAL or found.outcome is Outcome.FAIL
    assert "commit deadbeefcafe is not in the repository's history" in found.message
    assert result(filled, "OW611").outcome is Outcome.FAIL  # no TRN entry counts now


def test_ow607_unquoted_dates_are_accepted(filled: Path) -> None:
    text = (filled / SIGNOFFS).read_text()
    date = yaml.safe_load(text)["signoffs"][0]["date"]
    (filled / SIGNOFFS).write_text(text.replace(f'"{date}"', date))
    commit(filled, "unquote")
    assert isinstance(yaml.safe_load((filled / SIGNOFFS).read_text())["signoffs"][0]["date"], type(
        __import__("datetime").date.today()
    ))  # fmt: skip
    assert result(filled, "OW607").outcome is Outcome.ATTESTED
    assert result(filled, "OW611").outcome is Outcome.ATTESTED


def test_ow607_malformed_entry_fails(filled: Path) -> None:
    with (filled / SIGNOFFS).open("a") as f:
        f.write("  - gate: production\n    item: TRN-99x\n    signer: ''\n    date: 2030-13-01\n")
    commit(filled, "bad entry")
    found = result(filled, "OW607")
    assert found.outcome is Outcome.FAIL
    for fragment in ("gate 'production' is not one of", "no role", "no commit", "not a checklist"):
        assert fragment in found.message
    line = len((filled / SIGNOFFS).read_text().splitlines()) - 3
    assert (SIGNOFFS, line) in found.locations


def test_ow607_yaml_error_fails_and_no_git_is_unknown(filled: Path, tmp_path: Path) -> None:
    with (filled / SIGNOFFS).open("a") as f:
        f.write("  - gate: [unclosed\n")
    commit(filled, "broken")
    assert result(filled, "OW607").outcome is Outcome.FAIL
    plain = make_repo(tmp_path / "plain", {SIGNOFFS: "signoffs: []\n"}, git_init=False)
    found = result(plain, "OW611")
    assert found.outcome is Outcome.UNKNOWN and "not a git repository" in found.message


def test_ow611_missing_items_is_partial(filled: Path) -> None:
    data = yaml.safe_load((filled / SIGNOFFS).read_text())
    data["signoffs"] = [e for e in data["signoffs"] if e["item"] not in ("TRN-13", "TRN-14")]
    (filled / SIGNOFFS).write_text(yaml.safe_dump(data, sort_keys=False))
    commit(filled, "drop")
    found = result(filled, "OW611")
    assert found.outcome is Outcome.PARTIAL and found.score == pytest.approx(7 / 9)
    assert "TRN-13 (vendor access revoked)" in found.message
    assert result(filled, "OW607").outcome is Outcome.ATTESTED


def test_parse_signoffs_rules() -> None:
    parsed = parse_signoffs(
        "signoffs:\n"
        "  - {gate: discovery, item: DEV-01, signer: A, role: r, date: '2030-01-01',"
        " commit: 1234567, covers: [/abs, x, x], extra: 1, email: nope}\n"
        "extra: true\n"
    )
    problems = " | ".join(parsed.entries[0].problems)
    for fragment in (
        "does not belong to the discovery gate",
        "must be quoted",
        "'/abs' is not a relative path",
        "x is listed twice",
        "unknown key(s) extra",
        "'nope' is not an e-mail",
        "in the future",
    ):
        assert fragment in problems
    assert parsed.problems == ((None, "unknown top-level key(s) extra"),)


GOOD_SIGNOFF = {
    "gate": "transition", "item": "TRN-01", "signer": "Ann", "role": "lead",
    "date": "2025-05-01", "commit": "abcdef1",
}  # fmt: skip
SIGNOFF_PROBLEMS = {
    "valid": ({}, ()),
    "unquoted date": ({"date": dt.date(2025, 5, 1)}, ()),
    "gate as item": ({"item": "gate"}, ()),
    "date tomorrow": ({"date": "2025-06-02"}, ()),
    "date with time": (
        {"date": dt.datetime(2025, 5, 1, 3)},
        ("date datetime.datetime(2025, 5, 1, 3, 0) is not a day (YYYY-MM-DD)",),
    ),
    "null signer": ({"signer": None}, ("no signer",)),
    "unknown gate": (
        {"gate": "launch"}, ("gate 'launch' is not one of discovery, development, transition",)
    ),
    "gate a number": ({"gate": 3}, ("gate 3 is not one of discovery, development, transition",)),
    "item a number": ({"item": 12}, ("item must be a string, not int 12",)),
    "item not an ID": (
        {"item": "TRN-1"}, ("item 'TRN-1' is not a checklist ID (DIS-04, DEV-12, TRN-07) or gate",)
    ),
    "item of another gate": (
        {"gate": "discovery"}, ("item TRN-01 does not belong to the discovery gate",)
    ),
    "signer a list": ({"signer": ["a"]}, ("signer must be a string, not list ['a']",)),
    "blank role": ({"role": "  "}, ("role is empty",)),
    "empty signer": ({"signer": ""}, ("signer is empty",)),
    "optional keys left empty": ({"email": None, "covers": None, "note": None}, ()),
    # Stricter than the audit's hand-written rules were: the schema takes no padding.
    "padded item": (
        {"item": " TRN-01 "},
        ("item ' TRN-01 ' is not a checklist ID (DIS-04, DEV-12, TRN-07) or gate",),
    ),
    "padded commit": ({"commit": " abcdef1 "}, ("commit ' abcdef1 ' is not 7-40 hex digits",)),
    "bad email": ({"email": "nope"}, ("email 'nope' is not an e-mail address",)),
    "email a number": ({"email": 5}, ("email must be a string, not int 5",)),
    "date a number": ({"date": 20250501}, ("date 20250501 is not a day (YYYY-MM-DD)",)),
    "date not a day": (
        {"date": "2025-13-01"}, ("date '2025-13-01' is not an ISO date (YYYY-MM-DD)",)
    ),
    "date not ISO": (
        {"date": "1 May 2025"}, ("date '1 May 2025' is not an ISO date (YYYY-MM-DD)",)
    ),
    "date in the future": ({"date": "2030-01-01"}, ("date 2030-01-01 is in the future",)),
    "commit a number": (
        {"commit": 1234567}, ("commit 1234567 must be quoted (a string of 7-40 hex digits)",)
    ),
    "commit not hex": ({"commit": "xyz"}, ("commit 'xyz' is not 7-40 hex digits",)),
    "covers not a list": ({"covers": "a"}, ("covers must be a list of paths",)),
    "covers entries": (
        {"covers": ["/abs", "a b", "", 3, "x", "x"]},
        (
            "covers: '/abs' is not a relative path", "covers: 'a b' is not a relative path",
            "covers: '' is not a relative path", "covers: 3 is not a relative path",
            "covers: x is listed twice",
        ),
    ),
    "note a number": ({"note": 3}, ("note must be a string",)),
    "unknown keys": ({"extra": 1, "other": 2}, ("unknown key(s) extra, other",)),
}  # fmt: skip


@pytest.mark.parametrize("case", SIGNOFF_PROBLEMS)
def test_signoff_problems_name_the_field(case: str) -> None:
    change, problems = SIGNOFF_PROBLEMS[case]
    entry = validate_signoff(0, 5, {**GOOD_SIGNOFF, **change}, dt.date(2025, 6, 1))
    assert entry.problems == problems
    assert (entry.index, entry.line) == (0, 5)


def test_signoffs_follow_the_shipped_schema_not_the_repository_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository's own (here: permissive) signoffs.schema.json does not loosen the audit."""
    write_files(
        tmp_path,
        {
            "docs/handover/signoffs.schema.json": "{}",
            "template/docs/handover/signoffs.schema.json": "{}",
        },
    )
    monkeypatch.chdir(tmp_path)
    entry = validate_signoff(0, 1, {**GOOD_SIGNOFF, "commit": "xyz"}, dt.date(2025, 6, 1))
    assert entry.problems == ("commit 'xyz' is not 7-40 hex digits",)


def test_signoff_fields_kept() -> None:
    entry = validate_signoff(
        2, None, {**GOOD_SIGNOFF, "date": dt.date(2025, 5, 1), "covers": ["x", "y"]},
        dt.date(2025, 6, 1),
    )  # fmt: skip
    assert (entry.gate, entry.item, entry.signer, entry.role, entry.date, entry.commit) == (
        "transition", "TRN-01", "Ann", "lead", "2025-05-01", "abcdef1"
    )  # fmt: skip
    assert entry.covers == ("x", "y") and entry.label == "transition/TRN-01 by Ann"
    bad = validate_signoff(0, 1, {**GOOD_SIGNOFF, "gate": "x", "commit": "z", "date": "y"},
                           dt.date(2025, 6, 1))  # fmt: skip
    assert (bad.gate, bad.commit, bad.date) == (None, None, None)
    assert validate_signoff(0, 1, ["x"], dt.date(2025, 6, 1)).problems == ("not a mapping",)
    missing = validate_signoff(0, 1, {}, dt.date(2025, 6, 1)).problems
    assert missing == ("no gate", "no item", "no signer", "no role", "no date", "no commit")


# --- OW608 checklists -----------------------------------------------------------------------


def test_ow608_partly_done_is_partial(scaffold: Path) -> None:
    edit(scaffold, "docs/handover/checklist-1-discovery.md", "- [ ] **DIS-01**", "- [x] **DIS-01**")
    edit(
        scaffold,
        "docs/handover/checklist-1-discovery.md",
        "- [ ] **DIS-03**",
        "- [ ] **DIS-03** n/a: the decision was taken before the engagement (see 0003);",
    )
    edit(scaffold, "docs/handover/checklist-1-discovery.md", "- [ ] **DIS-04**", "- [x] **DIS-04**")
    edit(scaffold, "docs/handover/checklist-1-discovery.md", "client tech lead (CODEOWNERS).",
         "client tech lead (CODEOWNERS). n/a")  # fmt: skip
    commit(scaffold, "tick")
    found = result(scaffold, "OW608")
    assert found.outcome is Outcome.PARTIAL
    assert found.message.startswith("2 of 78 checklist items done")
    assert "DIS-04 (n/a without a reason)" in found.message


def test_ow608_ticked_with_placeholder_is_not_done(filled: Path) -> None:
    edit(filled, "docs/handover/checklist-3-transition.md", "- [x] **TRN-12**",
         "- [x] **TRN-12** [FILL: the support arrangement]")  # fmt: skip
    commit(filled, "edit")
    found = result(filled, "OW608")
    assert found.outcome is Outcome.PARTIAL and "TRN-12 (a [FILL: left)" in found.message


def test_ow608_no_checklists_fails(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README.md": "- [ ] a task\n"})
    assert result(repo, "OW608").outcome is Outcome.FAIL


def test_parse_checklist_items() -> None:
    text = (
        "- [x] **DIS-01** · owner: x · Done\n  continued n/a-like evaluation/acceptance.yaml\n"
        "- [ ] **DIS-02** · not applicable here: n/a: the data is public\n"
        "```\n- [ ] not an item\n```\n"
        "  * [X] nested, no ID\n"
    )
    items = parse_checklist("c.md", text).items
    assert [(i.id, i.ticked, i.done) for i in items] == [
        ("DIS-01", True, True),
        ("DIS-02", False, True),
        (None, True, True),
    ]
    assert items[0].na_reason is None and items[1].na_reason == "the data is public"
    assert items[2].line == 7


# --- OW609 ownership, OW610 data governance -------------------------------------------------


def test_ow609_scaffold_rows_incomplete(scaffold: Path) -> None:
    found = result(scaffold, "OW609")
    assert found.outcome is Outcome.PARTIAL and "3 of 7 rows incomplete" in found.message


def test_ow609_row_without_owner(filled: Path) -> None:
    edit(filled, "docs/handover/ownership.md",
         "| Code, pipeline, tests, CI and documents | client |", "| Code | |")  # fmt: skip
    commit(filled, "edit")
    found = result(filled, "OW609")
    assert found.outcome is Outcome.PARTIAL and "Code (no owner)" in found.message


def test_ow609_missing_file_or_table_fails(filled: Path) -> None:
    (filled / "docs/handover/ownership.md").write_text("# Ownership\n\nThe client owns it all.\n")
    commit(filled, "prose")
    assert result(filled, "OW609").outcome is Outcome.FAIL
    remove(filled, "docs/handover/ownership.md")
    assert result(filled, "OW609").outcome is Outcome.FAIL


def test_ow610_scaffold_and_missing(scaffold: Path) -> None:
    found = result(scaffold, "OW610")
    assert found.outcome is Outcome.PARTIAL
    assert "'Data inventory' has 6 [FILL: markers" in found.message
    remove(scaffold, "docs/handover/data-governance.md")
    assert result(scaffold, "OW610").outcome is Outcome.FAIL


def test_ow610_missing_section(filled: Path) -> None:
    edit(filled, "docs/handover/data-governance.md", "## Residency", "## Where it is")
    commit(filled, "edit")
    found = result(filled, "OW610")
    assert found.outcome is Outcome.PARTIAL and "no section on residency" in found.message


# --- fill_documents is reusable ---------------------------------------------------------------


def test_fill_documents_on_an_uncommitted_in_house_render(render, tmp_path: Path) -> None:
    project = render({"vendor_org": "", "ml_task": "regression", "primary_metric": "rmse"},
                     name="inhouse")  # fmt: skip
    filled = fill_documents(project)
    assert git(project, "rev-list", "--count", "HEAD") == "3"
    assert (
        len(filled.signed) == 23 and filled.date == git(project, "log", "-1", "--format=%cI")[:10]
    )
    for check_id in MINE:
        found = result(project, check_id)
        assert found.outcome in (Outcome.PASS, Outcome.ATTESTED), (check_id, found)
    status = subprocess.run(
        ["git", "-C", str(project), "status", "--porcelain"], capture_output=True, text=True
    )
    assert status.stdout == ""


# --- hypothesis: any text into each parser gives a Result --------------------------------------

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("fuzz")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    write_files(
        repo,
        {
            "pyproject.toml": '[tool.handover.audit]\nclient-domains = ["acme.example"]\n',
            ".copier-answers.yml": "_commit: v1\n_src_path: /nonexistent\n",
        },
    )
    env = {"GIT_AUTHOR_NAME": "F", "GIT_AUTHOR_EMAIL": "f@acme.example"}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=F", "-c", "user.email=f@acme.example",
         "commit", "-qm", "base"],
        check=True, env={**__import__("os").environ, **env},
    )  # fmt: skip
    return repo


def fuzz(repo: Path, files: dict[str, str], *check_ids: str) -> None:
    """Write and stage `files`, then run the checks in one audit context: a Result each."""
    write_files(repo, files)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    context = Context(
        root=repo, options=AuditOptions(offline=True, environ={}), config=audit_config.load(repo)
    )
    for check_id in check_ids:
        found = run_check(all_checks()[check_id], context).result
        assert "internal error" not in found.message, found.message


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.dates().map(str) | st.sampled_from(["gate", "discovery", "TRN-01", "[FILL: x]", "-"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["gate", "item", "signer", "role", "date", "commit", "covers", "note",
                         "signoffs", "value", "metrics", "results", "model-index", "license",
                         "status", "handover", "lineage", "version"])
        | st.text(max_size=5),
        children,
        max_size=6,
    ),
    max_leaves=20,
)  # fmt: skip
markdown = st.lists(
    st.sampled_from(
        ["---", "# T", "## Metrics", "## Status", "| metric | value |", "|---|---|",
         "| **f1** | x |", "- [ ] **TRN-01** n/a", "- [x]", "[FILL: a", "]", "```", "Date: 2020",
         "<!-- handover:results:begin -->", "<!-- handover:results:end -->", "status: 1"]
    )
    | st.text(max_size=40),
    max_size=25,
).map("\n".join)  # fmt: skip


def _dump(data) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return ""


@FUZZ
@given(text=markdown, meta=yaml_values, front=st.booleans())
def test_fuzz_model_card(fuzz_repo: Path, text: str, meta, front: bool) -> None:
    card = f"---\n{_dump(meta)}---\n{text}" if front else text
    fuzz(fuzz_repo, {"docs/model-card.md": card}, "OW601")


@FUZZ
@given(text=markdown, meta=yaml_values)
def test_fuzz_decision_record(fuzz_repo: Path, text: str, meta) -> None:
    records = {
        "docs/decisions/0007-x.md": f"---\n{_dump(meta)}---\n{text}",
        "docs/decisions/0008-y.md": text,
    }
    fuzz(fuzz_repo, records, "OW602")


@FUZZ
@given(data=yaml_values, text=st.text(max_size=200), structured=st.booleans())
def test_fuzz_signoffs(fuzz_repo: Path, data, text: str, structured: bool) -> None:
    entries = {"signoffs": data if isinstance(data, list) else [data]}
    content = _dump(entries) if structured else text
    fuzz(fuzz_repo, {SIGNOFFS: content}, "OW607", "OW611")


@FUZZ
@given(text=st.text(max_size=300), lines=markdown)
def test_fuzz_codeowners_checklists_and_docs(fuzz_repo: Path, text: str, lines: str) -> None:
    files = {
        "CODEOWNERS": text,
        ".github/CODEOWNERS": lines.replace("|", " @x "),
        "docs/handover/checklist-1-x.md": lines,
        "docs/runbook.md": lines,
        "docs/handover/ownership.md": lines,
        "docs/handover/data-governance.md": lines,
        ".copier-answers.yml": lines,
    }
    fuzz(fuzz_repo, files, "OW604", "OW608", "OP301", "OW609", "OW610", "OW606")
    assert parse_codeowners("CODEOWNERS", text).path == "CODEOWNERS"


@pytest.mark.slow
def test_generated_project_fails_then_passes_after_fill(generate) -> None:
    """The full `copier copy --trust` (stamped decision dates, first commit by the post-copy
    task): the scaffold's document checks fail, and `fill_documents` makes them pass."""
    project = generate(name="generated")
    fresh = {check_id: result(project, check_id).outcome for check_id in MINE}
    assert fresh["OW602"] is Outcome.PARTIAL  # stamped, but 0004 asks for the contract
    assert fresh["OW601"] is Outcome.FAIL and fresh["OW607"] is Outcome.FAIL
    fill_documents(project)
    for check_id in MINE:
        found = result(project, check_id)
        assert found.outcome in (Outcome.PASS, Outcome.ATTESTED), (check_id, found)
