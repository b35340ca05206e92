"""LLM data: a table whose text column holds plain text or chat messages, plus prompt / rejected columns for the
preference trainers. The same `load` validates the user's file (phase 1, read-only) and gives the trainer its rows,
already in the shape TRL reads: {"text"} or {"messages"} (default, sft), {"prompt", "chosen", "rejected"} (dpo,
orpo), {"chosen", "rejected"[, "prompt"]} (reward). No torch."""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotrain_gradio.gpus import quantization_error
from autotrain_gradio.tasks.formats import (
    DataError,
    Table,
    TableData,
    check_no_missing,
    read_table,
    require_column,
    rows_text,
    split_rows,
)
from autotrain_gradio.tasks.llm.config import PAIRED, LLMConfig
from autotrain_gradio.workspace import is_hub_id

ROLES = ("system", "user", "assistant", "tool")
# The templates `chat_template` offers besides the model's own, in Jinja as transformers renders it; assistant turns
# sit inside {% generation %} markers, so assistant_only_loss can find them.
CHAT_TEMPLATES = {
    "chatml": "{% for message in messages %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}"
              "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}{% else %}"
              "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endif %}"
              "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "zephyr": "{% for message in messages %}{% if message['role'] == 'assistant' %}{{ '<|assistant|>\\n' }}"
              "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{{ '\\n' }}{% else %}"
              "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}{% endif %}"
              "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
}
Row = dict[str, Any]


@dataclass
class LLMData:
    table: TableData
    train: list[Row]
    valid: list[Row]
    conversational: bool
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        kind = "chat-message" if self.conversational else "plain-text"
        return f"{len(self.train)} training / {len(self.valid)} validation {kind} rows ({', '.join(self.train[0])})"


def no_template_message(base_model: str) -> str:
    return (f"base model {base_model} has no chat template, but the messages need one (chat_template='tokenizer'); "
            "set chat_template=chatml or zephyr")


# --- cells --------------------------------------------------------------------------------------------------------

def _cell(table: Table, number: int, column: str, key: str) -> str | list[dict[str, str]]:
    """One cell as text or a checked message list (a JSON string holding a list, as CSV exports write it, counts)."""
    value = table.rows[number - 1].get(column)
    if isinstance(value, str) and value.lstrip().startswith("[{"):
        with contextlib.suppress(json.JSONDecodeError):  # else plain text that happens to start with "[{"
            value = json.loads(value)
    if isinstance(value, str):
        return value
    where = f"{table.source}: row {number} of column '{column}' ({key})"
    if not isinstance(value, list) or not value:
        raise DataError(f'{where} is not text or a list of {{"role", "content"}} messages (got {value!r:.60}); '
                        "fix that row")
    for message in value:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) \
                or not isinstance(message.get("content"), str):
            raise DataError(f'{where}: {message!r:.60} is not a {{"role": ..., "content": "..."}} message; every '
                            "message needs a role and a text content")
        if message["role"] not in ROLES:
            raise DataError(f"{where}: unknown role {message['role']!r}; use one of {', '.join(ROLES)}")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _as_messages(value: str | list[dict[str, str]], role: str) -> list[dict[str, str]]:
    return value if isinstance(value, list) else [{"role": role, "content": value}]


def texts(row: Row) -> list[str]:
    """Every text piece of a TRL row (for length counts)."""
    out = []
    for value in row.values():
        out.extend([m["content"] for m in value] if isinstance(value, list) else [value])
    return out


# --- rows ---------------------------------------------------------------------------------------------------------

def _rows(table: Table, cfg: LLMConfig) -> tuple[list[Row], bool]:
    """The table's rows in TRL's shape, and whether they are conversational."""
    text, rejected, prompt = cfg.text_column, cfg.rejected_text_column, cfg.prompt_text_column
    rows, conversational = [], False
    has_prompt = prompt in table.columns
    for n in range(1, len(table) + 1):
        chosen = _cell(table, n, text, "text_column")
        if cfg.trainer not in PAIRED:
            row: Row = {"messages": chosen} if isinstance(chosen, list) else {"text": chosen}
        else:
            row = {"chosen": chosen, "rejected": _cell(table, n, rejected, "rejected_text_column")}
            if has_prompt:
                row = {"prompt": _cell(table, n, prompt, "prompt_text_column"), **row}
            if any(isinstance(v, list) for v in row.values()):  # one conversational cell makes the row a chat
                row = {k: _as_messages(v, "user" if k == "prompt" else "assistant") for k, v in row.items()}
        conversational = conversational or any(isinstance(v, list) for v in row.values())
        rows.append(row)
    kinds = {any(isinstance(v, list) for v in r.values()) for r in rows}
    if len(kinds) > 1:
        first_plain = next(i for i, r in enumerate(rows, 1) if not any(isinstance(v, list) for v in r.values()))
        raise DataError(f"{table.source}: row {first_plain} is plain text while other rows are chat messages; "
                        "use one kind in a dataset")
    return rows, conversational


def count_long(rows: list[Row], length: Callable[[Row], int], limit: int) -> list[int]:
    """1-based numbers of the rows longer than `limit` tokens."""
    return [i for i, row in enumerate(rows, 1) if length(row) > limit]


def long_rows_warning(source: str, numbers: list[int], total: int, cfg: LLMConfig, approx: bool = False) -> str:
    what = "truncated to it" if cfg.long_rows == "truncate" else "dropped"
    about = "about " if approx else ""
    return (f"{source}: {about}{len(numbers)} of {total} rows are longer than model_max_length={cfg.model_max_length} "
            f"tokens ({rows_text(numbers)}); they will be {what} (long_rows={cfg.long_rows!r})")


def _local_tokenizer(base_model: str) -> Any | None:
    """The base model's tokenizer.json when it is on this machine already (a folder, a built tiny model or the Hub
    cache), loaded with the torch-free `tokenizers`; None otherwise (lengths are then counted by the trainer)."""
    folder = None
    if base_model.startswith("tiny:"):
        from autotrain_gradio.tasks.tiny import VERSION, cache_root

        folder = cache_root() / f"{base_model[5:]}-v{VERSION}"
    elif base_model and Path(base_model).expanduser().is_dir():
        folder = Path(base_model).expanduser()
    file = folder / "tokenizer.json" if folder is not None else None
    if file is None and is_hub_id(base_model):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(base_model, "tokenizer.json")
        file = Path(cached) if isinstance(cached, str) else None
    if file is None or not file.is_file():
        return None
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(file))


def _has_template(base_model: str) -> bool | None:
    """Whether a local base model folder declares a chat template; None when it is not local."""
    folder = Path(base_model).expanduser()
    if not base_model or not folder.is_dir():
        return None
    config = folder / "tokenizer_config.json"
    declared = config.is_file() and "chat_template" in json.loads(config.read_text(encoding="utf-8"))
    return declared or (folder / "chat_template.jinja").is_file()


def load(source: str | Path, cfg: LLMConfig, train_split: str = "train",
         valid_split: str | None = None) -> LLMData:
    """Read and check the table; raises DataError (one line) for a missing column, an empty text / chosen /
    rejected cell, a cell that is not text or role/content messages, an unknown role, messages with no template,
    int4/int8 quantization on a machine without CUDA, or DeepSpeed when it is not installed. Rows over
    model_max_length are counted as a warning."""
    if problem := quantization_error(cfg.quantization):
        raise DataError(problem)
    if cfg.distributed_backend == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        raise DataError("distributed_backend='deepspeed' needs the deepspeed package (pip install deepspeed); or set "
                        "distributed_backend=ddp")
    data = read_table(source, train_split, valid_split)
    needed = [("text_column", cfg.text_column, "chosen text" if cfg.trainer in PAIRED else "text")]
    if cfg.trainer in PAIRED:
        needed.append(("rejected_text_column", cfg.rejected_text_column, "rejected text"))
    if cfg.trainer in ("dpo", "orpo"):
        needed.append(("prompt_text_column", cfg.prompt_text_column, "prompt"))
    tables = [t for t in (data.train, data.valid) if t is not None]
    for table in tables:
        for key, column, what in needed:
            require_column(table, key, column)
            check_no_missing(table, key, column, what)
    train, conversational = _rows(data.train, cfg)
    valid = _rows(data.valid, cfg)[0] if data.valid is not None else None
    if conversational and cfg.chat_template == "none":
        raise DataError(f"{data.train.source}: column '{cfg.text_column}' holds chat messages but chat_template is "
                        "'none'; set chat_template=tokenizer (the model's own), chatml or zephyr")
    if conversational and cfg.chat_template == "tokenizer" and _has_template(cfg.base_model) is False:
        raise DataError(no_template_message(cfg.base_model))
    warnings = []
    tokenizer = _local_tokenizer(cfg.base_model)
    for table, rows in ((data.train, train), (data.valid, valid)):
        if tokenizer is not None and rows:  # row numbers as in the file, before any split
            long = count_long(rows, lambda r: sum(len(tokenizer.encode(t).ids) for t in texts(r)),
                              cfg.model_max_length)
            if long:
                warnings.append(long_rows_warning(table.source, long, len(rows), cfg, approx=True))
    if valid is None:
        train, valid = split_rows(train, cfg.valid_split, cfg.seed)
    result = LLMData(data, train, valid, conversational, warnings)
    return result
