"""The handover documents in docs/handover/: they render for every answer that shapes them, use
one placeholder marker, keep checklist IDs stable, and sign-offs validate against their schema.

Rendering only (no post-copy task), so the whole module runs in seconds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from conftest import ROOT, run, tool

HANDOVER = Path("docs") / "handover"
SCHEMA_PATH = ROOT / "template" / HANDOVER / "signoffs.schema.json"
DOCS = (
    "README.md",
    "checklist-1-discovery.md",
    "checklist-2-development.md",
    "checklist-3-transition.md",
    "ownership.md",
    "data-governance.md",
    "knowledge-transfer.md",
    "exit-plan.md",
    "signoffs.yaml",
    "signoffs.schema.json",
)
#: Present only when the weekly_reviews question is answered yes.
REVIEW_TEMPLATE = "reviews/template.md"
CHECKLISTS = {
    "DIS": ("checklist-1-discovery.md", "discovery"),
    "DEV": ("checklist-2-development.md", "development"),
    "TRN": ("checklist-3-transition.md", "transition"),
}

# ---------------------------------------------------------------------------------------------
# The checklist items: ID -> (owner role, title, when the item is present). This is the guard
# against renumbering: an ID keeps its owner and title whatever the answers, and appears exactly
# when its condition holds. Vendor roles read "delivery ..." when the work is done in house.
Answers = Mapping[str, Any]
Condition = Callable[[Answers], bool]


def in_house(a: Answers) -> bool:
    return not a.get("vendor_org", "Example Vendor").strip()


def always(a: Answers) -> bool:
    return True


def sensitive(a: Answers) -> bool:
    return a.get("data_sensitivity", "confidential") in ("confidential", "regulated")


def regulated(a: Answers) -> bool:
    return a.get("data_sensitivity", "confidential") == "regulated"


def personal(a: Answers) -> bool:
    return bool(a.get("personal_data", False))


def dpia(a: Answers) -> bool:
    return personal(a) or regulated(a)


def vendor(a: Answers) -> bool:
    return not in_house(a)


def engagement(model: str) -> Condition:
    def condition(a: Answers) -> bool:
        return vendor(a) and a.get("engagement_model", "fixed_price") == model

    condition.__name__ = model
    return condition


fixed_price = engagement("fixed_price")
time_and_materials = engagement("time_and_materials")
staff_augmentation = engagement("staff_augmentation")

ITEMS: dict[str, tuple[str, str, Condition]] = {
    "DIS-01": ("client product owner", "Business problem", always),
    "DIS-02": ("client product owner", "KPI baseline", always),
    "DIS-03": ("client tech lead", "Definition of a good prediction", always),
    "DIS-04": ("client tech lead", "Acceptance bar", always),
    "DIS-05": ("client tech lead", "Client-held evaluation data", always),
    "DIS-06": ("client product owner", "Intended and out-of-scope uses", always),
    "DIS-07": ("client tech lead", "Client repository", always),
    "DIS-08": ("client tech lead", "Code owners and review", always),
    "DIS-09": ("client platform admin", "DVC remote", always),
    "DIS-10": ("client platform admin", "MLflow tracking", always),
    "DIS-11": ("client tech lead", "CI and the acceptance gate", always),
    "DIS-12": ("vendor engineers", "Fresh clone on day one", always),
    "DIS-13": ("client tech lead", "Roles filled", always),
    "DIS-14": ("client tech lead", "Weekly model review", always),
    "DIS-15": ("client tech lead", "Two client engineers", always),
    "DIS-16": ("client tech lead", "Decision log started", always),
    "DIS-17": ("client tech lead", "Data inventory", always),
    "DIS-18": ("client platform admin", "Access register", always),
    "DIS-19": ("client tech lead", "Ownership agreed", always),
    "DIS-20": ("vendor engineers", "Baseline", always),
    "DIS-21": ("vendor lead", "Proof of concept result", always),
    "DIS-22": ("client product owner", "Development plan", always),
    "DIS-30": ("client legal", "Data processing agreement", sensitive),
    "DIS-31": ("client platform admin", "Access review", sensitive),
    "DIS-32": ("client data protection officer", "Regulator-facing record", regulated),
    "DIS-33": ("client data protection officer", "DPIA", dpia),
    "DIS-34": ("client data protection officer", "Lawful basis", personal),
    "DIS-35": ("client tech lead", "Data minimisation", personal),
    "DIS-40": ("client legal", "Ownership in the contract", vendor),
    "DIS-41": ("client tech lead", "No vendor systems", vendor),
    "DIS-50": ("client procurement", "Milestones tied to the bar", fixed_price),
    "DIS-51": ("client procurement", "Change requests", fixed_price),
    "DIS-52": ("client procurement", "Warranty", fixed_price),
    "DIS-53": ("client procurement", "Budget cap per phase", time_and_materials),
    "DIS-54": ("client product owner", "Client sets priorities", time_and_materials),
    "DIS-55": ("client legal", "IP assignment on payment", time_and_materials),
    "DIS-56": ("client platform admin", "Client accounts only", staff_augmentation),
    "DIS-57": ("client tech lead", "Client-run backlog", staff_augmentation),
    "DIS-58": ("client tech lead", "Pairing", staff_augmentation),
    "DEV-01": ("client tech lead", "Reviewed changes only", always),
    "DEV-02": ("vendor engineers", "Every run tracked", always),
    "DEV-03": ("vendor engineers", "Pipeline and data pushed", always),
    "DEV-04": ("vendor engineers", "Decisions recorded when made", always),
    "DEV-05": ("client tech lead", "Acceptance bar guarded", always),
    "DEV-06": ("client ML engineers", "Gate on every change", always),
    "DEV-07": ("vendor engineers", "Tests", always),
    "DEV-08": ("client ML engineers", "Client engineers contribute", always),
    "DEV-09": ("client product owner", "Weekly reviews held", always),
    "DEV-10": ("vendor engineers", "Performance by segment", always),
    "DEV-11": ("vendor engineers", "Model card current", always),
    "DEV-12": ("client product owner", "KPI evidence", always),
    "DEV-13": ("vendor engineers", "Drift check tuned", always),
    "DEV-14": ("client tech lead", "Integration designed", always),
    "DEV-15": ("client tech lead", "Monitoring and alerts", always),
    "DEV-16": ("vendor engineers", "Runbook current", always),
    "DEV-17": ("client tech lead", "No secrets in the repository", always),
    "DEV-18": ("client tech lead", "Ownership and inventory current", always),
    "DEV-19": ("vendor lead", "Transition planned", always),
    "DEV-30": ("client platform admin", "Monthly access review", sensitive),
    "DEV-31": ("client platform admin", "Audit logs on", sensitive),
    "DEV-32": ("client data protection officer", "Regulator-facing record kept", regulated),
    "DEV-33": ("client data protection officer", "DPIA completed", dpia),
    "DEV-34": ("vendor engineers", "No personal data in artifacts", personal),
    "DEV-35": ("client data protection officer", "Data-subject rights", personal),
    "DEV-40": ("vendor lead", "Access register current", vendor),
    "DEV-41": ("client tech lead", "Nothing held back", vendor),
    "DEV-50": ("client procurement", "Milestone acceptance", fixed_price),
    "DEV-51": ("client procurement", "Change requests logged", fixed_price),
    "DEV-52": ("vendor lead", "Deliverables in the repository", fixed_price),
    "DEV-53": ("client procurement", "Spend within the cap", time_and_materials),
    "DEV-54": ("client product owner", "Client-ordered backlog", time_and_materials),
    "DEV-55": ("client legal", "IP assigned for paid work", time_and_materials),
    "DEV-56": ("client platform admin", "Accounts reviewed", staff_augmentation),
    "DEV-57": ("client tech lead", "One backlog", staff_augmentation),
    "DEV-58": ("client ML engineers", "Pairing rotation", staff_augmentation),
    "TRN-01": ("vendor lead", "Sessions held", always),
    "TRN-02": ("client ML engineers", "Fresh clone reproduction", always),
    "TRN-03": ("client ML engineers", "Supervised retrain drill", always),
    "TRN-04": ("client ML engineers", "Rollback drill", always),
    "TRN-05": ("client ML engineers", "Drift diagnosis drill", always),
    "TRN-06": ("client ML engineers", "Runbook walked through", always),
    "TRN-07": ("client product owner", "Model card reviewed", always),
    "TRN-08": ("client product owner", "Performance accepted", always),
    "TRN-09": ("client tech lead", "Alerts reach client on-call", always),
    "TRN-10": ("client tech lead", "Decision log complete", always),
    "TRN-11": ("client tech lead", "Ownership final", always),
    "TRN-12": ("client tech lead", "Support after handover", always),
    "TRN-13": ("client platform admin", "Access revoked", always),
    "TRN-14": ("client platform admin", "Credentials rotated", always),
    "TRN-15": ("client tech lead", "Experiments, models and data transferred", always),
    "TRN-16": ("client tech lead", "Data deletion confirmed", always),
    "TRN-30": ("client platform admin", "Final access review", sensitive),
    "TRN-31": ("client legal", "Processing agreement closed", sensitive),
    "TRN-32": ("client data protection officer", "Regulator-facing record final", regulated),
    "TRN-33": ("client data protection officer", "DPIA reviewed", dpia),
    "TRN-34": ("client ML engineers", "Data-subject rights rehearsed", personal),
    "TRN-40": ("client legal", "IP and licences final", vendor),
    "TRN-41": ("vendor lead", "Handover statement", vendor),
    "TRN-50": ("client procurement", "Final acceptance", fixed_price),
    "TRN-51": ("client procurement", "Change requests closed", fixed_price),
    "TRN-52": ("client tech lead", "Warranty running", fixed_price),
    "TRN-53": ("client procurement", "Spend reconciled", time_and_materials),
    "TRN-54": ("client product owner", "Backlog handed over", time_and_materials),
    "TRN-55": ("client legal", "IP assignment complete", time_and_materials),
    "TRN-56": ("client platform admin", "Accounts disabled on the last day", staff_augmentation),
    "TRN-57": ("client tech lead", "Work reassigned", staff_augmentation),
    "TRN-58": ("client ML engineers", "Areas taken over", staff_augmentation),
}
# The ID ranges the handover README documents: which condition may use which numbers.
RANGES: dict[range, tuple[Condition, ...]] = {
    range(1, 30): (always,),
    range(30, 40): (sensitive, regulated, dpia, personal),
    range(40, 50): (vendor,),
    range(50, 53): (fixed_price,),
    range(53, 56): (time_and_materials,),
    range(56, 59): (staff_augmentation,),
}
CLIENT_ROLES = {
    "client tech lead",
    "client product owner",
    "client ML engineers",
    "client platform admin",
    "client data protection officer",
    "client legal",
    "client procurement",
}
VENDOR_ROLES = {"vendor lead", "vendor engineers"}
IN_HOUSE_ROLES = {"vendor lead": "delivery lead", "vendor engineers": "delivery engineers"}

# `- [ ] **DIS-01** · owner: client product owner · Title: text`; the text may wrap onto
# indented continuation lines.
ITEM = re.compile(
    r"^- \[[ x]\] \*\*(?P<id>(?P<prefix>DIS|DEV|TRN)-(?P<number>\d{2}))\*\*"
    r" · owner: (?P<owner>[A-Za-z][A-Za-z ]*?) · (?P<title>[^:·]+): \S"
)
UNRENDERED = re.compile(r"\{\{|\{%|\{#|%\}|#\}")
PLACEHOLDER = re.compile(r"\[FILL: [^\[\]]*\S[^\[\]]*\]")
OTHER_PLACEHOLDERS = re.compile(
    r"\bTODO\b|\bTBD\b|\bFIXME\b|\bXXX\b|More Information Needed|Insufficient information"
    r"|<placeholder>|\{|\}"
)
LINK = re.compile(r"\]\(([^)\s]+)\)")

# ---------------------------------------------------------------------------------------------
# The answer matrix: every engagement (and in house) against every sensitivity, with personal
# data, CI, tracking, remote and task rotated so that each value meets each of the others.
ENGAGEMENTS = ("fixed_price", "time_and_materials", "staff_augmentation", "in_house")
SENSITIVITIES = ("public", "internal", "confidential", "regulated")
CIS = ("github", "gitlab", "none")
TRACKINGS = ("local", "server")
REMOTES = ("local", "s3", "gcs", "azure", "ssh")
TASKS = ("classification", "regression")


def matrix() -> list[dict[str, Any]]:
    combos = []
    for i, (e, s) in enumerate(itertools.product(range(4), range(4))):
        answers: dict[str, Any] = {
            "data_sensitivity": SENSITIVITIES[s],
            "personal_data": (e + s) % 2 == 1,
            "ci_provider": CIS[(e + 2 * s) % 3],
            "mlflow_tracking": TRACKINGS[(e + s // 2) % 2],
            "dvc_remote": REMOTES[i % 5],
            "ml_task": TASKS[(i // 3) % 2],
            "data_residency": ("EU", "eu-central-1", "United Kingdom")[i % 3],
            "data_deletion_days": (30, 14, 90)[i % 3],
            "weekly_reviews": i % 2 == 0,
        }
        if ENGAGEMENTS[e] == "in_house":
            answers["vendor_org"] = ""
        else:
            answers["engagement_model"] = ENGAGEMENTS[e]
            if s % 2 == 0:
                answers["vendor_email_domain"] = "vendor.example"
        if answers["dvc_remote"] == "s3" and i % 2:
            answers["dvc_s3_endpoint_url"] = "https://s3.acme.example"
        combos.append(answers)
    # Free text that could break Markdown, YAML comments or the sign-off example.
    combos.append(
        {
            "project_name": 'Churn "Zero" Model',
            "client_org": "O'Hara & Sons",
            "client_owner_name": "Pat O'Brien",
            "vendor_org": "Data: Partners Ltd",
            "engagement_model": "time_and_materials",
            "mlflow_tracking": "server",
            "mlflow_tracking_uri": "http://mlflow.acme.example:5000",
            "weekly_reviews": True,
        }
    )
    return combos


MATRIX = matrix()


def combo_id(answers: Answers) -> str:
    if "project_name" in answers:
        return "awkward-names"
    return "-".join(
        [
            "in_house" if in_house(answers) else answers["engagement_model"],
            answers["data_sensitivity"],
            "personal" if answers["personal_data"] else "no_personal",
            answers["ci_provider"],
            answers["mlflow_tracking"],
            answers["dvc_remote"],
        ]
    )


def expected_owner(owner: str, answers: Answers) -> str:
    return IN_HOUSE_ROLES.get(owner, owner) if in_house(answers) else owner


def parse_items(text: str) -> list[re.Match[str]]:
    """The checklist items; every task-list line must have the fixed form."""
    items = []
    for line in text.splitlines():
        if line.startswith("- ["):
            match = ITEM.match(line)
            assert match, f"checklist item not in the fixed form: {line!r}"
            items.append(match)
    return items


def sections(text: str) -> list[tuple[str, str]]:
    """(H2 heading, body) pairs in order."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def table_rows(body: str) -> list[list[str]]:
    """Data rows of the first Markdown table in `body`, as stripped cells."""
    lines = [line for line in body.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def roles_in_readme(text: str) -> set[str]:
    body = dict(sections(text))["Roles"]
    return {row[0] for row in table_rows(body)}


def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def commented_example(signoffs_yaml: str) -> dict[str, Any]:
    """The example in the comment of signoffs.yaml, uncommented."""
    lines = signoffs_yaml.splitlines()
    start = lines.index("# signoffs:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(line[2:])
    return yaml.safe_load("\n".join(block))


# ---------------------------------------------------------------------------------------------
def test_matrix_covers_every_answer_pair() -> None:
    combos = MATRIX[:-1]

    def values(name: str, a: Answers) -> Any:
        if name == "engagement":
            return "in_house" if in_house(a) else a["engagement_model"]
        return a[name]

    names = ("engagement", "data_sensitivity", "personal_data", "ci_provider", "mlflow_tracking")
    domains = {
        "engagement": set(ENGAGEMENTS),
        "data_sensitivity": set(SENSITIVITIES),
        "personal_data": {True, False},
        "ci_provider": set(CIS),
        "mlflow_tracking": set(TRACKINGS),
    }
    for first, second in itertools.combinations(names, 2):
        seen = {(values(first, a), values(second, a)) for a in combos}
        assert seen == set(itertools.product(domains[first], domains[second])), (first, second)
    assert {a["dvc_remote"] for a in combos} == set(REMOTES)
    assert {a["ml_task"] for a in combos} == set(TASKS)


def test_id_registry_follows_the_documented_scheme() -> None:
    """IDs 01-29 for every project, 30-39 data protection, 40-49 vendor, 50-58 per model."""
    for item_id, (owner, title, condition) in ITEMS.items():
        number = int(item_id[4:])
        allowed = next(conds for span, conds in RANGES.items() if number in span)
        assert condition in allowed, f"{item_id} ({title}) is outside its range"
        assert owner in CLIENT_ROLES | VENDOR_ROLES, f"{item_id}: unknown role {owner}"
    for prefix in CHECKLISTS:
        titles = [title for item_id, (_, title, _) in ITEMS.items() if item_id.startswith(prefix)]
        assert len(titles) == len(set(titles)), f"two {prefix} items share a title"


@pytest.mark.parametrize("answers", MATRIX, ids=combo_id)
def test_documents_render(render, answers: dict[str, Any]) -> None:
    project = render(answers)
    handover = project / HANDOVER
    files = (p.relative_to(handover).as_posix() for p in handover.rglob("*") if p.is_file())
    docs = (*DOCS, REVIEW_TEMPLATE) if answers.get("weekly_reviews") else DOCS
    assert sorted(files) == sorted(docs)
    rendered = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    rendered["project_slug"] = params["mlflow"]["registered_model"]  # not asked, not recorded
    texts = {name: (handover / name).read_text(encoding="utf-8") for name in docs}

    for name, text in texts.items():
        assert not UNRENDERED.search(text), f"unrendered Jinja in {name}"
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{name}: end of file"
        assert "\n\n\n" not in text, f"{name}: several blank lines in a row"
        for number, line in enumerate(text.splitlines(), 1):
            assert line == line.rstrip(), f"{name}:{number}: trailing whitespace"
        if name.endswith(".json"):
            continue
        # One placeholder marker, well formed: `[FILL: instruction]`.
        assert text.count("FILL") == text.count("[FILL: ") == len(PLACEHOLDER.findall(text)), (
            f"{name}: malformed [FILL: ...] marker"
        )
        other = OTHER_PLACEHOLDERS.search(text)
        assert not other, f"{name}: other placeholder style {other.group()!r}"
        if name.endswith(".md"):
            check_markdown(project, name, text)

    check_vendor_wording(texts, answers)
    check_checklists(texts, answers)
    check_answers_appear(texts, answers, rendered)

    signoffs = yaml.safe_load(texts["signoffs.yaml"])
    assert signoffs == {"signoffs": []}
    assert texts["signoffs.yaml"].startswith(
        "# yaml-language-server: $schema=signoffs.schema.json\n"
    )
    assert not list(validator().iter_errors(signoffs))
    example = commented_example(texts["signoffs.yaml"])
    assert not list(validator().iter_errors(example)), "the commented example is invalid"
    assert example["signoffs"][0]["signer"] == rendered["client_owner_name"]


def check_markdown(project: Path, name: str, text: str) -> None:
    # No stub: every heading has content before the next heading of the same or a higher level.
    prose = re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)  # a `#` in code is no heading
    headings = list(re.finditer(r"^(#{1,6}) (.+)$", prose, flags=re.M))
    for heading, following in itertools.zip_longest(headings, headings[1:]):
        if following and len(following[1]) > len(heading[1]):
            continue  # content comes under its subheadings
        body = prose[heading.end() : following.start() if following else None]
        assert re.search(r"\w", body), f"{name}: section {heading[2]!r} is empty"

    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            assert re.fullmatch(r"\|(---\|)+", block[1]), f"{name}: bad table rule {block[1]!r}"
            widths = {row.count("|") for row in block}
            assert len(widths) == 1, f"{name}: table rows differ in width: {block}"
            block = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (project / HANDOVER / target.split("#")[0]).resolve()
        assert path.exists(), f"{name}: broken link {target}"


def check_vendor_wording(texts: Mapping[str, str], answers: Answers) -> None:
    # The schema is the same file for every project: it may name any role.
    everything = "\n".join(text for name, text in texts.items() if not name.endswith(".json"))
    readme = texts["README.md"]
    if in_house(answers):
        assert "Example Vendor" not in everything
        assert "the delivery team" in readme
        assert not re.search(r"\bvendor (lead|engineers)\b", everything)
        assert "client procurement" not in everything
    else:
        name = answers.get("vendor_org", "Example Vendor")
        assert name in readme and name in texts["ownership.md"]
    roles = roles_in_readme(readme)
    expected = {"client tech lead", "client product owner", "client ML engineers"}
    expected |= {expected_owner(role, answers) for role in VENDOR_ROLES}
    assert expected <= roles
    assert ("client data protection officer" in roles) == dpia(answers)
    assert ("client procurement" in roles) == vendor(answers)


def check_checklists(texts: Mapping[str, str], answers: Answers) -> None:
    readme_roles = roles_in_readme(texts["README.md"])
    all_ids: list[str] = []
    for prefix, (name, gate) in CHECKLISTS.items():
        text = texts[name]
        items = parse_items(text)
        ids = [item["id"] for item in items]
        all_ids += ids
        assert len(ids) == len(set(ids)), f"{name}: duplicate IDs"
        assert ids == sorted(ids), f"{name}: IDs out of order"
        expected = {
            item_id
            for item_id, (_, _, condition) in ITEMS.items()
            if item_id.startswith(prefix) and condition(answers)
        }
        missing, unexpected = sorted(expected - set(ids)), sorted(set(ids) - expected)
        assert not missing and not unexpected, f"{name}: missing {missing}, unexpected {unexpected}"
        for item in items:
            assert item["prefix"] == prefix
            owner, title, _ = ITEMS[item["id"]]
            assert item["title"] == title, f"{item['id']} changed its title"
            assert item["owner"] == expected_owner(owner, answers), f"{item['id']} owner"
            assert item["owner"] in readme_roles, f"{item['id']}: role not in the roles table"

        # The checklist ends with its gate: criteria and who signs, after the last item.
        parts = sections(text)
        heading, gate_body = parts[-1]
        assert heading == "Go/no-go gate", f"{name} does not end with its go/no-go gate"
        assert not parse_items(gate_body)
        assert f"Gate `{gate}`" in gate_body and f"`gate: {gate}`" in gate_body
        assert re.search(r"^1\. ", gate_body, re.M), f"{name}: no gate criteria"
        signers = table_rows(gate_body)
        assert signers, f"{name}: no sign-off table"
        for row in signers:
            assert row[0] == "gate" or row[0] in ids, f"{name}: sign-off of unknown item {row[0]}"
            assert row[1] in readme_roles, f"{name}: sign-off role {row[1]} not in the roles"
        gate_signers = {row[1] for row in signers if row[0] == "gate"}
        lead = expected_owner("vendor lead", answers)
        assert gate_signers == {"client tech lead", "client product owner", lead}
    assert len(all_ids) == len(set(all_ids)), "an ID appears in two checklists"


def check_answers_appear(texts: Mapping[str, str], a: Answers, rendered: Answers) -> None:
    package, slug = rendered["package_name"], rendered["project_slug"]
    dataset = "breast_cancer.csv" if rendered["ml_task"] == "classification" else "diabetes.csv"
    everything = "\n".join(texts.values())

    readme = texts["README.md"]
    assert rendered["client_owner_name"] in readme and "15-20%" in readme
    for name in texts:
        if name != "README.md":
            assert name in readme, f"README does not point at {name}"
    # The index links the settings instead of restating them.
    assert "](../../evaluation/acceptance.yaml)" in readme

    ownership = texts["ownership.md"]
    assert f"`{slug}`" in ownership and rendered["dvc_remote_url"] in ownership
    if rendered["mlflow_tracking"] == "server":
        assert rendered["mlflow_tracking_uri"] in ownership
    else:
        assert "mlflow.db" in ownership
    assert ("pre-existing IP:" in ownership) == vendor(a)

    governance = texts["data-governance.md"]
    assert f"data/raw/{dataset}" in governance and rendered["data_residency"] in governance
    assert f"**{rendered['data_deletion_days']} days**" in governance
    assert ("### Lawful basis" in governance) == personal(a)
    assert ("## Data protection impact assessment" in governance) == dpia(a)
    assert ("## Confidential and regulated data" in governance) == sensitive(a)
    assert ("DPIA" in everything) == dpia(a), "DPIA is mentioned exactly when it is needed"

    transition = texts["checklist-3-transition.md"]
    assert "(knowledge-transfer.md)" in transition and "(exit-plan.md)" in transition
    # The drills point at the documents whose commands they rehearse, instead of copying them.
    transfer = texts["knowledge-transfer.md"]
    for section in ("Take over this repository", '"Retrain"', '"Roll back"', '"Promote"'):
        assert section in transfer, section
    assert "handover drill" in transfer
    assert f"python -m {package}.drift data/prepared/evaluation.csv" in transfer

    exit_plan = texts["exit-plan.md"]
    assert f"**{rendered['data_deletion_days']} days**" in exit_plan
    domain = rendered.get("vendor_email_domain", "")
    if domain:
        assert f"@{domain}" in exit_plan
    assert ("Outside collaborators" in exit_plan) == (rendered["ci_provider"] == "github")
    assert ("deploy tokens" in exit_plan) == (rendered["ci_provider"] == "gitlab")
    if rendered["mlflow_tracking"] == "server":
        assert f"tracking server `{rendered['mlflow_tracking_uri']}`" in exit_plan
    else:
        assert "The tracking store is local" in exit_plan

    if REVIEW_TEMPLATE not in texts:
        assert "reviews/" not in everything, "a link to the review template it does not have"
        return
    review = texts[REVIEW_TEMPLATE]
    for heading in (
        "Data quality",
        "Performance by segment",
        "Compute cost",
        "Next experiments",
        "Integration issues",
        "Decisions to record",
    ):
        assert f"## {heading}" in review
    assert 'handover decision new "Title"' in review and "docs/decisions/" in review


# ---------------------------------------------------------------------------------------------
# signoffs.schema.json
VALID = {
    "gate": "transition",
    "item": "TRN-04",
    "signer": "Jane Doe",
    "role": "client ML engineers",
    "email": "jane.doe@acme.example",
    "date": "2030-01-31",
    "commit": "3f2a9c1",
    "covers": ["docs/runbook.md", "docs/handover/"],
    "note": "Rolled back from version 3 to 2 and forward again in 9 minutes.",
}
MINIMAL = {
    "gate": "discovery",
    "item": "gate",
    "signer": "Sam Lee",
    "role": "client product owner",
    "date": "2030-01-02",
    "commit": "0123456789abcdef0123456789abcdef01234567",
}


def test_schema_is_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["signoff"]["additionalProperties"] is False


@pytest.mark.parametrize(
    "entries", [[], [VALID], [MINIMAL], [MINIMAL, VALID, {**VALID, "item": "gate"}]]
)
def test_valid_signoffs(entries: list[dict[str, Any]]) -> None:
    assert not list(validator().iter_errors({"signoffs": entries}))


INVALID = {
    "date not ISO": {**VALID, "date": "31/01/2030"},
    "date that does not exist": {**VALID, "date": "2030-02-30"},
    "date with time": {**VALID, "date": "2030-01-31T10:00:00"},
    "unknown gate": {**VALID, "gate": "handover"},
    "item of another phase": {**VALID, "item": "DIS-04"},
    "item not an ID": {**VALID, "item": "TRN-4"},
    "missing signer": {k: v for k, v in VALID.items() if k != "signer"},
    "blank signer": {**VALID, "signer": "  "},
    "missing role": {k: v for k, v in VALID.items() if k != "role"},
    "missing commit": {k: v for k, v in VALID.items() if k != "commit"},
    "short commit": {**VALID, "commit": "3f2a9c"},
    "commit not hex": {**VALID, "commit": "3f2a9cz"},
    "commit too long": {**VALID, "commit": "a" * 41},
    "commit as a number": {**VALID, "commit": 1234567},
    "bad email": {**VALID, "email": "jane.doe"},
    "extra key": {**VALID, "approved": True},
    "covers not a list": {**VALID, "covers": "docs/runbook.md"},
    "absolute covered path": {**VALID, "covers": ["/etc/passwd"]},
}


@pytest.mark.parametrize("entry", INVALID.values(), ids=INVALID.keys())
def test_invalid_signoffs_are_rejected(entry: dict[str, Any]) -> None:
    assert list(validator().iter_errors({"signoffs": [entry]}))


@pytest.mark.parametrize(
    ("entry", "valid"),
    [(VALID, True), (MINIMAL, True), *((entry, False) for entry in INVALID.values())],
    ids=["valid", "minimal", *INVALID],
)
def test_audit_agrees_with_the_schema(entry: dict[str, Any], valid: bool) -> None:
    """The audit's sign-off validation says what the shipped schema says, entry by entry."""
    from mlops_handover.audit.handover_docs import validate_signoff

    problems = validate_signoff(0, 1, entry, dt.date(2030, 6, 1)).problems
    assert not problems if valid else problems


@pytest.mark.parametrize(
    "document",
    [{}, {"signoffs": None}, {"signoffs": [VALID], "extra": 1}, {"signoffs": VALID}],
    ids=["empty", "null list", "extra top-level key", "not a list"],
)
def test_invalid_signoff_files_are_rejected(document: dict[str, Any]) -> None:
    assert list(validator().iter_errors(document))


def test_documented_check_command(render, tmp_path: Path) -> None:
    """The check-jsonschema command in signoffs.yaml accepts a filled file and rejects a bad one."""
    project = render()
    signoffs = project / HANDOVER / "signoffs.yaml"
    command = next(
        line.removeprefix("#").strip()
        for line in signoffs.read_text(encoding="utf-8").splitlines()
        if line.startswith("#   check-jsonschema ")
    )
    args = command.split()
    assert args[1:] == [
        "--schemafile",
        "docs/handover/signoffs.schema.json",
        "docs/handover/signoffs.yaml",
    ]
    checker = tool("check-jsonschema")
    assert run(checker, *args[1:], cwd=project).returncode == 0

    filled = signoffs.read_text(encoding="utf-8").replace(
        "signoffs: []\n", yaml.safe_dump({"signoffs": [VALID, MINIMAL]}, sort_keys=False)
    )
    signoffs.write_text(filled, encoding="utf-8")
    assert run(checker, *args[1:], cwd=project).returncode == 0

    signoffs.write_text(filled.replace("TRN-04", "DIS-04"), encoding="utf-8")
    result = run(checker, *args[1:], cwd=project, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
