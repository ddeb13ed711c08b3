"""MkDocs hook: generate the question reference in questions.md from copier.yml.

The page ``questions.md`` contains the marker ``<!-- copier-questions -->``; at build time this
hook replaces it with one section per question of ``copier.yml`` (keys starting with ``_`` are
Copier settings and are skipped). Because the reference is generated, a question added to
copier.yml is documented on the next build, and the text cannot drift from the template.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

PAGE = "questions.md"
MARKER = "<!-- copier-questions -->"

_JINJA_TAG = re.compile(r"{%-?.*?-?%}", re.DOTALL)
_KEY_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):")
_RULE = re.compile(r"^#\s*-{10,}\s*$")
_COMMENT = re.compile(r"^#\s*(\S.*?)\s*$")


def copier_yml_path(config: Any) -> Path:
    """copier.yml sits next to mkdocs.yml at the repository root."""
    return Path(config.config_file_path).resolve().parent / "copier.yml"


def load_questions(path: Path) -> dict[str, dict[str, Any]]:
    """The questions of copier.yml, in file order, without the ``_`` settings."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    questions: dict[str, dict[str, Any]] = {}
    for key, spec in data.items():
        if str(key).startswith("_"):
            continue
        if not isinstance(spec, dict):
            # Short form `key: default` is a question too.
            spec = {"default": spec}
        questions[str(key)] = spec
    return questions


def load_sections(path: Path) -> dict[str, str]:
    """Map each question key to the section title written above it in copier.yml.

    A section is a comment line ``# Title`` right after a ``# -----`` rule.
    """
    sections: dict[str, str] = {}
    current = ""
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if _RULE.match(line) and index + 1 < len(lines):
            title = _COMMENT.match(lines[index + 1])
            if title and not _RULE.match(lines[index + 1]):
                current = title.group(1)
            continue
        key = _KEY_LINE.match(line)
        if key:
            sections[key.group(1)] = current
    return sections


def _code(text: str) -> str:
    """An inline code span that survives any backticks in the text."""
    text = " ".join(str(text).split())
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fence(text: str, lang: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


_CODE_SPAN = re.compile(r"(`+).*?\1", re.DOTALL)


def _cell(text: str) -> str:
    """Escape pipes for a table cell; Markdown tables leave pipes inside code spans alone."""
    out, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        out += [text[last : span.start()].replace("|", "\\|"), span.group(0)]
        last = span.end()
    out.append(text[last:].replace("|", "\\|"))
    return "".join(out)


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _messages(validator: str) -> list[str]:
    """The error messages of a validator: its text outside the Jinja tags."""
    parts = (" ".join(part.split()) for part in _JINJA_TAG.split(validator))
    return [part for part in parts if part]


def _choices(spec: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(label, value, validator) for each choice; list choices use the value as label."""
    raw = spec.get("choices")
    if raw is None:
        return []
    result: list[tuple[str, Any, str]] = []
    if isinstance(raw, dict):
        for label, value in raw.items():
            if isinstance(value, dict):
                result.append((str(label), value.get("value"), str(value.get("validator", ""))))
            else:
                result.append((str(label), value, ""))
    else:
        for value in raw:
            if isinstance(value, (list, tuple)) and len(value) == 2:
                result.append((str(value[0]), value[1], ""))
            else:
                result.append((str(value), value, ""))
    return result


def _is_computed(spec: dict[str, Any]) -> bool:
    when = spec.get("when", True)
    return when is False or (isinstance(when, str) and when.strip().lower() == "false")


def _when(spec: dict[str, Any]) -> str:
    if "when" not in spec:
        return "always"
    when = spec["when"]
    if _is_computed(spec):
        return "never (computed)"
    if when is True:
        return "always"
    return f"only when {_code(when)}"


class _DefaultRenderer:
    """Render the defaults the way Copier does, assuming every earlier answer is its default.

    Uses Copier's own Jinja setup (jinja2 with the Ansible core filters); if those are not
    importable, the effective defaults are simply left out of the page.
    """

    def __init__(self) -> None:
        try:
            from jinja2 import StrictUndefined
            from jinja2.sandbox import SandboxedEnvironment

            self.env = SandboxedEnvironment(
                extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
                undefined=StrictUndefined,
                keep_trailing_newline=True,
            )
        except Exception:  # optional: without it the effective defaults are left out
            self.env = None
        self.answers: dict[str, Any] = {}

    def default(self, key: str, spec: dict[str, Any]) -> Any:
        if self.env is None:
            return None
        value = spec.get("default")
        try:
            if _is_template(value):
                value = self.env.from_string(value).render(**self.answers).strip()
            value = _cast(spec.get("type", "str"), value)
        except Exception:  # a default that cannot be rendered is simply not shown
            return None
        self.answers[key] = value
        return value


def _cast(kind: str, value: Any) -> Any:
    if value is None:
        return value
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool" and isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "y", "1", "on"}
    return value


def _short(value: Any, limit: int = 40) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1].rstrip() + "…"
    return value


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return _code(str(value).lower())
    return _code(value)


def render_question(key: str, spec: dict[str, Any], effective: Any) -> str:
    kind = spec.get("type", "str" if "choices" in spec or "default" in spec else "yaml")
    help_text = " ".join(str(spec.get("help", "")).split())
    if not help_text:
        raise PluginError(f"copier.yml question '{key}' has no help text: add a `help:`.")
    out: list[str] = [f"### {key}", "", help_text, ""]

    computed = _is_computed(spec)
    default = spec.get("default")
    templated = _is_template(default)
    header = ["Type", "Asked"]
    values = [_code(kind) + (" (multiple choice)" if spec.get("multiselect") else ""), _when(spec)]
    if "default" not in spec:
        header.append("Default")
        values.append("none: it must be answered")
    elif not templated:
        header.append("Default")
        values.append(_show(default))
    elif effective is not None:
        header.append("Default with the other defaults")
        values.append(_show(effective))
    if spec.get("secret"):
        header.append("Secret")
        values.append("yes: not stored in `.copier-answers.yml`")
    out += [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        "| " + " | ".join(_cell(cell) for cell in values) + " |",
        "",
    ]

    if templated:
        out += [
            "The default as written in `copier.yml`, a Jinja expression over the earlier answers:",
            "",
            _fence(str(default).strip(), "jinja"),
            "",
        ]

    choices = _choices(spec)
    if choices:
        with_rules = any(rule for _, _, rule in choices)
        refused = f"If it does not fit: `Invalid choice for '{key}': …`"
        table_header = "| Choice | Value to pass |" + (f" {refused} |" if with_rules else "")
        rule_line = "|---|---|" + ("---|" if with_rules else "")
        out += ["Choices:", "", table_header, rule_line]
        for label, value, rule in choices:
            row = f"| {_cell(label)} | {_cell(_code(value))} |"
            if with_rules:
                msgs = _messages(rule) if rule else []
                row += f" {_cell('; '.join(msgs))} |"
            out.append(row)
        out.append("")

    if computed:
        out += [
            "This value is **computed**: it is never asked and not stored in "
            "`.copier-answers.yml`; it is derived again from the other answers on every "
            "render.",
            "",
        ]

    validator = spec.get("validator")
    if validator:
        messages = _messages(str(validator))
        out += [
            "Validated before any file is written; a bad answer is rejected with (the parts in "
            "braces are filled in with the answer given):"
            if any("{{" in message for message in messages)
            else "Validated before any file is written; a bad answer is rejected with:",
            "",
        ]
        out += [
            f"- {_code(f'Validation error for question {chr(39)}{key}{chr(39)}: {message}')}"
            for message in messages
        ]
        out.append("")

    if not computed:
        out += [f"Pass it as {_code(_data_example(key, spec, effective))}.", ""]
    return "\n".join(out)


def _data_example(key: str, spec: dict[str, Any], effective: Any) -> str:
    choices = _choices(spec)
    if choices:
        value = choices[-1][1] if len(choices) > 1 else choices[0][1]
    elif effective not in (None, ""):
        value = effective
    elif spec.get("default") not in (None, "") and not _is_template(spec.get("default")):
        value = spec["default"]
    else:
        example = re.search(r"for example:?\s+(\S+?)[).,;]?(?:\s|$)", str(spec.get("help", "")))
        value = example.group(1) if example else "VALUE"
    value = str(value).lower() if isinstance(value, bool) else str(value)
    if re.search(r"[\s'\"$`\\]", value):
        value = "'" + value.replace("'", "'\\''") + "'"
    return f"--data {key}={value}"


def render_reference(path: Path) -> str:
    questions = load_questions(path)
    sections = load_sections(path)
    renderer = _DefaultRenderer()
    effective = {key: renderer.default(key, spec) for key, spec in questions.items()}

    out: list[str] = [
        f"`copier.yml` defines {len(questions)} questions. This reference is generated from it "
        "when the documentation is built.",
        "",
        "| Question | Type | Asked | Default with the other defaults |",
        "|---|---|---|---|",
    ]
    for key, spec in questions.items():
        kind = spec.get("type", "str")
        value = effective[key]
        out.append(
            f"| [{key}](#{key}) | {_code(kind)} | {_cell(_when(spec))} | "
            f"{_cell(_show(_short(value))) if value is not None else ''} |"
        )
    out.append("")

    current = None
    for key, spec in questions.items():
        section = sections.get(key, "")
        if section and section != current:
            out += [f"## {section}", ""]
            current = section
        out.append(render_question(key, spec, effective[key]))
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} lost its marker {MARKER}: the question reference has no place.")
    path = copier_yml_path(config)
    if not path.is_file():
        raise PluginError(f"copier.yml not found at {path}")
    return markdown.replace(MARKER, render_reference(path))
