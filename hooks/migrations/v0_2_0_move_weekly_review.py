"""Template 0.2.0 moved the weekly review template next to the notes made from it.

`docs/handover/weekly-review-template.md` becomes `docs/handover/reviews/template.md`, and the
links to it in `docs/handover/README.md` follow. Copier runs this before the update merges
(`_stage == 'before'`) and only when an update crosses 0.2.0, in the project's root. The move is
staged with `git mv`, so Copier sees the user's copy (edits included) at its new path instead of
deleting the old file as one the template no longer has. Nothing outside the project is touched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OLD = Path("docs/handover/weekly-review-template.md")
NEW = Path("docs/handover/reviews/template.md")
INDEX = Path("docs/handover/README.md")
#: Link text and target, as the 0.1 README wrote them.
LINKS = (
    ("[weekly-review-template.md]", "[reviews/template.md]"),
    ("(weekly-review-template.md)", "(reviews/template.md)"),
)


def say(message: str) -> None:
    print(f"migration 0.2.0: {message}", file=sys.stderr)


def tracked(path: Path) -> bool:
    return (
        subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", str(path)], capture_output=True
        ).returncode
        == 0
    )


def main() -> int:
    if not OLD.is_file():
        say(f"{OLD} is not there; nothing to move")
        return 0
    if NEW.exists():
        say(f"both {OLD} and {NEW} exist; left both as they are: merge them by hand")
        return 0
    NEW.parent.mkdir(parents=True, exist_ok=True)
    if tracked(OLD):
        subprocess.run(["git", "mv", "--", str(OLD), str(NEW)], check=True)
    else:
        OLD.rename(NEW)
    say(f"moved {OLD} to {NEW}")
    if INDEX.is_file():
        text = INDEX.read_text(encoding="utf-8")
        updated = text
        for old, new in LINKS:
            updated = updated.replace(old, new)
        if updated != text:
            INDEX.write_text(updated, encoding="utf-8")
            if tracked(INDEX):
                subprocess.run(["git", "add", "--", str(INDEX)], check=True)
            say(f"pointed the links in {INDEX} to {NEW.relative_to(INDEX.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
