"""Words in proportion: a default project's Markdown stays short enough to be read.

The documents link to each other and to the settings (`params.yaml`, `evaluation/acceptance.yaml`)
instead of restating them, so the whole set stays within a budget a client team reads in an
afternoon, the README fits on a screen or two, and the `[FILL:` markers left on day one are few.
`handover new --no-run` is enough: the pipeline adds no Markdown.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import handover_new

#: Whitespace-separated words of every tracked *.md of a default project (18,459 before
#: issue 18).
MAX_WORDS = 8700
#: Lines of the README: what this is, the take-over commands, where to read more.
MAX_README_LINES = 60
#: `[FILL:` markers of a default project on day one (182 before issue 18).
MAX_FILL = 91


def markdown_counts(project: Path) -> dict[str, tuple[int, int, int]]:
    """Tracked *.md -> (words, `[FILL` markers, lines)."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--", "*.md"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    counts = {}
    for name in filter(None, tracked):
        text = (project / name).read_text(encoding="utf-8")
        counts[name] = (len(text.split()), text.count("[FILL"), len(text.splitlines()))
    return counts


def test_default_project_documents_stay_in_proportion(template_repo: Path, tmp_path: Path) -> None:
    project = tmp_path / "demo-model"
    handover_new(template_repo, project, "--no-run")
    counts = markdown_counts(project)
    for name, (words, fills, lines) in sorted(counts.items()):
        print(f"{words:6} words {fills:4} [FILL {lines:5} lines  {name}")
    words = sum(w for w, _, _ in counts.values())
    fills = sum(f for _, f, _ in counts.values())
    print(f"{words:6} words {fills:4} [FILL              total")

    assert "README.md" in counts and "docs/runbook.md" in counts
    assert words <= MAX_WORDS, f"{words} words of Markdown (at most {MAX_WORDS})"
    assert counts["README.md"][2] <= MAX_README_LINES, f"README.md: {counts['README.md'][2]} lines"
    assert fills <= MAX_FILL, f"{fills} [FILL markers on day one (at most {MAX_FILL})"
    # Optional parts appear only when chosen: no weekly review template by default.
    assert not (project / "docs/handover/reviews/template.md").exists()
