"""Shared test fixtures. Tiny models build once per test session into a temporary cache; subprocesses inherit
the cache through AUTOTRAIN_TINY_CACHE, so nothing touches the user's home folder or the network."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def tiny_cache(tmp_path_factory) -> str:
    """AUTOTRAIN_TINY_CACHE for the whole session (tests and the trainer subprocesses they start)."""
    path = str(tmp_path_factory.mktemp("tiny-models"))
    old = os.environ.get("AUTOTRAIN_TINY_CACHE")
    os.environ["AUTOTRAIN_TINY_CACHE"] = path
    yield path
    if old is None:
        os.environ.pop("AUTOTRAIN_TINY_CACHE", None)
    else:
        os.environ["AUTOTRAIN_TINY_CACHE"] = old


@pytest.fixture(autouse=True)
def _skip_gpu(request):
    if request.node.get_closest_marker("gpu"):
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs CUDA")
