"""Tiny models built in code, for the CPU demo profiles and for tests: no download, seeded, saved to a local
folder and loaded back through the same `from_pretrained` path real models use.

A base model written as `tiny:<kind>` (the kinds come from each task's `tiny` entry in `tasks.TASKS`, built by
its `tiny.py`) resolves to a folder under the tiny cache, built on
first use. Everything else passes through unchanged.
"""

from __future__ import annotations

import importlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from autotrain_gradio.tasks import tiny_builders

TINY_PREFIX = "tiny:"
VERSION = "1"  # bump when a builder changes so stale caches are rebuilt


def cache_root() -> Path:
    return Path(os.environ.get("AUTOTRAIN_TINY_CACHE") or Path.home() / ".cache" / "autotrain-gradio" / "tiny")


@contextmanager
def seeded(seed: int = 0):
    """A deterministic build that leaves the caller's random stream as it was (a trainer may build a tiny model
    after seeding itself)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def resolve_model(base_model: str) -> str:
    """`tiny:<kind>` -> a local folder (built once, atomically); anything else unchanged."""
    if not base_model.startswith(TINY_PREFIX):
        return base_model
    kind = base_model[len(TINY_PREFIX):]
    builders = tiny_builders()
    if kind not in builders:
        raise ValueError(f"unknown tiny model {base_model!r}; choose one of: "
                         + ", ".join(TINY_PREFIX + k for k in builders))
    target = cache_root() / f"{kind}-v{VERSION}"
    if (target / ".complete").exists():
        return str(target)
    # Several processes (DDP ranks, parallel jobs) may ask at once: one builds under a file lock, the others wait
    # for it and then use its folder. The build goes to a temporary folder renamed into place when complete.
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / ".complete").exists():
            tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)  # a folder left by a build that was killed half-way
            tmp.mkdir(parents=True)
            module, _, func = builders[kind].partition(":")
            getattr(importlib.import_module(module), func)(tmp)
            (tmp / ".complete").write_text("ok")
            tmp.rename(target)
    return str(target)
