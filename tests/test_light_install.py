"""The light install: the audit side imports and needs none of the generating packages.

`pip install mlops-handover` carries only pyproject.toml's base dependencies; Copier, DVC,
scikit-learn, pandas and MLflow come with the `generate` extra. The fast tests run each light
command on a generated project with a champion and list what it imported; the generating
commands are asked to run without the extra. The slow test installs the built wheel, without
extras, into a fresh virtual environment and uses it on a project whose pipeline has run.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT, copy_template, handover_new, isolated, run, tool
from mlops_handover.cli import main
from mlops_handover.documents import DECISIONS_DIR, MODEL_CARD

HEAVY = ("copier", "dvc", "mlflow", "pandas", "sklearn")
#: Runs the CLI in a fresh interpreter; writes its exit code and the top-level modules it
#: imported (beyond the interpreter's own start-up) to the file named first.
PROBE = """\
import json, sys
before = set(sys.modules)
out, argv = sys.argv[1], sys.argv[2:]
from mlops_handover.cli import main
code = main(argv)
imported = {name.split(".")[0] for name in set(sys.modules) - before}
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(imported - set(sys.stdlib_module_names))}, f)
"""
LIGHT_COMMANDS = {
    "audit": ["audit", "--offline"],
    "checks": ["checks"],
    "explain": ["explain", "RP101"],
    "card": ["card"],
    "decision new": ["decision", "new", "Keep the audit side light"],
}


def base_distributions() -> set[str]:
    """pyproject.toml's base dependencies, what they require in turn, and the package itself."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    todo = [Requirement(spec).name for spec in project["dependencies"]]
    found = {canonicalize_name(project["name"])}
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        found.add(name)
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def register_champion(project: Path) -> str:
    """What the pipeline leaves in mlflow.db, without running it: a run with the lineage tags
    and an `eval_` metric, a registered version with the gate's verdict, the `champion` alias.
    Returns the version."""
    from mlflow import MlflowClient

    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))["mlflow"]
    name = params["registered_model"]
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    commit = run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    tags = {"mlflow.source.git.commit": commit, "acceptance.metric": "f1"}
    run_ = client.create_run(client.create_experiment(params["experiment"]), tags=tags)
    client.log_metric(run_.info.run_id, "eval_f1", 0.95)
    client.set_terminated(run_.info.run_id)
    client.create_registered_model(name)
    source = f"runs:/{run_.info.run_id}/model"
    version = client.create_model_version(name, source, run_id=run_.info.run_id).version
    client.set_model_version_tag(name, version, "acceptance", "passed")
    client.set_registered_model_alias(name, "champion", version)
    return str(version)


@pytest.fixture(scope="module")
def champion_project(tmp_path_factory: pytest.TempPathFactory, template_repo: Path) -> Path:
    """A generated project (git, DVC, example data, first commit) with a champion version."""
    with isolated(tmp_path_factory):
        project = copy_template(template_repo, tmp_path_factory.mktemp("light") / "project")
        register_champion(project)
    return project


@pytest.mark.xdist_group("light_install")  # one champion project for the module's tests
@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_light_command_imports_only_the_base_install(
    champion_project: Path, command: str, tmp_path: Path
) -> None:
    out = tmp_path / "probe.json"
    env = {**os.environ, "PYTHONPATH": ""}
    args = LIGHT_COMMANDS[command]
    ran = run(sys.executable, "-c", PROBE, out, *args, cwd=champion_project, env=env)
    probe = json.loads(out.read_text())
    assert probe["code"] == 0 or (command == "audit" and probe["code"] == 1), ran.stderr
    modules = set(probe["modules"])
    assert not modules & set(HEAVY), f"`handover {command}` imported {modules & set(HEAVY)}"
    owners = importlib.metadata.packages_distributions()
    allowed = base_distributions()
    outside = {
        module: owners.get(module)
        for module in modules
        if not any(canonicalize_name(d) in allowed for d in owners.get(module, []))
        # Cython's runtime modules (of PyYAML's C extension) belong to no distribution.
        and not (module.startswith("_cython_") or module == "cython_runtime")
    }
    assert not outside, f"`handover {command}` imported beyond the base dependencies: {outside}"
    if command == "card":
        assert "version 1" in ran.stdout
    if command == "decision new":
        assert list((champion_project / DECISIONS_DIR).glob("*-keep-the-audit-side-light.md"))


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["new", "x", "--defaults"], "mlflow"),
        (["new", "x", "--defaults", "--no-run"], "dvc"),
        (["update"], "copier"),
        (["adopt", "."], "copier"),
    ],
)
def test_generating_commands_name_the_extra(
    argv: list[str], missing: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed: find_spec says None
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"`handover {argv[0]}` needs {missing}" in err
    assert 'pip install "mlops-handover[generate]"' in err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir()), "nothing may be written"


def test_update_check_needs_no_extra(tmp_path: Path, monkeypatch, capsys) -> None:
    """`handover update --check` only compares versions: the base install runs it."""
    monkeypatch.setitem(sys.modules, "copier", None)
    assert main(["update", str(tmp_path), "--check"]) == 2
    assert "generate" not in capsys.readouterr().err


@pytest.mark.slow
def test_wheel_without_extras(template_repo: Path, wheelhouse: Path, tmp_path: Path) -> None:
    uv = tool("uv")
    (wheel,) = wheelhouse.glob("mlops_handover-*.whl")
    venv = tmp_path / "light"
    run(uv, "venv", "--quiet", venv, cwd=tmp_path)
    python, handover = venv / "bin" / "python", venv / "bin" / "handover"
    run(uv, "pip", "install", "--quiet", "--python", python, wheel, cwd=tmp_path)
    find = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    assert run(python, "-c", find, *HEAVY, cwd=tmp_path).stdout.strip() == "[]"

    project = tmp_path / "project"
    handover_new(template_repo, project)  # by this environment: it has the generate extra
    train = json.loads((project / "models" / "train.json").read_text())
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "MLFLOW_TRACKING_URI"}}

    audit = run(handover, "audit", cwd=project, env=env, check=False)
    assert audit.returncode in (0, 1), audit.stderr
    assert "Handover readiness of .:" in audit.stdout
    card = run(handover, "card", cwd=project, env=env)
    assert f"version {train['version']}, run {train['run_id']}" in card.stdout
    text = (project / MODEL_CARD).read_text(encoding="utf-8")
    assert f"`{train['registered_model']}` version {train['version']}, alias `champion`" in text
    run(handover, "decision", "new", "Some title", cwd=project, env=env)
    assert list((project / DECISIONS_DIR).glob("*-some-title.md"))

    new = run(handover, "new", tmp_path / "x", "--defaults", cwd=tmp_path, env=env, check=False)
    assert new.returncode == 2, new.stderr
    assert 'pip install "mlops-handover[generate]"' in new.stderr
    assert "Traceback" not in new.stderr and not (tmp_path / "x").exists()
