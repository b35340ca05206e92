"""THE optimizer table: for each `optimizer` setting, the package it needs, how to build it in torch, its name in
transformers' `TrainingArguments.optim`, and its state bytes per trained parameter (for memory preflights).

Custom loops (diffusion) build through `make_optimizer`; Trainer tasks pass `trainer_optim` to TrainingArguments
(the Trainer then groups weight decay itself) or, when transformers has no such optimizer, the instance from
`make_optimizer`. The config's `optimizer` choices are these keys (a unit test keeps them in step). torch is
imported only inside the factories.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Optimizer:
    """One row of the table."""

    package: str | None  # the pip package it needs beyond torch/transformers (None: nothing extra)
    build: Callable[..., Any]  # (params or param groups, lr, weight_decay) -> torch.optim.Optimizer
    trainer_optim: str | None  # TrainingArguments.optim name; None: transformers lacks it, pass an instance
    state_bytes: float  # optimizer state bytes per trained fp32 parameter


def _adamw(params: Iterable, lr: float, weight_decay: float) -> Any:
    import torch

    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _adamw8bit(params: Iterable, lr: float, weight_decay: float) -> Any:
    return _import("adamw8bit").optim.AdamW8bit(params, lr=lr, weight_decay=weight_decay)


def _adafactor(params: Iterable, lr: float, weight_decay: float) -> Any:
    from transformers.optimization import Adafactor

    # A fixed learning rate that the schedule drives, as with the other optimizers (what the Trainer's does too).
    return Adafactor(params, lr=lr, weight_decay=weight_decay, scale_parameter=False, relative_step=False,
                     warmup_init=False)


def _prodigy(params: Iterable, lr: float, weight_decay: float) -> Any:
    return _import("prodigy").Prodigy(prodigy_groups(params, lr), lr=1.0, weight_decay=weight_decay)


def prodigy_groups(params: Iterable, lr: float) -> list:
    """Prodigy estimates the step size itself and its lr multiplies that estimate: it must be 1.0 (given a usual
    1e-4 it barely trains). Param groups with a rate of their own (a text encoder's) keep their ratio to `lr`."""
    params = list(params)
    return [{**g, "lr": g.get("lr", lr) / lr} if isinstance(g, dict) else g for g in params]


OPTIMIZERS: dict[str, Optimizer] = {
    "adamw": Optimizer(None, _adamw, "adamw_torch", 8.0),
    "adamw8bit": Optimizer("bitsandbytes", _adamw8bit, "adamw_bnb_8bit", 2.0),
    "adafactor": Optimizer(None, _adafactor, "adafactor", 0.2),  # factored second moment: a few % of params
    "prodigy": Optimizer("prodigyopt", _prodigy, None, 16.0),
}


def _import(name: str) -> Any:
    """The optimizer's package, or an ImportError with the pip line (before any step is taken)."""
    package = OPTIMIZERS[name].package
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ImportError(f"optimizer={name!r} needs {package}: pip install {package} "
                          "(or set optimizer='adamw')") from None


def make_optimizer(name: str, params: Iterable, lr: float, weight_decay: float) -> Any:
    """Build optimizer `name` over params (or param groups)."""
    return OPTIMIZERS[name].build(params, lr, weight_decay)


def check_available(name: str) -> None:
    """Raise the ImportError with the pip line when the optimizer's package is missing."""
    if OPTIMIZERS[name].package:
        _import(name)
