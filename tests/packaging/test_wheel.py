"""The wheel is the product: build it from the sources, install the built file (not editable, no dependencies: they
come from this machine's site-packages) into a fresh virtual environment, and from a folder outside the checkout run
what a new user runs first: `autotrain profiles` (every shipped profile), `autotrain demo` and one tiny table task.

The system site-packages hold this checkout's editable install, whose import hook would quietly supply any module or
file the wheel forgot; the environment switches that hook off, and every module of the source tree must resolve to
the environment's own copy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from autotrain_gradio.events import read_events
from tests.packaging import REPO
from tests.packaging.conftest import PIP, make_venv, venv_env
from tests.toy_tables import toy_rows, write_csv

SHIPPED = sorted(p.stem for p in (REPO / "autotrain_gradio" / "profiles").glob("*.toml"))
# Every module of the source tree, as the installed copy must offer it.
MODULES = sorted(
    ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for p in (REPO / "autotrain_gradio").rglob("*.py")
)
WHERE = """
import importlib.util, json, sys
print(json.dumps({m: getattr(importlib.util.find_spec(m), "origin", None) for m in sys.argv[1:]}))
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    env = make_venv(tmp_path_factory.mktemp("venv") / "venv")
    subprocess.run([*PIP, "--python", str(env / "bin" / "python"), "install", "--no-deps", "--force-reinstall", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return env


def _run(venv: Path, cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), cwd=cwd, env=venv_env(venv, cwd), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("elsewhere")


def test_every_module_comes_from_the_wheel(venv, outside):
    origins = json.loads(_run(venv, outside, "python", "-c", WHERE, *MODULES).stdout)
    missing = [m for m, origin in origins.items() if origin is None]
    assert not missing, f"modules not in the wheel: {missing}"
    foreign = {m: o for m, o in origins.items() if not Path(o).resolve().is_relative_to(venv.resolve())}
    assert not foreign, f"imported from outside the environment: {foreign}"


def test_every_file_of_the_package_is_in_the_wheel(venv):
    """Data read at run time (profiles, model configs) included: a file missing here is missing package-data."""
    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}

    (installed,) = venv.glob("lib/python*/site-packages/autotrain_gradio")
    missing = sorted(files(REPO / "autotrain_gradio") - files(installed))
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"


def test_profiles_lists_every_shipped_profile(venv, outside):
    listed = [line.split()[0] for line in _run(venv, outside, "autotrain", "profiles").stdout.splitlines() if line]
    assert len(SHIPPED) >= 30 and sorted(listed) == SHIPPED


def test_demo_and_a_table_task_run_from_the_installed_wheel(venv, outside):
    ws = outside / "ws"
    proc = _run(venv, outside, "autotrain", "--workspace", str(ws), "demo", "--steps", "4")
    assert "✅ done" in proc.stdout and (ws / "output" / "demo" / "model").is_dir()
    assert [e for e in read_events(ws / "output" / "demo" / "log" / "events.jsonl") if e["type"] == "end"][-1][
        "status"] == "completed"
    data = write_csv(outside / "loans.csv", toy_rows(60), ["label"])
    _run(venv, outside, "autotrain", "--workspace", str(ws), "pipeline", "run", "--dataset-path", str(data),
         "--profile", "TabularClassification", "--column-mapping", "id_column=id,target_columns=label",
         "--immediate", "--set", "num_trials=1", "--set", "n_jobs=1")
    end = read_events(ws / "output" / "loans" / "log" / "events.jsonl")[-1]
    assert (end["type"], end["status"]) == ("end", "completed")
    assert (ws / "output" / "loans" / "model" / "model.joblib").is_file()
