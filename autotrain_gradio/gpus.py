"""Which GPUs this machine offers and which a request names: the one home of that rule.

Torch-free (the light side asks it too): `CUDA_VISIBLE_DEVICES` when set, else `nvidia-smi -L`, else none (the CPU).
GPU numbers are positions among the GPUs this process sees. This module imports nothing of ours but `config`.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from autotrain_gradio.config import ConfigError


def visible_gpus() -> list[int]:
    """GPU indices this process may use, without importing torch: CUDA_VISIBLE_DEVICES if set, else
    `nvidia-smi -L`, else none (CPU)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [s.strip() for s in env.split(",") if s.strip()]
        # UUIDs or MIG ids are positions for our purposes; "-1" or "" means no GPU.
        return [] if not ids or ids[0].startswith("-") else list(range(len(ids)))
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(range(sum(1 for line in out.splitlines() if line.startswith("GPU "))))


def parse_gpu_ids(value: str | list[int] | None) -> list[int] | None:
    """'0,1' or [0, 1] -> [0, 1]; None or 'auto' -> None (free GPUs are picked by the scheduler)."""
    if value is None or value == "" or value == "auto":
        return None
    if isinstance(value, list):
        return [int(v) for v in value]
    try:
        ids = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--gpu-ids expects comma-separated GPU numbers like \"0,1\", got {value!r}") from None
    if any(i < 0 for i in ids):
        raise ConfigError(f"--gpu-ids must be 0 or greater, got {value!r}")
    return ids


def check_gpu_ids(ids: list[int] | None) -> list[int] | None:
    """The ids, if this machine has those GPUs; else ConfigError saying which it has."""
    if not ids:
        return ids
    have = visible_gpus()
    missing = [i for i in ids if i not in have]
    if missing:
        there = f"GPUs 0-{len(have) - 1}" if len(have) > 1 else "GPU 0" if have else "no GPU"
        raise ConfigError(f"--gpu-ids {','.join(map(str, ids))}: this machine has {there} (CUDA_VISIBLE_DEVICES / "
                          "nvidia-smi); leave --gpu-ids out to use the free ones"
                          + ("" if have else " (the CPU)"))
    return ids


def quantization_error(quantization: str) -> str | None:
    """None when `quantization` can run here, else the one line that refuses it: bitsandbytes' int4 / int8 kernels
    need a CUDA GPU."""
    if quantization == "none" or visible_gpus():
        return None
    return (f"quantization={quantization!r} needs a CUDA GPU (bitsandbytes) and this machine has none; set "
            "quantization=none to train in full precision")
