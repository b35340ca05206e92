"""Tiny models built in code, for the CPU demo profiles and for tests: no download, seeded, saved to a local
folder and loaded back through the same `from_pretrained` path real models use.

A base model written as `tiny:<kind>` (kind in BUILDERS) resolves to a folder under the tiny cache, built on
first use. Everything else passes through unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

TINY_PREFIX = "tiny:"
VERSION = "1"  # bump when a builder changes so stale caches are rebuilt


def cache_root() -> Path:
    return Path(os.environ.get("AUTOTRAIN_TINY_CACHE") or Path.home() / ".cache" / "autotrain-gradio" / "tiny")


# --- builders: each writes a complete from_pretrained-loadable folder into `path` ---------------------------


def build_flux(path: Path) -> None:
    raise NotImplementedError


def build_sdxl(path: Path) -> None:
    raise NotImplementedError


def build_sd15(path: Path) -> None:
    raise NotImplementedError


def build_vit(path: Path) -> None:
    """A seeded ViTForImageClassification (32 px, patch 8, hidden 32, 2 layers, 2 heads) and its processor,
    laid out like google/vit-base-patch16-224 so AutoModelForImageClassification/AutoImageProcessor load it."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, num_labels=2)
    ViTForImageClassification(config).save_pretrained(path)
    # The PIL backend needs no torchvision; it saves as "ViTImageProcessor", as the hub checkpoints do.
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(path)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "flux": build_flux,
    "sdxl": build_sdxl,
    "sd15": build_sd15,
    "vit": build_vit,
}


def resolve_model(base_model: str) -> str:
    """`tiny:<kind>` -> a local folder (built once, atomically); anything else unchanged."""
    if not base_model.startswith(TINY_PREFIX):
        return base_model
    kind = base_model[len(TINY_PREFIX):]
    if kind not in BUILDERS:
        raise ValueError(f"unknown tiny model {base_model!r}; choose one of: "
                         + ", ".join(TINY_PREFIX + k for k in BUILDERS))
    target = cache_root() / f"{kind}-v{VERSION}"
    if (target / ".complete").exists():
        return str(target)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    BUILDERS[kind](tmp)
    (tmp / ".complete").write_text("ok")
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: use theirs
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)
