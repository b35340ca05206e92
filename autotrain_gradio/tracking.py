"""Experiment tracking fed from the trainer's events (`log_to` = none | tensorboard | trackio | wandb).

The events stay the source of truth: `EventWriter` hands every `step` and `eval` event to one tracker, so no
training loop knows whether tracking is on (the no-op is simply no tracker). TensorBoard writes under
`output/<name>/log/tensorboard`; trackio and wandb log to the project `autotrain` under the run's name, with
their keys from the submitter's environment (WANDB_API_KEY goes to that job only, like HF_TOKEN).
`config.missing_tracker` checks the package without importing it, so validate and `--dry-run` name the pip command.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

PROJECT = "autotrain"


def metrics_of(event: dict[str, Any]) -> tuple[dict[str, float], int | None]:
    """The numbers a tracker logs for one event, and its step: train/loss, train/lr, train/it_s for `step`;
    eval/<name> for each numeric metric of `eval`. Other events log nothing."""
    kind, step = event.get("type"), event.get("step")
    if kind == "step":
        values = {f"train/{k}": event[k] for k in ("loss", "lr", "it_s", "epoch") if event.get(k) is not None}
    elif kind == "eval":
        values = {f"eval/{k}": v for k, v in (event.get("metrics") or {}).items()
                  if isinstance(v, int | float) and not isinstance(v, bool)}
    else:
        return {}, None
    return {k: float(v) for k, v in values.items()}, int(step) if step is not None else None


class Tracker:
    """One open experiment; `log` takes an event, `close` flushes it."""

    def __init__(self, log_to: str, name: str, log_dir: Path, config: dict[str, Any]):
        self.log_to = log_to
        if log_to == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.run = SummaryWriter(log_dir=str(log_dir / "tensorboard"))
            self.run.add_text("config", "\n".join(f"    {k} = {v!r}" for k, v in sorted(config.items())))
        else:  # wandb and trackio share this API: init(project, name, config) / log(values, step) / finish()
            module = importlib.import_module(log_to)
            self.run = module.init(project=PROJECT, name=name, config=config)
            self.module = module

    def log(self, event: dict[str, Any]) -> None:
        values, step = metrics_of(event)
        if not values:
            return
        if self.log_to == "tensorboard":
            for key, value in values.items():
                self.run.add_scalar(key, value, global_step=step)
        else:
            self.module.log(values, step=step)

    def close(self) -> None:
        if self.log_to == "tensorboard":
            self.run.close()
        else:
            self.module.finish()


def open_tracker(log_to: str, name: str, log_dir: Path, config: dict[str, Any]) -> Tracker | None:
    """The tracker for `log_to`, or None for 'none'."""
    return None if log_to in ("", "none") else Tracker(log_to, name, log_dir, config)
