"""The built wheel (once per session) and fresh virtual environments that see this machine's dependencies but not
this checkout: the system site-packages hold the checkout's editable install, whose import hook would quietly
supply any module or file the wheel forgot, so each environment switches that hook off."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging import BUILD_INPUTS, REPO

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of BUILD_INPUTS (so the build writes nothing into the checkout)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(REPO / name, src / name)
    subprocess.run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"), str(src)],
                   check=True, capture_output=True, timeout=300)
    return next((root / "dist").glob("autotrain_gradio-*.whl"))


def make_venv(folder: Path) -> Path:
    """A virtual environment over the system site-packages without this checkout: a .pth read before the system
    ones turns the editable finder's install() into a no-op, so `autotrain_gradio` is whatever gets installed into
    the environment, or nothing."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(folder)], check=True,
                   timeout=120)
    python = folder / "bin" / "python"
    packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    names = sorted(p.stem for d in site.getsitepackages() for p in Path(d).glob("__editable___*_finder.py"))
    stub = "import sys, types; " + "; ".join(
        f"sys.modules.setdefault({n!r}, types.SimpleNamespace(install=lambda: None))" for n in names)
    (packages / "00_no_editable_checkout.pth").write_text(stub + "\n" if names else "", encoding="utf-8")
    return folder


def venv_env(venv: Path, home: Path) -> dict[str, str]:
    """The environment of a process in `venv`: its bin first on PATH, no PYTHONPATH (the checkout is not importable),
    its own HOME and an empty user profile folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "AUTOTRAIN_PROFILES_DIR")}
    env.update(HOME=str(home), AUTOTRAIN_PROFILES=str(home / "no-user-profiles"), OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return env
