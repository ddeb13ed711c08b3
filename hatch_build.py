"""Hatch build hook: the wheel carries the template's release history, as a git bundle.

So a project generated from an installed wheel records a template version (`_commit`) and can
be updated to a later wheel's, with no checkout of this repository and no network: `handover
new` and `handover update` read `mlops_handover/_template/history.bundle`, the commits of this
repository up to the build's HEAD, HEAD, and a `vX.Y.Z` tag on each release commit (the
commit at which `__version__` changes: src/mlops_handover/releases.py).

`uv build` (like `python -m build`) builds the sdist from the checkout, then the wheel from the
unpacked sdist, which has no .git: the sdist carries the bundle at its root, and a build
without .git takes it from there. An editable install needs none: it generates from the
checkout itself.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class HistoryBundleHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._scratch: str | None = None
        if version == "editable":
            return
        root = Path(self.root)
        # The sdist has src/ too: the package is importable in either build.
        if str(root / "src") not in sys.path:
            sys.path.insert(0, str(root / "src"))
        from mlops_handover.releases import HISTORY, VERSION_FILE

        self._scratch = tempfile.mkdtemp(prefix="handover-build-")
        scratch = Path(self._scratch)
        if (root / ".git").exists():
            bundle = scratch / HISTORY
            self._write_bundle(root, bundle)
        elif (root / HISTORY).is_file():
            bundle = root / HISTORY
        else:
            raise RuntimeError(
                f"{root} has neither .git nor {HISTORY}: build from a git checkout with its "
                "whole history (or from an sdist made from one), so that the wheel carries "
                "the template's release history."
            )
        include = build_data["force_include"]
        if self.target_name == "sdist":
            include[str(bundle)] = HISTORY
            return
        include[str(bundle)] = f"mlops_handover/_template/{HISTORY}"
        # copier.yml reads the version from this file. Force-included from the project, it
        # would leave its own place (hatch reserves a forced source path): a copy goes in.
        copy = scratch / "__init__.py"
        shutil.copy2(root / VERSION_FILE, copy)
        include[str(copy)] = f"mlops_handover/_template/{VERSION_FILE}"

    def _write_bundle(self, root: Path, bundle: Path) -> None:
        """The committed history of HEAD. A dirty working tree changes the wheel's files but not
        the bundle, which `handover new` generates from: the difference is shown as a warning,
        and a release is built from a clean tree."""
        from mlops_handover.gitrepo import status
        from mlops_handover.releases import is_shallow, write_history

        tags = write_history(root, bundle)
        self.app.display_info(f"template history: HEAD and {len(tags)} release(s), {bundle.name}")
        if is_shallow(root):
            self.app.display_warning(
                "a shallow clone: its releases cannot be told, so the bundle holds HEAD alone and "
                "projects generated from this build cannot be updated; build a release from the "
                "whole history (`git fetch --unshallow`)."
            )
        if dirty := [entry["path"] for entry in status(root)]:
            self.app.display_warning(
                f"uncommitted changes ({', '.join(dirty[:5])}{' ...' if len(dirty) > 5 else ''}) "
                f"are in the built files but not in {bundle.name}: projects generated from this "
                "build get HEAD's committed template. Commit first for a release."
            )

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
