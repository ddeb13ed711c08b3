"""Regenerate the generated project's lock files, one per DVC remote (`includes/locks/`).

The generated `pyproject.toml` differs between answers only in the DVC extra, so one universal
lock (all platforms, Python 3.11 and later) per remote covers every answer set. Run it after
changing the generated project's dependencies; tests check the locks still satisfy them.

    python scripts/update_locks.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "includes" / "locks"
REMOTES = ("local", "s3", "gcs", "azure", "ssh")


def main() -> None:
    LOCKS.mkdir(parents=True, exist_ok=True)
    for remote in REMOTES:
        with tempfile.TemporaryDirectory() as tmp:
            copier.run_copy(
                str(ROOT),
                tmp,
                data={"dvc_remote": remote},
                defaults=True,
                vcs_ref="HEAD",
                skip_tasks=True,
                quiet=True,
                exclude=["*", "!pyproject.toml"],
            )
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "uv",
                    "pip",
                    "compile",
                    "--quiet",
                    "--universal",
                    "--python-version",
                    "3.11",
                    "--extra",
                    "dev",
                    "--custom-compile-command",
                    "uv pip compile pyproject.toml --extra dev --universal"
                    " --python-version 3.11 -o requirements.lock",
                    "-o",
                    str(LOCKS / f"{remote}.txt"),
                    "pyproject.toml",
                ],
                check=True,
                cwd=tmp,
            )
        lock = LOCKS / f"{remote}.txt"
        # Annotations name the demo project the lock was compiled from; any project fits.
        lock.write_text(lock.read_text().replace("demo-model (pyproject.toml)", "pyproject.toml"))
        print(f"{remote}: {lock.read_text().count('==')} pins")


if __name__ == "__main__":
    main()
