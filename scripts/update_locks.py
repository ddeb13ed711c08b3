"""Regenerate the generated project's lock files, one per DVC remote (`includes/locks/`).

The generated `pyproject.toml` differs between answers only in the DVC extra, so one universal
lock (all platforms, Python 3.11 and later) per remote covers every answer set. The development
extra requires mlops-handover itself at this checkout's version, which no index may hold yet:
the wheel is built from the checkout and found there. In the lock, its line becomes the
template's `handover_requirement` (and `handover_index_option` above it), so the answer
`handover_source` decides where a project installs it from. Run this after changing the
dependencies of the generated project or of this package; tests check the locks still satisfy
both.

    python scripts/update_locks.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "includes" / "locks"
REMOTES = ("local", "s3", "gcs", "azure", "ssh")
COMPILE = "uv pip compile pyproject.toml --extra dev --universal --python-version 3.11"
#: The lock's own line for this package, and what the template renders there instead.
OWN_PIN = re.compile(r"^mlops-handover==\S+$", re.MULTILINE)
OWN_LINE = "{{ handover_requirement | replace('[generate]', '') }}"
OWN_OPTION = "{{ handover_compile_options }}"


def uv(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "uv", *args], check=True, cwd=cwd)


def main() -> None:
    LOCKS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as wheels:
        uv("build", "--wheel", "--quiet", "--out-dir", wheels, cwd=ROOT)
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
                lock = LOCKS / f"{remote}.txt"
                uv(
                    "pip",
                    "compile",
                    "--quiet",
                    "--universal",
                    "--python-version",
                    "3.11",
                    "--extra",
                    "dev",
                    "--find-links",
                    wheels,
                    "--custom-compile-command",
                    f"{COMPILE}{OWN_OPTION} -o requirements.lock",
                    "-o",
                    str(lock),
                    "pyproject.toml",
                    cwd=Path(tmp),
                )
            text = lock.read_text()
            # Annotations name the demo project the lock was compiled from; any project fits.
            text = text.replace("demo-model (pyproject.toml)", "pyproject.toml")
            text, found = OWN_PIN.subn(OWN_LINE, text)
            if found != 1:
                raise SystemExit(f"{lock}: expected one mlops-handover pin, found {found}")
            lock.write_text(text)
            print(f"{remote}: {text.count('==')} pins")


if __name__ == "__main__":
    main()
