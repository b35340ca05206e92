"""argparse flags generated from typed models: one `--flag` per pydantic field, its help the field's description (and
its choices or default). `pipeline run|batch|prepare`, `train start` and `caption` take their options
this way, so a value is checked once, by the model, and a bad one is one line and exit code 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel


def _plain(annotation: Any) -> Any:
    """`int | None` -> int; anything else as it is."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return annotation


def add_model_flags(parser: argparse.ArgumentParser, model: type[BaseModel], *, keys: tuple[str, ...] | None = None,
                    batch: bool | None = None, aliases: dict[str, tuple[str, ...]] | None = None) -> None:
    """One flag per field of `model` (or per field in `keys`), default None ('not given': the model's default
    applies). Request fields say in `json_schema_extra` whether they are flags (`flag`) and for which pipeline mode
    (`batch`: True batch only, False single only). `aliases`: more option strings for a field."""
    for key, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if keys is not None and key not in keys:
            continue
        if keys is None and (not extra.get("flag", True) or extra.get("batch") not in (None, batch)):
            continue
        names = ["--" + key.replace("_", "-"), *(aliases or {}).get(key, ())]
        kind = _plain(info.annotation)
        options: dict[str, Any] = {"dest": key, "default": None, "help": info.description}
        # Values stay text: the model converts and checks them, so a bad one is its one-line message, not argparse's
        if kind is bool:
            options["action"] = "store_true"
        elif get_origin(kind) is Literal:
            options["metavar"] = "{" + ",".join(map(str, get_args(kind))) + "}"
        elif kind in (int, float) and info.default is not None and not info.is_required():
            options["help"] = f"{info.description} (default {info.default})"
        if info.is_required():
            options["required"] = True
        parser.add_argument(*names, **options)


def given(args: argparse.Namespace, model: type[BaseModel], keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The flags of `model` the command line gave (not None)."""
    fields = keys if keys is not None else tuple(model.model_fields)
    return {k: getattr(args, k) for k in fields if getattr(args, k, None) is not None}
