"""The shipped lock files satisfy the generated project's requirements, for every DVC remote.

They are compiled by scripts/update_locks.py; this catches a dependency edit in
template/pyproject.toml.jinja, or in this package's own requirements (the lock pins `handover`
and what it needs), that was not followed by regenerating the locks.
"""

from __future__ import annotations

import tomllib

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

REMOTES = ("local", "s3", "gcs", "azure", "ssh")
PLUGIN = {"s3": "dvc-s3", "gcs": "dvc-gs", "azure": "dvc-azure", "ssh": "dvc-ssh"}


def pins(lock: str, python: str) -> dict[str, Version]:
    """name -> pinned version, for the lines whose markers hold on `python`."""
    env = {**default_environment(), "python_full_version": f"{python}.0", "python_version": python}
    found: dict[str, Version] = {}
    for line in lock.splitlines():
        if "==" not in line or line.lstrip().startswith("#"):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            found[canonicalize_name(req.name)] = Version(next(iter(req.specifier)).version)
    return found


@pytest.mark.parametrize("remote", REMOTES)
@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_lock_satisfies_requirements(render, remote: str, python: str) -> None:
    project = render({"dvc_remote": remote, "python_version": python})
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    locked = pins((project / "requirements.lock").read_text(), python)
    # The project's own requirements, and those of the `handover` it pins (this package, with
    # the extra the project asks for): the lock was compiled against this checkout's wheel.
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = [
        *pyproject["project"]["dependencies"],
        *pyproject["project"]["optional-dependencies"]["dev"],
        *ours["dependencies"],
        *ours["optional-dependencies"]["generate"],
    ]
    for text in required:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in locked, f"{name} is not pinned in the {remote} lock"
        assert locked[name] in req.specifier, f"{name}=={locked[name]} does not satisfy {text}"
    if remote in PLUGIN:
        assert PLUGIN[remote] in locked, f"the {remote} lock lacks {PLUGIN[remote]}"
    others = set(PLUGIN.values()) - {PLUGIN.get(remote)}
    assert not others & set(locked), f"the {remote} lock carries other remotes' plugins"
