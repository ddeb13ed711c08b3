"""Evidence from the handover documents, for the checks in `checks/documents.py`.

Fixtures (a check names them as arguments):

- `model_card` -> `ModelCard | None`: docs/model-card.md (or MODEL_CARD.md), its front matter,
  sections and `[FILL:` markers; `registry_champion` -> `RegistryChampion`: the registry's
  `champion` metrics from the `mlflow` fixture when there is one (never raises);
- `runbook`, `ownership`, `data_governance` -> `MarkdownDoc | None`;
- `decisions` -> `DecisionLog`: the MADR (or adr-tools / log4brains) records, parsed;
- `checklists` -> `tuple[Checklist, ...]`: the task-list items of docs/handover/checklist-*.md;
- `signoffs` -> `Signoffs`: docs/handover/signoffs.yaml validated (jsonschema) against the
  signoffs.schema.json this package ships, never the repository's copy (unquoted YAML dates and
  empty optional keys accepted); `signoff_review` -> `SignoffReview`: the
  same entries with their commits looked up and staleness decided from git history;
- `codeowners` -> `Codeowners`: the CODEOWNERS file GitHub or GitLab would use, parsed.

The marker, the model card's sections and MADR's come from `mlops_handover.documents`, so the
audit and the commands that write the documents cannot disagree. That module (and
python-frontmatter behind it) is imported when a fixture first runs, not when checks register.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_handover.audit.fixtures import (
    Context,
    GitRepo,
    ProjectFiles,
    fixture,
    git_command,
    known_fixtures,
    one_line,
)
from mlops_handover.audit.model import Unavailable, Unreadable

#: Scaffolds that keep their `[FILL:` markers on purpose: templates to copy, never filled.
#: Scaffolds on purpose; the review template moved in 0.2.0 and old projects keep the old path.
EXEMPT = frozenset(
    {
        "docs/decisions/adr-template.md",
        "docs/handover/reviews/template.md",
        "docs/handover/weekly-review-template.md",
    }
)

MODEL_CARD_PATHS = (
    "docs/model-card.md",
    "MODEL_CARD.md",
    "docs/MODEL_CARD.md",
    "model-card.md",
    "model_card.md",
    "docs/model_card.md",
)
RUNBOOK_PATHS = ("docs/runbook.md", "RUNBOOK.md", "runbook.md", "docs/RUNBOOK.md")
OWNERSHIP_PATH = "docs/handover/ownership.md"
GOVERNANCE_PATH = "docs/handover/data-governance.md"
SIGNOFFS_PATH = "docs/handover/signoffs.yaml"
DECISION_DIRS = (
    "docs/decisions",
    "docs/adr",
    "doc/adr",
    "doc/decisions",
    "docs/architecture/decisions",
    "adr",
    "decisions",
)
#: GitHub looks in .github/, the root, then docs/; GitLab in the root, docs/, then .gitlab/.
CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")

#: Other headings a model card may give a required section (the Hugging Face template's).
MODEL_CARD_ALIASES: dict[str, tuple[str, ...]] = {
    "Model details": ("model description",),
    "Intended use": ("uses", "intended uses", "direct use", "intended use cases"),
    "Factors": ("evaluation factors",),
    "Metrics": ("evaluation metrics",),
    "Evaluation data": ("testing data", "evaluation dataset", "test data"),
    "Training data": ("training details", "training dataset"),
    "Quantitative results": ("results", "quantitative analyses", "evaluation results"),
    "Ethical considerations": ("bias, risks, and limitations", "risks and limitations"),
    "Caveats and recommendations": ("recommendations", "limitations"),
    "Lineage and reproduction": ("lineage", "reproducibility", "reproduction"),
    "Operation": ("operations", "deployment", "monitoring"),
    "Owners and contacts": ("model card contact", "contacts", "owners", "model card authors"),
}


def _documents():
    """`mlops_handover.documents`, imported on first use (python-frontmatter costs ~15 ms)."""
    from mlops_handover import documents

    return documents


_LOADER: Any = None


def _yaml_module():
    """PyYAML and a safe loader that leaves timestamps as strings.

    Unquoted dates (`date: 2030-01-31`) then reach the checks as the same ISO strings as quoted
    ones, and an impossible one (`2030-13-01`) is one entry's problem, not a file that cannot be
    loaded (PyYAML's timestamp constructor raises ValueError on it).
    """
    global _LOADER
    import yaml

    if _LOADER is None:
        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        loader = type("NoTimestampLoader", (base,), {})
        loader.yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in base.yaml_implicit_resolvers.items()
        }
        _LOADER = loader
    return yaml, _LOADER


def load_yaml(text: str) -> Any:
    """Safe-load YAML; `ValueError` with a one-line reason for anything malformed.

    PyYAML raises more than `YAMLError`: an impossible date (`2030-13-01`) is a `ValueError`
    from the timestamp constructor, deep nesting a `RecursionError`.
    """
    yaml, loader = _yaml_module()
    try:
        return yaml.load(text, Loader=loader)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as error:
        raise ValueError(one_line(error)) from None


# --- Markdown ------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass
class Section:
    """A heading and everything under it up to the next heading of the same or a higher level."""

    title: str
    level: int
    line: int  # 1-based line of the heading in the file
    body: str

    @property
    def words(self) -> int:
        return count_words(self.body)


def count_words(text: str) -> int:
    """Words of prose, without HTML comments and `[FILL:` instructions."""
    text = _COMMENT.sub(" ", text)
    text = _documents().PLACEHOLDER_PATTERN.sub(" ", text)
    return len(_WORD.findall(text))


@dataclass
class Marker:
    """A `[FILL:` marker: 1-based line and the text (cut at 80 characters)."""

    line: int
    text: str


def find_markers(text: str) -> list[Marker]:
    """Every `[FILL: ...]` marker, also one never closed with `]`."""
    documents = _documents()
    found = [
        Marker(p.line, " ".join(p.text.split())[:80]) for p in documents.find_placeholders(text)
    ]
    closed = {m.start() for m in documents.PLACEHOLDER_PATTERN.finditer(text)}
    for match in re.finditer(re.escape(documents.PLACEHOLDER), text):
        if match.start() not in closed:
            line = text.count("\n", 0, match.start()) + 1
            found.append(Marker(line, text[match.start() :].split("\n", 1)[0][:80]))
    return sorted(found, key=lambda m: m.line)


def parse_sections(text: str, first_line: int = 1) -> list[Section]:
    """ATX headings outside code fences, each with its body; `first_line` numbers `text`."""
    lines = text.splitlines()
    found: list[tuple[int, int, str]] = []  # (index, level, title)
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        match = _HEADING.match(line)
        if match and line.startswith("#"):
            found.append((index, len(match.group(1)), match.group(2).strip()))
    sections = []
    for n, (index, level, title) in enumerate(found):
        end = len(lines)
        for later, later_level, _ in found[n + 1 :]:
            if later_level <= level:
                end = later
                break
        body = "\n".join(lines[index + 1 : end])
        sections.append(Section(title, level, index + first_line, body))
    return sections


@dataclass
class MarkdownDoc:
    """A Markdown document: its text, front matter (raw), sections and `[FILL:` markers."""

    path: str
    text: str
    front_yaml: str | None
    body: str
    body_line: int  # the file's line number of the body's first line
    sections: tuple[Section, ...]
    markers: tuple[Marker, ...]

    def find(self, *keywords: str, levels: tuple[int, ...] = (2, 3)) -> Section | None:
        """The first section whose title contains one of `keywords` (case-insensitive)."""
        for section in self.sections:
            title = section.title.lower()
            if section.level in levels and any(k in title for k in keywords):
                return section
        return None

    def markers_in(self, section: Section) -> list[Marker]:
        last = section.line + section.body.count("\n") + 1
        return [m for m in self.markers if section.line <= m.line <= last]


def parse_markdown(path: str, text: str) -> MarkdownDoc:
    front = _documents().split_front_matter(text)
    if front is not None:
        head_lines = (front.head + front.yaml).count("\n")
        # the body starts with the closing `---` line
        body, body_line, front_yaml = front.body, head_lines + 1, front.yaml
    else:
        body, body_line, front_yaml = text, 1, None
    return MarkdownDoc(
        path=path,
        text=text,
        front_yaml=front_yaml,
        body=body,
        body_line=body_line,
        sections=tuple(parse_sections(body, body_line)),
        markers=tuple(find_markers(text)),
    )


def _markdown(context: Context, paths: tuple[str, ...]) -> MarkdownDoc | None:
    files: ProjectFiles = context.get("files")
    path = files.first(*paths)
    return None if path is None else parse_markdown(path, files.text(path))


@fixture
def runbook(context: Context) -> MarkdownDoc | None:
    """docs/runbook.md (or RUNBOOK.md), None when there is none."""
    return _markdown(context, RUNBOOK_PATHS)


@fixture
def ownership(context: Context) -> MarkdownDoc | None:
    return _markdown(context, (OWNERSHIP_PATH,))


@fixture
def data_governance(context: Context) -> MarkdownDoc | None:
    return _markdown(context, (GOVERNANCE_PATH,))


# --- Markdown tables ------------------------------------------------------------------------

_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


@dataclass
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]  # (1-based line, cells)


def _cells(line: str) -> tuple[str, ...]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return tuple(c.strip() for c in re.split(r"(?<!\\)\|", inner))


def parse_tables(text: str) -> list[Table]:
    """GitHub-flavoured Markdown tables: a header row, a `---` separator, then rows."""
    lines = text.splitlines()
    tables, index = [], 0
    while index < len(lines) - 1:
        line, following = lines[index], lines[index + 1]
        if "|" in line and _SEPARATOR.match(following.strip()) and "-" in following:
            header = _cells(line)
            rows = []
            index += 2
            while index < len(lines) and lines[index].strip().startswith("|"):
                rows.append((index + 1, _cells(lines[index])))
                index += 1
            tables.append(Table(header, tuple(rows)))
        else:
            index += 1
    return tables


# --- the model card ------------------------------------------------------------------------


@dataclass
class CardMetric:
    type: str
    value: Any
    name: str = ""

    @property
    def numeric(self) -> bool:
        return (
            isinstance(self.value, int | float)
            and not isinstance(self.value, bool)
            and math.isfinite(self.value)
        )


@dataclass
class ModelCard:
    doc: MarkdownDoc
    #: The front matter as data; None without front matter.
    metadata: dict[str, Any] | None
    #: Why the front matter is unusable (not a mapping), None when it is fine or absent.
    metadata_problem: str | None

    @property
    def path(self) -> str:
        return self.doc.path

    def section(self, title: str) -> Section | None:
        """The section for one of MODEL_CARD_SECTIONS, by its title or a usual alias."""
        names = {title.lower(), *MODEL_CARD_ALIASES.get(title, ())}
        for section in self.doc.sections:
            if section.level in (2, 3, 4) and section.title.lower().strip(" :") in names:
                return section
        return None

    @cached_property
    def metrics(self) -> list[CardMetric]:
        """The metric entries of every model-index result."""
        found: list[CardMetric] = []
        index = (self.metadata or {}).get("model-index")
        for model in index if isinstance(index, list) else []:
            results = model.get("results") if isinstance(model, dict) else None
            for result in results if isinstance(results, list) else []:
                metrics = result.get("metrics") if isinstance(result, dict) else None
                for metric in metrics if isinstance(metrics, list) else []:
                    if isinstance(metric, dict):
                        found.append(
                            CardMetric(
                                str(metric.get("type", "")),
                                metric.get("value"),
                                str(metric.get("name", "")),
                            )
                        )
        return found

    @property
    def handover(self) -> dict[str, Any]:
        value = (self.metadata or {}).get("handover")
        return value if isinstance(value, dict) else {}

    @property
    def lineage(self) -> dict[str, Any]:
        value = self.handover.get("lineage")
        return value if isinstance(value, dict) else {}

    def region(self, name: str) -> tuple[int, str] | None:
        """(1-based line of the begin marker, text) of a `handover:` region, None if absent."""
        begin, end = _documents().region_markers(name)
        text = self.doc.text
        if text.count(begin) != 1 or text.count(end) != 1:
            return None
        start, stop = text.index(begin), text.index(end)
        if stop < start:
            return None
        return text.count("\n", 0, start) + 1, text[start + len(begin) : stop]

    def region_metrics(self) -> dict[str, tuple[int, float]]:
        """Metric name -> (line, value) from the results region's table."""
        region = self.region("results")
        if region is None:
            return {}
        first, text = region
        found = {}
        for table in parse_tables(text):
            header = [h.lower() for h in table.header]
            if "metric" not in header or "value" not in header:
                continue
            name_at, value_at = header.index("metric"), header.index("value")
            for line, cells in table.rows:
                if len(cells) <= max(name_at, value_at):
                    continue
                name = cells[name_at].strip("*` ")
                try:
                    found[name] = (first + line - 1, float(cells[value_at].strip("*` ")))
                except ValueError:
                    continue
        return found


@fixture
def model_card(context: Context) -> ModelCard | None:
    """The model card, None when the repository has none; malformed front matter: unknown."""
    files: ProjectFiles = context.get("files")
    path = files.first(*MODEL_CARD_PATHS)
    if path is None:
        return None
    doc = parse_markdown(path, files.text(path))
    metadata, problem = None, None
    if doc.front_yaml is not None:
        try:
            data = load_yaml(doc.front_yaml)
        except ValueError as error:
            raise Unavailable(
                f"{path}: the front matter is not valid YAML: {one_line(error)}"
            ) from None
        if isinstance(data, dict):
            metadata = data
        else:
            problem = "the front matter is not a mapping of keys"
    return ModelCard(doc, metadata, problem)


@dataclass
class RegistryChampion:
    """The registry's champion as OW601 compares it; `reason` says why it is missing."""

    metrics: dict[str, float] | None
    reason: str = ""
    name: str = ""
    version: str = ""
    run_id: str = ""

    def metric(self, name: str) -> float | None:
        """The run's value of a card metric: `eval_<name>` (what `handover card` writes), else
        `<name>`."""
        for key in (f"eval_{name}", name):
            value = (self.metrics or {}).get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return None


@fixture
def registry_champion(context: Context) -> RegistryChampion:
    """The `champion` version's metrics from the `mlflow` fixture, or why there are none; raises
    only Unreadable (a broken store), so a card is never passed unchecked because of it."""
    if "mlflow" not in known_fixtures():
        return RegistryChampion(None, "no MLflow evidence in this audit")
    try:
        champion = context.get("mlflow").champion()
    except Unreadable:
        raise
    except Unavailable as reason:
        return RegistryChampion(None, str(reason))
    except Exception as error:  # the card is still checked when the store misbehaves
        return RegistryChampion(None, f"the tracking store could not be read ({error})")
    if champion is None:
        return RegistryChampion(None, "the registry has no version with the alias champion")
    metrics = getattr(champion, "metrics", None)
    return RegistryChampion(
        dict(metrics) if isinstance(metrics, dict) else {},
        name=str(getattr(champion, "name", "") or ""),
        version=str(getattr(champion, "version", "") or ""),
        run_id=str(getattr(champion, "run_id", "") or ""),
    )


# --- the decision log ----------------------------------------------------------------------

RECORD_NAME = re.compile(r"^(\d{3,8})-[^/]+\.md$")
_BULLET_META = re.compile(
    r"^\s*[-*]\s*(?:\*\*)?(status|date|deciders|decision-makers)(?:\*\*)?\s*:\s*(?:\*\*)?\s*(.*?)\s*$",
    re.IGNORECASE,
)
_NYGARD_DATE = re.compile(r"^date:\s*(.+?)\s*$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STATUS_WORDS = ("proposed", "rejected", "accepted", "deprecated")
_SUPERSEDED = re.compile(r"^superseded by\b\D*(\d+)", re.IGNORECASE)
NYGARD_SECTIONS = ("Context", "Decision", "Consequences")


@dataclass
class DecisionRecord:
    path: str
    number: str
    title: str | None
    status: str | None
    date: str | None  # ISO, when valid
    layout: str  # madr | bullets | nygard | none
    superseded_by: str | None
    problems: tuple[tuple[int | None, str], ...]

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass
class DecisionLog:
    directory: str | None
    records: tuple[DecisionRecord, ...]
    #: Records the template seeds (0000-0004 in a generated project, else 0000) do not count
    #: as the team's own.
    seeded_up_to: int


def iso_date(value: Any) -> str | None:
    """A YAML date (quoted or not) or date-time as ISO `YYYY-MM-DD`; None when it is not one."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            return None
    return None


def _status(value: Any) -> tuple[str | None, str | None, str | None]:
    """(status, superseded target number, problem)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None, "no status"
    text = " ".join(str(value).split()).strip("*_` ")
    lower = text.lower()
    if _documents().DECISION_STATUS.match(lower) or lower in _STATUS_WORDS:
        target = _SUPERSEDED.match(lower)
        return lower, target.group(1) if target else None, None
    if target := _SUPERSEDED.match(lower):
        return lower, target.group(1), None
    allowed = ", ".join(_STATUS_WORDS) + ", superseded by ADR-NNNN"
    return lower, None, f"status {text!r} is not one of {allowed}"


def parse_decision(path: str, number: str, text: str) -> DecisionRecord:
    documents = _documents()
    problems: list[tuple[int | None, str]] = []
    doc = parse_markdown(path, text)
    status = date = None
    layout = "none"
    if doc.front_yaml is not None:
        layout = "madr"
        try:
            meta = load_yaml(doc.front_yaml)
        except ValueError as error:
            meta = None
            problems.append((1, f"the front matter is not valid YAML: {one_line(error)}"))
        else:
            if not isinstance(meta, dict):
                problems.append((1, "the front matter is not a mapping"))
                meta = None
        if meta is not None:
            status, date = meta.get("status"), meta.get("date")
    else:
        head = doc.body.split("\n## ", 1)[0]
        for line in head.splitlines():
            if match := _BULLET_META.match(line):
                layout = "bullets"
                key = match.group(1).lower()
                if key == "status" and status is None:
                    status = match.group(2)
                elif key == "date" and date is None:
                    date = match.group(2)
        if layout == "none":
            for line in doc.body.splitlines():
                if match := _NYGARD_DATE.match(line.strip()):
                    date, layout = match.group(1), "nygard"
                    break
            section = next((s for s in doc.sections if s.title.lower() == "status"), None)
            if section is not None:
                layout = "nygard"
                lines = [x.strip() for x in section.body.splitlines() if x.strip()]
                status = lines[0] if lines else None
    if layout == "none":
        problems.append((1, "no metadata: neither MADR front matter nor Status/Date lines"))
    status_text, superseded, problem = _status(status)
    if problem and layout != "none":
        problems.append((1, problem))
    iso = iso_date(date.strip("*_` ") if isinstance(date, str) else date)
    if iso is None and layout != "none":
        problems.append((1, f"date {date!r} is not an ISO date (YYYY-MM-DD)"))
    titles = [s.title for s in doc.sections if s.level == 1]
    if not titles:
        problems.append((None, "no title (a `# ` heading)"))
    h2 = {s.title.lower() for s in doc.sections if s.level == 2}
    madr_missing = [s for s in documents.MADR_SECTIONS if s.lower() not in h2]
    nygard_missing = [s for s in NYGARD_SECTIONS if s.lower() not in h2]
    if madr_missing and nygard_missing:
        problems.append((None, f"missing section(s) {', '.join(madr_missing)}"))
    for marker in doc.markers:
        problems.append((marker.line, f"placeholder {marker.text}"))
    return DecisionRecord(
        path=path,
        number=number,
        title=titles[0] if titles else None,
        status=status_text,
        date=iso,
        layout=layout,
        superseded_by=superseded,
        problems=tuple(problems),
    )


@fixture
def decisions(context: Context) -> DecisionLog:
    """The decision records of the first decision directory that has any."""
    files: ProjectFiles = context.get("files")
    try:
        generated = context.get("answers") is not None
    except Unavailable:
        generated = True  # a malformed answers file is still a generated project
    for directory in DECISION_DIRS:
        paths = [
            p
            for p in files.under(directory)
            if p not in EXEMPT and RECORD_NAME.match(PurePosixPath(p).name)
        ]
        if not paths:
            continue
        records = []
        for path in sorted(paths):
            number = RECORD_NAME.match(PurePosixPath(path).name).group(1)
            try:
                text = files.text(path)
            except Unavailable as reason:
                records.append(
                    DecisionRecord(
                        path, number, None, None, None, "none", None, ((None, str(reason)),)
                    )
                )
                continue
            records.append(parse_decision(path, number, text))
        seeded = 4 if generated and directory == "docs/decisions" else 0
        return DecisionLog(directory, tuple(records), seeded)
    return DecisionLog(None, (), 0)


# --- checklists ----------------------------------------------------------------------------

_TASK = re.compile(r"^(\s*)[-*+]\s+\[([ xX])\]\s?(.*)$")
_ITEM_ID = re.compile(r"\*\*([A-Z]{2,5}-\d{2,3})\*\*|^([A-Z]{2,5}-\d{2,3})\b")
_NA = re.compile(
    r"(?<![\w/-])n/a(?![\w/-])\s*(?:[:\-\u2013\u2014(]\s*)?(.*)", re.IGNORECASE | re.DOTALL
)


@dataclass
class ChecklistItem:
    path: str
    line: int
    id: str | None
    ticked: bool
    text: str

    @cached_property
    def na_reason(self) -> str | None:
        """The reason after `n/a`, "" when `n/a` has none, None when the item is not n/a."""
        match = _NA.search(self.text)
        if match is None:
            return None
        reason = _documents().PLACEHOLDER_PATTERN.sub("", match.group(1))
        reason = reason.strip().strip("`).;:,").strip()
        return "" if reason in ("", "<reason>", "reason") else reason

    @property
    def placeholders(self) -> int:
        return self.text.count(_documents().PLACEHOLDER)

    @property
    def done(self) -> bool:
        """Ticked, or not applicable with a reason; either way without a `[FILL:` left."""
        if self.placeholders:
            return False
        if self.na_reason is not None:
            return bool(self.na_reason)
        return self.ticked

    @property
    def label(self) -> str:
        return self.id or f"{self.path}:{self.line}"


@dataclass
class Checklist:
    path: str
    items: tuple[ChecklistItem, ...]


def parse_checklist(path: str, text: str) -> Checklist:
    lines = text.splitlines()
    items: list[ChecklistItem] = []
    index, fenced = 0, False
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _TASK.match(line)
        if match is None:
            index += 1
            continue
        indent = len(match.group(1))
        parts = [match.group(3)]
        end = index + 1
        while end < len(lines):
            following = lines[end]
            if not following.strip() or _TASK.match(following):
                break
            if len(following) - len(following.lstrip()) <= indent:
                break
            parts.append(following.strip())
            end += 1
        body = " ".join(parts)
        found = _ITEM_ID.search(body)
        items.append(
            ChecklistItem(
                path=path,
                line=index + 1,
                id=(found.group(1) or found.group(2)) if found else None,
                ticked=match.group(2) in "xX",
                text=body,
            )
        )
        index = end
    return Checklist(path, tuple(items))


@fixture
def checklists(context: Context) -> tuple[Checklist, ...]:
    """docs/handover/checklist-*.md, in name order (phase order in a generated project)."""
    files: ProjectFiles = context.get("files")
    paths = sorted(p for p in files.under("docs/handover") if re.fullmatch(
        r"docs/handover/checklist-[^/]*\.md", p
    ))  # fmt: skip
    return tuple(parse_checklist(p, files.text(p)) for p in paths)


# --- sign-offs -----------------------------------------------------------------------------

GATES = ("discovery", "development", "transition")
#: The schema signoffs.yaml follows, as this package ships it in the template: never the copy in
#: the audited repository, which its authors could loosen.
SIGNOFFS_SCHEMA = "template/docs/handover/signoffs.schema.json"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: What a schema error on a field says, by the keyword that failed ({v}: the value's repr).
_FIELD_WORDING = {
    "gate": {"*": "gate {v} is not one of " + ", ".join(GATES)},
    "item": {
        "pattern": "item {v} is not a checklist ID (DIS-04, DEV-12, TRN-07) or gate",
        "then": "item {s} does not belong to the {gate} gate",
    },
    "signer": {"minLength": "signer is empty", "pattern": "signer is empty"},
    "role": {"minLength": "role is empty", "pattern": "role is empty"},
    "email": {"*": "email {v} is not an e-mail address"},
    "date": {"type": "date {v} is not a day (YYYY-MM-DD)",
             "*": "date {v} is not an ISO date (YYYY-MM-DD)"},
    "commit": {"type": "commit {v} must be quoted (a string of 7-40 hex digits)",
               "*": "commit {v} is not 7-40 hex digits"},
    "covers": {"type": "covers must be a list of paths", "*": "covers: {v} is not a relative path"},
    "note": {"type": "note must be a string"},
}  # fmt: skip


@dataclass
class Signoff:
    """One entry of signoffs.yaml; `problems` lists where it breaks the schema's rules."""

    index: int
    line: int | None
    gate: str | None
    item: str | None
    signer: str | None
    role: str | None
    date: str | None  # ISO day
    commit: str | None
    covers: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.gate or '?'}/{self.item or '?'} by {self.signer or '?'}"


@dataclass
class Signoffs:
    path: str
    present: bool
    entries: tuple[Signoff, ...] = ()
    #: Problems with the file as a whole (1-based line or None, message).
    problems: tuple[tuple[int | None, str], ...] = ()


def _shipped_schema_path() -> Path:
    """signoffs.schema.json of this package: a wheel's _template/ or a checkout's template/."""
    from mlops_handover.template import BUNDLED_TEMPLATE, PACKAGE_DIR

    for root in (BUNDLED_TEMPLATE, PACKAGE_DIR.parent.parent):
        if (root / SIGNOFFS_SCHEMA).is_file():
            return root / SIGNOFFS_SCHEMA
    raise Unavailable(f"this install of mlops-handover has no {SIGNOFFS_SCHEMA}")


@cache
def _signoff_validator() -> Any:
    """A validator of one sign-off entry against the shipped schema's `$defs/signoff`."""
    import json

    from jsonschema import Draft202012Validator  # ~150 ms: only when signoffs.yaml has entries

    schema = json.loads(_shipped_schema_path().read_text(encoding="utf-8"))
    entry = {"$defs": schema["$defs"], "$ref": "#/$defs/signoff"}
    return Draft202012Validator(entry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _problem(error: Any, entry: dict[str, Any]) -> list[str]:
    """A jsonschema error on an entry in the audit's words: the field, then what is wrong."""
    keyword, path, value = error.validator, list(error.absolute_path), error.instance
    if keyword == "required":
        return [f"no {key}" for key in error.validator_value if key not in entry]
    if keyword == "additionalProperties":
        unknown = [str(k) for k in entry if k not in error.schema["properties"]]
        return [f"unknown key(s) {', '.join(unknown)}"]
    if not path:
        return [error.message]
    key = str(path[0])
    if value is None:
        return [f"no {key}"]
    if keyword == "uniqueItems":
        twice = [p for i, p in enumerate(value) if p in value[:i]]
        return [f"{key}: {p} is listed twice" for p in dict.fromkeys(twice)]
    kind = "then" if "then" in error.relative_schema_path else "*" if len(path) > 1 else keyword
    words = _FIELD_WORDING.get(key, {})
    wording = words.get(kind, None if keyword == "type" else words.get("*"))
    if wording is not None:
        return [wording.format(v=repr(value), s=value, gate=entry.get("gate"))]
    if keyword == "type":
        return [f"{key} must be a string, not {type(value).__name__} {value!r}"]
    return [f"{key}: {error.message}"]


def _error_order(error: Any, fields: list[str]) -> tuple[Any, ...]:
    """Errors as the audit lists them: missing keys, unknown keys, then field by field."""
    head = {"required": 0, "additionalProperties": 1}.get(error.validator, 2)
    path = list(error.absolute_path)
    where = fields.index(path[0]) if path and path[0] in fields else len(fields)
    return (head, where, error.validator == "uniqueItems", [str(p).zfill(6) for p in path[1:]])


def validate_signoff(index: int, line: int | None, entry: Any, today: dt.date) -> Signoff:
    """One entry checked against the shipped signoffs.schema.json, with two allowances the
    schema does not make: an unquoted YAML date, and an optional key left empty (null)."""
    if not isinstance(entry, dict):
        return Signoff(index, line, None, None, None, None, None, None, (), ("not a mapping",))
    validator = _signoff_validator()
    schema = validator.schema["$defs"]["signoff"]
    instance = {k: v for k, v in entry.items() if v is not None or k in schema["required"]}
    raw_date = instance.get("date")
    if isinstance(raw_date, dt.date) and not isinstance(raw_date, dt.datetime):
        instance["date"] = raw_date.isoformat()
    errors = list(validator.iter_errors(instance))
    gate_rule = [e for e in errors if "then" in e.relative_schema_path]
    if any(list(e.absolute_path) == ["item"] for e in errors if e not in gate_rule):
        errors = [e for e in errors if e not in gate_rule]  # not an ID at all: say only that
    errors.sort(key=lambda error: _error_order(error, list(schema["properties"])))
    problems = list(dict.fromkeys(p for error in errors for p in _problem(error, instance)))
    bad = {error.absolute_path[0] for error in errors if error.absolute_path}

    def text(key: str) -> str | None:
        value = instance.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    date = None if "date" in bad else iso_date(instance.get("date"))
    if date and dt.date.fromisoformat(date) > today + dt.timedelta(days=1):
        problems.append(f"date {date} is in the future")
    covers = instance.get("covers") if isinstance(instance.get("covers"), list) else []
    bad_paths = {e.absolute_path[1] for e in errors if len(e.absolute_path) > 1}
    good = (p for i, p in enumerate(covers) if i not in bad_paths and isinstance(p, str))
    return Signoff(
        index, line,
        None if "gate" in bad else text("gate"),
        text("item"), text("signer"), text("role"), date,
        None if "commit" in bad else text("commit"),
        tuple(dict.fromkeys(good)), tuple(problems),
    )  # fmt: skip


def _entry_lines(yaml: Any, loader: Any, text: str) -> list[int | None]:
    """1-based line of each entry of the `signoffs` list (None where it cannot be told)."""
    try:
        node = yaml.compose(text, Loader=loader)
    except (yaml.YAMLError, RecursionError):
        return []
    if node is None or not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "signoffs" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def parse_signoffs(text: str, path: str = SIGNOFFS_PATH, today: dt.date | None = None) -> Signoffs:
    """Parse and validate signoffs.yaml; a YAML syntax error raises Unavailable."""
    yaml, loader = _yaml_module()
    try:
        data = load_yaml(text)
    except ValueError as error:
        raise Unreadable(f"{path} is not valid YAML: {one_line(error)}") from None
    today = today or dt.date.today()
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        return Signoffs(path, True, (), ((1, f"is {kind}, not a mapping with a signoffs list"),))
    problems: list[tuple[int | None, str]] = []
    extra = [str(k) for k in data if k != "signoffs"]
    if extra:
        problems.append((None, f"unknown top-level key(s) {', '.join(extra)}"))
    items = data.get("signoffs")
    if "signoffs" not in data:
        problems.append((1, "no signoffs key"))
        items = []
    elif items is None:
        items = []
    elif not isinstance(items, list):
        problems.append((None, "signoffs is not a list"))
        items = []
    lines = _entry_lines(yaml, loader, text)
    entries = tuple(
        validate_signoff(i, lines[i] if i < len(lines) else None, entry, today)
        for i, entry in enumerate(items)
    )
    return Signoffs(path, True, entries, tuple(problems))


@fixture
def signoffs(context: Context) -> Signoffs:
    files: ProjectFiles = context.get("files")
    if SIGNOFFS_PATH not in files:
        return Signoffs(SIGNOFFS_PATH, False)
    return parse_signoffs(files.text(SIGNOFFS_PATH))


@dataclass
class ReviewedSignoff:
    entry: Signoff
    #: Schema problems, a commit not in history, or staleness: any makes the entry not count.
    problems: tuple[str, ...]

    @property
    def counts(self) -> bool:
        return not self.problems


@dataclass
class SignoffReview:
    path: str
    present: bool
    entries: tuple[ReviewedSignoff, ...] = ()
    problems: tuple[tuple[int | None, str], ...] = ()

    def counting(self, gate: str, item: str) -> list[ReviewedSignoff]:
        return [
            r for r in self.entries if r.counts and r.entry.gate == gate and r.entry.item == item
        ]

    def latest(self, gate: str, item: str) -> ReviewedSignoff | None:
        """The newest entry for `gate`/`item` (entries are appended), counting or not."""
        found = [r for r in self.entries if r.entry.gate == gate and r.entry.item == item]
        return found[-1] if found else None


def existing_commits(root: Any, shas: list[str]) -> set[str]:
    """Which of `shas` name commits in the repository (one `git cat-file --batch-check`)."""
    if not shas:
        return set()
    out = git_command(root, "cat-file", "--batch-check", input="\n".join(shas) + "\n", check=False)
    found = set()
    for sha, line in zip(shas, out.splitlines(), strict=False):
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "commit":
            found.add(sha)
    return found


def last_changes(root: Any, paths: list[str]) -> dict[str, str | None]:
    """Each path's newest commit date (ISO, committer's), from one `git log` over all of them.

    A path may be a folder; the date is the newest of any file under it. The newest date
    wins even when clock skew puts it out of log order. None when the path never changed.
    """
    newest: dict[str, str | None] = dict.fromkeys(paths)
    if not paths:
        return newest
    out = git_command(
        root, "--literal-pathspecs", "log", "--no-renames", "--name-only", "--format=%x01%cI",
        "--", *paths, check=False,
    )  # fmt: skip
    prefixes = [(p, p.rstrip("/") + "/") for p in paths]
    date = ""
    for line in out.splitlines():
        if line.startswith("\x01"):
            date = line[1:].strip()
        elif line and date:
            for path, prefix in prefixes:
                matches = line == path.rstrip("/") or line.startswith(prefix)
                if matches and (newest[path] is None or date > newest[path]):
                    newest[path] = date
    return newest


def review_signoffs(parsed: Signoffs, repo: GitRepo, files: ProjectFiles) -> SignoffReview:
    """Look up each entry's commit and decide whether a covered path changed after its date.

    Two git processes in all (`cat-file --batch-check`, one `log`), however many entries.
    """
    shas = sorted({e.commit for e in parsed.entries if e.commit})
    exists = existing_commits(repo.root, shas)
    covered = sorted({p for e in parsed.entries for p in e.covers if p in files or files.under(p)})
    changed = last_changes(repo.root, covered) if repo.head else {}
    reviewed = []
    for entry in parsed.entries:
        problems = list(entry.problems)
        if entry.commit and entry.commit not in exists:
            problems.append(f"commit {entry.commit} is not in the repository's history")
        for path in entry.covers:
            if path not in covered:
                problems.append(f"covers {path}, which is not in the repository")
                continue
            last = changed.get(path)
            if entry.date and last and last[:10] > entry.date:
                problems.append(f"stale: {path} changed on {last[:10]}, after the sign-off")
        reviewed.append(ReviewedSignoff(entry, tuple(problems)))
    return SignoffReview(parsed.path, parsed.present, tuple(reviewed), parsed.problems)


@fixture
def signoff_review(context: Context) -> SignoffReview:
    """The sign-offs with their commits and staleness checked in git (unknown without git)."""
    parsed: Signoffs = context.get("signoffs")
    if not parsed.present:
        return SignoffReview(parsed.path, False)
    return review_signoffs(parsed, context.get("git"), context.get("files"))


# --- CODEOWNERS ----------------------------------------------------------------------------

_SECTION = re.compile(r"^\^?\[([^\]]+)\](?:\[\d+\])?\s*(.*)$")


@dataclass
class OwnerRule:
    line: int
    pattern: str
    owners: tuple[str, ...]


@dataclass
class Codeowners:
    path: str | None
    rules: tuple[OwnerRule, ...] = ()
    #: Tokens that are neither an @handle nor an e-mail address: (line, message).
    problems: tuple[tuple[int, str], ...] = ()


def is_owner_token(token: str) -> bool:
    return (token.startswith("@") and len(token) > 1) or bool(_EMAIL.match(token))


def parse_codeowners(path: str, text: str) -> Codeowners:
    rules, problems = [], []
    defaults: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        section = _SECTION.match(line)
        if section and all(is_owner_token(t) for t in section.group(2).split()):
            defaults = tuple(section.group(2).split())
            continue
        tokens = line.split()
        pattern, owners = tokens[0], tuple(tokens[1:])
        bad = [t for t in owners if not is_owner_token(t)]
        if bad:
            problems.append((number, f"{', '.join(bad)} is not an @handle or an e-mail address"))
        owners = tuple(t for t in owners if is_owner_token(t))
        rules.append(OwnerRule(number, pattern, owners or defaults))
    return Codeowners(path, tuple(rules), tuple(problems))


@fixture
def codeowners(context: Context) -> Codeowners:
    files: ProjectFiles = context.get("files")
    path = files.first(*CODEOWNERS_PATHS)
    if path is None:
        return Codeowners(None)
    return parse_codeowners(path, files.text(path))
