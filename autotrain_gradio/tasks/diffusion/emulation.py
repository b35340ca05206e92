"""GPU emulation on the CPU, for tests only: `AUTOTRAIN_EMULATE_GPU=1`.

Without CUDA the trainer normally trains in fp32 and refuses a quantized base. The GPU code paths (bf16 / fp16
autocast, the fp16 GradScaler, an NF4 or float8 base, their samples, checkpoints and exports) would then never
run before a user's first GPU run. With this variable set on a machine without CUDA, the trainer keeps the
configured mixed precision (CPU autocast; a CPU GradScaler for fp16) and loads NF4 (bitsandbytes' CPU backend) and
float8 (torchao) bases on the CPU. It is slow and only meant for CI; users never set it, and it does nothing on a
machine with CUDA.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ENV = "AUTOTRAIN_EMULATE_GPU"


def enabled() -> bool:
    """True when tests asked for the GPU paths on a machine without CUDA."""
    return os.environ.get(ENV) == "1" and not torch.cuda.is_available()


def keep_fp16(accelerator) -> None:
    """accelerate turns fp16 off on the CPU (no autocast, no GradScaler): turn both on as on a GPU. Called before
    `prepare`, which wraps the model's forward in autocast and hands the scaler to the optimizer."""
    if accelerator.mixed_precision == "fp16" and accelerator.scaler is None:
        accelerator.native_amp = True
        accelerator.scaler = torch.amp.GradScaler("cpu")


@contextmanager
def bitsandbytes_on_cpu() -> Iterator[dict]:
    """Load an NF4 base on the CPU: diffusers refuses bitsandbytes without a GPU in one check
    (`validate_environment`), although bitsandbytes' CPU backend runs Linear4bit forward and backward. That check
    alone is lifted while loading; yields the from_pretrained kwargs that place the weights on the CPU."""
    from diffusers.quantizers.bitsandbytes.bnb_quantizer import BnB4BitDiffusersQuantizer

    original = BnB4BitDiffusersQuantizer.validate_environment
    BnB4BitDiffusersQuantizer.validate_environment = lambda self, *args, **kwargs: None
    try:
        yield {"device_map": {"": "cpu"}}
    finally:
        BnB4BitDiffusersQuantizer.validate_environment = original


def nf4_as_on_gpu(model: torch.nn.Module) -> torch.nn.Module:
    """Turn off bitsandbytes' CPU-only inference repacking (taken in eval mode without grad, e.g. while sampling):
    a GPU never takes it, it rewrites the weights in place, and it fails on layers narrower than one 64-value
    block, as the tiny test models' are."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return model
