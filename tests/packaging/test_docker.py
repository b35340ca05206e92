"""The Docker images (no docker engine here, so their files are checked): the GPU image on a CUDA runtime base with
PyPI's CUDA torch, the CPU image with PyTorch's CPU build; both install the package (not editable) with every extra
pyproject.toml declares, at the torch version CI tests, and run `autotrain app` as a non-root user over a
workspace volume."""

from __future__ import annotations

import re

import pytest
import tomllib

from tests.packaging import BUILD_INPUTS, REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS = PROJECT["optional-dependencies"]
# Extras the images leave out, and why: a new extra fails the tests below until it is in [all] or listed here.
LEFT_OUT = {"deepspeed": "JIT-compiles its CUDA ops with nvcc, which a runtime base has not (README: Docker)"}
EVERY = set(EXTRAS) - {"all", "dev"} - set(LEFT_OUT)  # `all` and `dev` only gather the others


def _lines(name: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (REPO / name).read_text(encoding="utf-8"))
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _torch_pin(text: str) -> str:
    return re.search(r'torch==([\w.+]+)', text).group(1)


def test_the_all_extra_gathers_every_extra():
    assert set(re.search(r"\[(.*)\]", EXTRAS["all"][0]).group(1).split(",")) == EVERY


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cpu"])
def test_dockerfile_installs_the_wheel_with_every_extra_and_runs_the_app(name):
    lines = _lines(name)
    installs = [ln for ln in lines if ln.startswith("RUN") and "pip install" in ln]
    assert len(installs) == 1, installs
    packages = re.findall(r'"\.\[([a-z,]+)\]"', installs[0])
    assert len(packages) == 1 and set(packages[0].split(",")) == EVERY, installs[0]
    assert " -e " not in installs[0]  # a wheel built from the copy, not an editable checkout
    assert _torch_pin(installs[0]) == _torch_pin((REPO / ".ci" / "run").read_text(encoding="utf-8"))
    copied = {part.rstrip("/") for ln in lines if ln.startswith("COPY") for part in ln.split()[1:-1]}
    assert copied == set(BUILD_INPUTS)  # what tests/packaging/test_wheel.py builds a working wheel from
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(ln for ln in lines if ln.startswith("ENV"))))
    assert f"VOLUME {env['AUTOTRAIN_WORKSPACE']}" in lines and env["GRADIO_SERVER_NAME"] == "0.0.0.0"
    user = [ln.split()[1] for ln in lines if ln.startswith("USER")]
    assert user and user[-1] not in ("root", "0")
    assert any(f"chown {user[-1]}" in ln and env["AUTOTRAIN_WORKSPACE"] in ln for ln in lines)  # the user writes there
    assert lines[-2:] == ['ENTRYPOINT ["autotrain"]', 'CMD ["app"]']


def test_gpu_image_is_cuda_and_cpu_image_is_cpu():
    gpu, cpu = _lines("Dockerfile"), _lines("Dockerfile.cpu")
    assert re.fullmatch(r"FROM nvidia/cuda:[\d.]+-(cudnn-)?runtime-ubuntu[\d.]+", gpu[0])
    assert "download.pytorch.org" not in " ".join(gpu)  # PyPI's Linux torch is the CUDA build
    assert "--index-url https://download.pytorch.org/whl/cpu" in " ".join(cpu)
    assert cpu[0].startswith("FROM python:3.")
