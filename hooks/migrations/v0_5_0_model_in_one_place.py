"""Template 0.5.0 moved the estimator out of train.py into model.py, the one file to edit.

A project generated before 0.5.0 builds its estimator in `build_model(task, hyperparameters)`
in `src/<package>/train.py`; 0.5.0's train.py has no such function and calls
`model.build(**hyperparameters)` instead. A client who changed `build_model` (another
estimator, class weights) would get that edit as a merge conflict in a train.py that no longer
has the function, so:

- before the update merges (`--stage before`), an edited `build_model` is put aside (in the git
  directory, never in the work tree) and train.py gets the template's `build_model` back, so
  the rest of the file merges as usual; params.yaml loses `data.task`, which 0.5.0 removes (the
  code is generated for one task), so an edit next to it (another `data.raw`) merges cleanly;
- after it (`--stage after`), model.py is written around the client's `build_model`, with
  the imports it needs from the old train.py, so the model trains as before.

0.5.0 also made the weekly review template optional (question `weekly_reviews`, default no): a
project that has `docs/handover/reviews/template.md` keeps it, because the `before` stage
records `weekly_reviews: true` when the answer is missing (Copier reloads the answers after the
`before` migrations), so the update neither deletes the file nor drops its row from the index.

An unedited `build_model` is left to the update. Nothing outside the project is touched.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

import yaml

#: `build_model` as every release before 0.5.0 wrote it.
TEMPLATE_BUILD_MODEL = '''\
def build_model(task: str, hyperparameters: dict[str, Any]) -> Any:
    """A scaled linear model: fast, explainable, and a fair baseline for the client's data."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "classification":
        estimator: Any = LogisticRegression(**hyperparameters)
    elif task == "regression":
        estimator = Ridge(**hyperparameters)
    else:
        raise ValueError(f"unknown task {task!r}: expected classification or regression")
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])
'''
#: train.py's module-level imports before 0.5.0: any other one may be the client's model's.
TEMPLATE_IMPORTS = {
    "from __future__ import annotations",
    "import json",
    "import os",
    "import sys",
    "import warnings",
    "from pathlib import Path",
    "from typing import Any",
    "import pandas as pd",
    "from . import metrics",
}
TASK_LINE = re.compile(r"^  task: (classification|regression)\n", re.MULTILINE)


def say(message: str) -> None:
    print(f"migration 0.5.0: {message}", file=sys.stderr)


def stage(path: Path) -> None:
    """Copier merges what git holds: stage the change, as the 0.2.0 migration does."""
    subprocess.run(["git", "add", "--", str(path)], check=False, capture_output=True)


def stash() -> Path:
    """Where the client's `build_model` waits between the two stages: the git directory."""
    git_dir = subprocess.run(
        ["git", "rev-parse", "--absolute-git-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(git_dir) / "handover-migration-0.5.0.py"


def function_source(source: str, name: str) -> tuple[int, int, str] | None:
    """(first line, last line, text) of the top-level function `name`, 0-based lines."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            lines = source.splitlines(keepends=True)[first : node.end_lineno]
            return first, node.end_lineno or first, "".join(lines)
    return None


def extra_imports(source: str) -> list[str]:
    """train.py's module-level imports that the template did not write (the client's)."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            text = ast.get_source_segment(source, node) or ""
            if " ".join(text.split()) not in TEMPLATE_IMPORTS and "from .config" not in text:
                found.append(text)
    return found


def keep_weekly_reviews() -> None:
    answers, review = Path(".copier-answers.yml"), Path("docs/handover/reviews/template.md")
    if not review.is_file() or not answers.is_file():
        return
    text = answers.read_text(encoding="utf-8")
    if not any(line.startswith("weekly_reviews:") for line in text.splitlines()):
        answers.write_text(text.rstrip("\n") + "\nweekly_reviews: true\n", encoding="utf-8")
        say(f"kept {review} (weekly_reviews: true)")


def before(package: Path, task: str) -> None:
    params = Path("params.yaml")
    if params.is_file() and TASK_LINE.search(text := params.read_text(encoding="utf-8")):
        params.write_text(TASK_LINE.sub("", text, count=1), encoding="utf-8")
        stage(params)
        say("removed data.task from params.yaml (0.5.0 generates the code for one task)")
    train = package / "train.py"
    source = train.read_text(encoding="utf-8") if train.is_file() else ""
    found = function_source(source, "build_model") if source else None
    if found is None or found[2] == TEMPLATE_BUILD_MODEL:
        return
    first, last, text = found
    imports = "\n".join(extra_imports(source))
    stash().write_text(f"{imports}\n\n\n{text}" if imports else text, encoding="utf-8")
    lines = source.splitlines(keepends=True)
    train.write_text("".join([*lines[:first], TEMPLATE_BUILD_MODEL, *lines[last:]]), "utf-8")
    stage(train)
    say(f"put your build_model of {train} aside for model.py")


def after(package: Path, task: str) -> None:
    saved = stash()
    if not saved.is_file():
        return
    client = saved.read_text(encoding="utf-8")
    model = package / "model.py"
    model.write_text(
        f'''"""The model: the one file to edit to try another estimator.

`build` gets params.yaml `train` as keyword arguments and returns an unfitted scikit-learn
estimator. `build_model` is this project's own, moved here from train.py by the 0.5.0 update.
"""

from __future__ import annotations

from typing import Any


{client.strip()}


def build(**hyperparameters: Any) -> Any:
    return build_model("{task}", hyperparameters)
''',
        encoding="utf-8",
    )
    saved.unlink()
    say(f"moved your build_model from train.py to {model}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", choices=("before", "after"), required=True)
    stage = parser.parse_args().stage
    if stage == "before":
        keep_weekly_reviews()
    answers = yaml.safe_load(Path(".copier-answers.yml").read_text(encoding="utf-8")) or {}
    task = answers.get("ml_task", "classification")
    packages = sorted(p.parent for p in Path("src").glob("*/train.py"))
    if len(packages) != 1:
        say(f"no single src/<package>/train.py ({len(packages)} found): nothing to move")
        return 0
    (before if stage == "before" else after)(packages[0], task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
