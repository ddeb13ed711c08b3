"""Where the Copier template lives and which questions it asks.

Reading the questions needs only PyYAML, so the CLI can check `--data` keys without importing
Copier (about a second).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent


def template_source() -> str:
    """The template to generate from.

    `HANDOVER_TEMPLATE` (a path or git URL) wins; otherwise the checkout this package is
    installed from (an editable install: its git tags are the template versions), otherwise
    the copy bundled in the wheel.
    """
    if env := os.environ.get("HANDOVER_TEMPLATE"):
        return env
    checkout = PACKAGE_DIR.parent.parent
    if (checkout / "copier.yml").is_file() and (checkout / "template").is_dir():
        return str(checkout)
    return str(PACKAGE_DIR / "_template")


@cache
def questions(source: str | None = None) -> dict[str, dict]:
    """Questions of a local template, in the order Copier asks them (settings `_*` left out)."""
    path = Path(source or template_source()) / "copier.yml"
    if not path.is_file():
        return {}
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        name: spec if isinstance(spec, dict) else {"default": spec}
        for name, spec in config.items()
        if not name.startswith("_")
    }
