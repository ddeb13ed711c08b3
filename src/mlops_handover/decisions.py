"""`handover decision new`: the next MADR record, numbered and named, from the project's template.

Records are `docs/decisions/NNNN-slug.md`. The number is one more than the highest in the
directory, so a deleted or never-merged record leaves a gap rather than a reused number that
links elsewhere would then point to the wrong decision. 0000 is MADR's record of adopting MADR,
which the template seeds; an empty log therefore starts at 0001. A record is created
exclusively: an existing file is never overwritten.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from mlops_handover.documents import (
    DECISION_STATUS,
    DECISION_TEMPLATE,
    DECISIONS_DIR,
    FrontMatter,
    dump_yaml,
    round_trip_yaml,
    split_front_matter,
)
from mlops_handover.errors import HandoverError
from mlops_handover.template import template_source

RECORD_NAME = re.compile(r"^(\d{4})-.+\.md$")
SLUG_MAX = 60
#: Latin letters that NFKD does not decompose into ASCII.
TRANSLITERATE = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L"}
)


@dataclass(frozen=True)
class DecisionRecord:
    """A record `handover decision new` created."""

    path: str
    number: str
    title: str
    status: str
    date: str
    template: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def slugify(title: str, max_length: int = SLUG_MAX) -> str:
    """Lower-case ASCII words joined by '-', cut at a word boundary ("Über Größe!": uber-grosse)."""
    ascii_title = unicodedata.normalize("NFKD", title.translate(TRANSLITERATE))
    words = re.findall(r"[a-z0-9]+", ascii_title.encode("ascii", "ignore").decode().lower())
    slug = ""
    for word in words:
        if len(slug) + len(word) + bool(slug) > max_length:
            break
        slug = f"{slug}-{word}" if slug else word
    return slug or (words[0][:max_length] if words else "")


def next_number(directory: Path) -> int:
    """One more than the highest record number; 1 when there is no record yet."""
    numbers = [int(m.group(1)) for p in directory.iterdir() if (m := RECORD_NAME.match(p.name))]
    return max(numbers) + 1 if numbers else 1


def find_template(directory: Path) -> Path:
    """The project's own template, else the copy in the template mlops-handover generates from."""
    bundled = Path(template_source()) / "template" / DECISIONS_DIR / DECISION_TEMPLATE
    for candidate in (directory / DECISION_TEMPLATE, bundled):
        if candidate.is_file():
            return candidate
    raise HandoverError(
        f"no decision record template: neither {directory / DECISION_TEMPLATE} nor {bundled} "
        "exists. Restore docs/decisions/adr-template.md from git history or the template.",
        2,
    )


def render_record(template: str, title: str, status: str, date: datetime.date) -> str:
    """The template with its H1 set to `title` and front matter `status` and `date` set."""
    front = split_front_matter(template) or FrontMatter("---\n", "", "---\n\n" + template)
    yaml = round_trip_yaml()
    data = yaml.load(front.yaml) or CommentedMap()
    if not isinstance(data, dict):
        raise HandoverError("the decision template's front matter must be a YAML mapping", 2)
    data["status"] = status
    data["date"] = date
    body, heading = front.body, re.compile(r"^# .*$", re.MULTILINE)
    if heading.search(body):
        body = heading.sub(lambda _: f"# {title}", body, count=1)
    else:
        closing, _, rest = body.partition("\n")
        body = f"{closing}\n\n# {title}\n\n{rest.lstrip()}"
    return front.head + dump_yaml(yaml, data) + body


def new_decision(
    title: str,
    project: str | os.PathLike[str] = ".",
    *,
    status: str = "proposed",
    date: str | None = None,
) -> DecisionRecord:
    """Create the next record in the project's `docs/decisions/`; never overwrite one."""
    title = " ".join(title.split())
    if not title:
        raise HandoverError("the title is empty: say what is decided, e.g. 'Use PostgreSQL'.", 2)
    slug = slugify(title)
    if not slug:
        raise HandoverError(
            f"the title {title!r} has no ASCII letter or digit to name the file with: add a "
            "few Latin-script words.",
            2,
        )
    if not DECISION_STATUS.match(status):
        raise HandoverError(
            f"--status {status!r}: use proposed, rejected, accepted, deprecated or "
            "'superseded by ADR-NNNN'.",
            2,
        )
    try:
        if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            raise ValueError(date)
        day = datetime.date.fromisoformat(date) if date else datetime.date.today()
    except ValueError as error:
        raise HandoverError(f"--date {date!r}: use a real date as YYYY-MM-DD.", 2) from error
    directory = Path(project) / DECISIONS_DIR
    if not directory.is_dir():
        raise HandoverError(
            f"no {DECISIONS_DIR}/ in {Path(project).resolve()}: run in the project's root or "
            f"pass --project PATH, create the directory (mkdir -p {DECISIONS_DIR}), or add the "
            "handover scaffolding with `handover adopt`.",
            2,
        )
    number = next_number(directory)
    if number > 9999:
        raise HandoverError(f"{directory} already holds record 9999: numbers have 4 digits.", 1)
    template = find_template(directory)
    text = render_record(template.read_text(encoding="utf-8"), title, status, day)
    path = directory / f"{number:04d}-{slug}.md"
    try:
        with path.open("x", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except FileExistsError as error:
        raise HandoverError(
            f"{path} exists (created meanwhile?): run the command again.", 1
        ) from error
    return DecisionRecord(
        path=str(path),
        number=f"{number:04d}",
        title=title,
        status=status,
        date=day.isoformat(),
        template=str(template),
    )
