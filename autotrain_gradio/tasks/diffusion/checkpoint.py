"""Resumable checkpoints: output/<name>/checkpoints/step-XXXXXX/ with the trained weights (the LoRA adapter or the
full weights), optimizer, LR scheduler, the fp16 GradScaler, every RNG state of every rank, and the step.

Written into a hidden temp folder and renamed into place, so a kill -9 at any moment leaves either a complete
checkpoint or none: `newest()` only ever sees complete ones. The data order needs no state of its own: it is a
function of (seed, step) (see data.epoch_batches).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

PREFIX = "step-"


def checkpoint_dir(root: Path, step: int) -> Path:
    return Path(root) / f"{PREFIX}{step:06d}"


def complete_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a folder counts once its state.json exists: it is written last)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def newest(root: Path) -> Path | None:
    found = complete_checkpoints(root)
    return found[-1] if found else None


def trainable_state(module: torch.nn.Module, lora: bool) -> dict[str, torch.Tensor]:
    """The weights a checkpoint must keep: the peft adapter for LoRA (a few MB), every weight for a full run."""
    if lora:
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(module)
    else:
        state = module.state_dict()
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def _load_trainable(module: torch.nn.Module, state: dict[str, torch.Tensor], lora: bool) -> None:
    if lora:
        from peft.utils import set_peft_model_state_dict

        result = set_peft_model_state_dict(module, state)
        unexpected = getattr(result, "unexpected_keys", None) or []
        if unexpected:
            raise RuntimeError(f"checkpoint adapter does not fit the model: unexpected keys {unexpected[:3]}")
    else:
        module.load_state_dict(state, strict=True)


def _rng_state(generator: torch.Generator) -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "generator": generator.get_state()}


def save(accelerator, root: Path, step: int, modules: dict[str, torch.nn.Module], lora: bool, optimizer,
         lr_scheduler, generator: torch.Generator, keep: int, meta: dict) -> Path:
    """Every rank calls this (each saves its own RNG state); rank 0 writes the rest, renames, prunes to `keep`."""
    root = Path(root)
    final, tmp = checkpoint_dir(root, step), root / f".tmp-{PREFIX}{step:06d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(_rng_state(generator), tmp / f"rng-{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for name, module in modules.items():
            save_file(trainable_state(accelerator.unwrap_model(module), lora), str(tmp / f"{name}.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(lr_scheduler.state_dict(), tmp / "scheduler.pt")
        if accelerator.scaler is not None:  # fp16: without its scale a resumed run skips steps finding it again
            torch.save(accelerator.scaler.state_dict(), tmp / "scaler.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **meta}, indent=1))
        shutil.rmtree(final, ignore_errors=True)  # a resumed run re-reaching a saved step replaces it
        tmp.rename(final)
        for old in complete_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in root.glob(f".tmp-{PREFIX}*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load(accelerator, path: Path, modules: dict[str, torch.nn.Module], lora: bool, optimizer, lr_scheduler,
         generator: torch.Generator) -> int:
    """Restore a checkpoint into already prepared objects; returns its step. A rank without its own RNG file
    (the world size changed) keeps its fresh seeds: the run continues, just not bit-identically."""
    path = Path(path)
    for name, module in modules.items():
        _load_trainable(accelerator.unwrap_model(module), load_file(str(path / f"{name}.safetensors")), lora)
    device = accelerator.device
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=device, weights_only=True))
    lr_scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    if accelerator.scaler is not None and (path / "scaler.pt").is_file():
        accelerator.scaler.load_state_dict(torch.load(path / "scaler.pt", weights_only=True))
    rng_file = path / f"rng-{accelerator.process_index}.pt"
    if rng_file.is_file():
        # our own file, holding Python's random state (a tuple), so not weights_only
        rng = torch.load(rng_file, weights_only=False)
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        generator.set_state(rng["generator"])
    return int(json.loads((path / "state.json").read_text())["step"])


@dataclass
class Checkpointer:
    """What a run checkpoints (the prepared modules, optimizer, schedule, noise generator) and where: `save(step)`
    writes one and reports it; `resume(ctx)` restores the newest when the run was asked to resume."""

    accelerator: Any
    root: Path
    modules: dict[str, torch.nn.Module]
    lora: bool
    optimizer: Any
    lr_scheduler: Any
    generator: torch.Generator
    keep: int
    meta: dict
    events: Any

    def save(self, step: int) -> Path:
        path = save(self.accelerator, self.root, step, self.modules, self.lora, self.optimizer, self.lr_scheduler,
                    self.generator, self.keep, self.meta)
        self.events.checkpoint(step=step, path=path)
        return path

    def resume(self, ctx: Any) -> int:
        """The step to go on from: the newest checkpoint's when resuming, else 0."""
        found = newest(self.root) if ctx.resume else None
        if found is not None:
            step = load(self.accelerator, found, self.modules, self.lora, self.optimizer, self.lr_scheduler,
                        self.generator)
            ctx.log(f"resumed from {found.name} (step {step})")
            return step
        if ctx.resume:
            ctx.log("resume asked but no checkpoint found: starting from step 0", level="warning")
        return 0
