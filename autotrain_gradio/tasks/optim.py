"""THE optimizer table: for each `optimizer` setting, the package it needs, how to build it in torch, its name in
transformers' `TrainingArguments.optim`, and its state bytes per trained parameter (for memory preflights).

Custom loops (diffusion) build through `make_optimizer`; Trainer tasks pass `trainer_optim` to TrainingArguments
(the Trainer then groups weight decay itself) or, when transformers has no such optimizer, the instance from
`make_optimizer`. The config's `optimizer` choices are these keys (a unit test keeps them in step). torch is
imported only inside the factories.

`adamw` is each library's own default AdamW, so a profile that names no optimizer trains exactly as the plain
library would: for a Trainer task the `optim` its TrainingArguments class defaults to (transformers 5 on torch >= 2.8:
`adamw_torch_fused`, one fused kernel per step instead of a Python loop over the tensors), for a custom loop
`torch.optim.AdamW()` as diffusers' training scripts build it. `adamw_fused` / `adamw_foreach` / `adamw_loop` name one
torch implementation explicitly, on either side.
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
    trainer_extra: dict[str, Any] | None = None  # added to the Trainer's own kwargs for `trainer_optim`


LIBRARY_DEFAULT = "library default"  # trainer_optim: leave TrainingArguments.optim at its class's default


def _adamw(**impl: bool) -> Callable[..., Any]:
    def build(params: Iterable, lr: float, weight_decay: float) -> Any:
        import torch

        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **impl)

    return build


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
    "adamw": Optimizer(None, _adamw(), LIBRARY_DEFAULT, 8.0),
    "adamw_fused": Optimizer(None, _adamw(fused=True), "adamw_torch_fused", 8.0),
    "adamw_foreach": Optimizer(None, _adamw(foreach=True), "adamw_torch", 8.0, {"foreach": True}),
    "adamw_loop": Optimizer(None, _adamw(foreach=False), "adamw_torch", 8.0, {"foreach": False}),
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


def trainer_optimizer(name: str, args: Any) -> tuple[type, dict[str, Any]] | None:
    """The Trainer's `optimizer_cls_and_kwargs` for a row that adds to the Trainer's own kwargs (a foreach AdamW),
    else None (TrainingArguments.optim alone says it). The Trainer still groups the weight decay itself."""
    row = OPTIMIZERS[name]
    if not row.trainer_extra:
        return None
    from transformers import Trainer

    cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    return cls, {**kwargs, **row.trainer_extra}


def check_available(name: str) -> None:
    """Raise the ImportError with the pip line when the optimizer's package is missing."""
    if OPTIMIZERS[name].package:
        _import(name)
