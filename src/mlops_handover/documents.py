"""What the handover documents look like, for the commands that write them and the audit.

One place defines the placeholder marker, the model card's sections and regions, MADR's
mandatory sections, and how front matter is split and rewritten, so the writers and the audit
cannot disagree about them. Front matter is rewritten with ruamel.yaml's round trip: the
client's comments, key order and quoting survive a rewrite.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import frontmatter

if TYPE_CHECKING:  # ruamel is imported when a document is rewritten, not to read one
    from ruamel.yaml import YAML

#: Everything the client must fill starts with this (`[FILL: instruction]`); the audit greps it.
PLACEHOLDER = "[FILL:"
PLACEHOLDER_PATTERN = re.compile(r"\[FILL:[^\]]*\]")

MODEL_CARD = "docs/model-card.md"
MODEL_CARD_SECTIONS = (
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative results",
    "Ethical considerations",
    "Caveats and recommendations",
    "Lineage and reproduction",
    "Operation",
    "Owners and contacts",
)
#: Regions of the model card that `handover card` rewrites, and the section each lives in.
MODEL_CARD_REGIONS = {"results": "Quantitative results", "lineage": "Lineage and reproduction"}

DECISIONS_DIR = "docs/decisions"
DECISION_TEMPLATE = "adr-template.md"
#: H2 sections every MADR 4 record has (the rest of the template is optional).
MADR_SECTIONS = ("Context and Problem Statement", "Considered Options", "Decision Outcome")
DECISION_STATUS = re.compile(r"^(proposed|rejected|accepted|deprecated|superseded by ADR-\d{4})$")

_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Placeholder:
    """One `[FILL: ...]` marker: where it is and what it asks for."""

    line: int
    text: str


def find_placeholders(text: str) -> list[Placeholder]:
    """Every placeholder in a document, with its 1-based line; a marker may span lines."""
    return [
        Placeholder(line=text.count("\n", 0, match.start()) + 1, text=match.group())
        for match in PLACEHOLDER_PATTERN.finditer(text)
    ]


def headings(text: str, level: int = 2) -> list[str]:
    """The titles of the ATX headings of `level` in order; front matter and code do not count."""
    if front := split_front_matter(text):
        text = front.body
    prefix = "#" * level + " "
    titles, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith(prefix):
            titles.append(line[len(prefix) :].strip())
    return titles


def region_markers(name: str) -> tuple[str, str]:
    """The HTML comments that open and close a generated region of a document."""
    return f"<!-- handover:{name}:begin -->", f"<!-- handover:{name}:end -->"


class RegionError(ValueError):
    """A region's markers are missing, repeated or out of order."""


def replace_region(text: str, name: str, content: str) -> str:
    """`text` with the lines between the region's markers replaced by `content`.

    The markers and everything outside them stay byte for byte as they were.
    """
    begin, end = region_markers(name)
    for marker in (begin, end):
        if text.count(marker) != 1:
            found = "is missing" if marker not in text else "appears more than once"
            raise RegionError(f"the marker `{marker}` {found}")
    start, stop = text.index(begin) + len(begin), text.index(end)
    if stop < start:
        raise RegionError(f"`{end}` comes before `{begin}`")
    return f"{text[:start]}\n{content.strip()}\n{text[stop:]}"


@dataclass(frozen=True)
class FrontMatter:
    """A document cut so that `head + yaml + body` is the original text exactly."""

    head: str  # the opening `---` line
    yaml: str
    body: str  # from the closing `---` on


def split_front_matter(text: str) -> FrontMatter | None:
    """Cut a document at its YAML front matter (python-frontmatter's delimiters), or None."""
    handler = frontmatter.YAMLHandler()
    if not handler.detect(text):
        return None
    boundaries = handler.FM_BOUNDARY.finditer(text)
    opening, closing = next(boundaries), next(boundaries, None)
    if closing is None:
        return None
    start = opening.end() + 1 if text[opening.end() : opening.end() + 1] == "\n" else opening.end()
    return FrontMatter(
        head=text[:start], yaml=text[start : closing.start()], body=text[closing.start() :]
    )


def read_front_matter(text: str) -> dict[str, Any]:
    """The front matter as plain data ({} when there is none); YAML errors propagate."""
    metadata, _ = frontmatter.parse(text)
    return dict(metadata)


def round_trip_yaml() -> YAML:
    """A ruamel.yaml that keeps comments, order and quotes, and writes the templates' style."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long value
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def dump_yaml(yaml: YAML, data: Any) -> str:
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()
