"""The LLM trainer: TRL's SFT / DPO / ORPO / reward trainers, or the plain transformers Trainer for causal-LM
training (`trainer='default'`), all through the shared Trainer path (`hf_trainer.fit`: events, resume, stop,
evaluate, save, card). LoRA adapters are added here, so every trainer gets the same PeftModel; DPO then uses the
model with its adapter switched off as the reference, no second copy in memory."""

from __future__ import annotations

from typing import Any

from autotrain_gradio.tasks.common import RunContext, push_to_hub
from autotrain_gradio.tasks.llm import model as llm_model
from autotrain_gradio.tasks.llm.config import PAIRED, LLMConfig
from autotrain_gradio.tasks.llm.data import Row, count_long, load, long_rows_warning
from autotrain_gradio.tasks.tiny import resolve_model

PIPELINE_TAG = {"reward": "text-classification"}
USAGE = """from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("path/to/model")  # a LoRA adapter loads with its base model (peft)
tokenizer = AutoTokenizer.from_pretrained("path/to/model")
messages = [{"role": "user", "content": "Hello!"}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
print(tokenizer.decode(model.generate(**inputs, max_new_tokens=64)[0]))"""


# --- text as the model sees it ------------------------------------------------------------------------------------

def _render(tokenizer: Any, value: str | list[dict[str, str]]) -> str:
    return value if isinstance(value, str) else tokenizer.apply_chat_template(value, tokenize=False)


def _length(tokenizer: Any, row: Row) -> int:
    """Tokens of a row as trained: the text or conversation, or the prompt with the longer answer."""
    def count(value: Any) -> int:
        return len(tokenizer(_render(tokenizer, value), add_special_tokens=False)["input_ids"])

    if "chosen" not in row:
        return count(row.get("text", row.get("messages")))
    prompt = row.get("prompt", "" if isinstance(row["chosen"], str) else [])
    return max(count(prompt + row[answer]) for answer in ("chosen", "rejected"))


def _clip(tokenizer: Any, value: str | list[dict[str, str]], limit: int, keep_end: bool) -> Any:
    """A prompt keeps its last `limit` tokens, an answer its first (the last message of a conversation)."""
    if not limit:
        return value
    if isinstance(value, list):
        return [*value[:-1], {**value[-1], "content": _clip(tokenizer, value[-1]["content"], limit, keep_end)}]
    ids = tokenizer(value, add_special_tokens=False)["input_ids"]
    if len(ids) <= limit:
        return value
    return tokenizer.decode(ids[-limit:] if keep_end else ids[:limit])


def _fit_lengths(cfg: LLMConfig, ctx: RunContext, tokenizer: Any, rows: list[Row], split: str) -> list[Row]:
    """max_prompt_length / max_completion_length, then rows over model_max_length: counted, logged, and dropped
    (long_rows='drop') or left to the trainer's truncation at model_max_length."""
    if cfg.trainer in ("dpo", "orpo") and (cfg.max_prompt_length or cfg.max_completion_length):
        rows = [{"prompt": _clip(tokenizer, r["prompt"], cfg.max_prompt_length, keep_end=True),
                 **{k: _clip(tokenizer, r[k], cfg.max_completion_length, keep_end=False)
                    for k in ("chosen", "rejected")}} for r in rows]
    long = count_long(rows, lambda r: _length(tokenizer, r), cfg.model_max_length)
    if long:
        ctx.log(long_rows_warning(f"{split} split", long, len(rows), cfg), level="warning")
    if cfg.long_rows == "drop" and long:
        rows = [r for i, r in enumerate(rows, 1) if i not in set(long)]
        if not rows:
            raise ValueError(f"every {split} row is longer than model_max_length={cfg.model_max_length}; raise it "
                             "or set long_rows=truncate")
    return rows


def _lm_blocks(cfg: LLMConfig, tokenizer: Any, rows: list[Row]) -> Any:
    """trainer='default': every row as text (+ EOS), concatenated and cut into block_size blocks (the remainder is
    dropped when there is at least one full block), labels = inputs."""
    from datasets import Dataset

    ids: list[int] = []
    for row in rows:
        text = _render(tokenizer, row.get("text", row.get("messages")))
        if cfg.add_eos_token and "text" in row and not text.endswith(tokenizer.eos_token):
            text += tokenizer.eos_token
        ids.extend(tokenizer(text)["input_ids"][: cfg.model_max_length])
    size = min(cfg.block_size, len(ids))
    blocks = [ids[i: i + size] for i in range(0, len(ids) - size + 1, size)]
    return Dataset.from_dict({"input_ids": blocks, "labels": blocks})


def _trainer_setup(cfg: LLMConfig, conversational: bool) -> tuple[type, type, dict[str, Any]]:
    """The Trainer class, its TrainingArguments class and the settings only it takes."""
    common: dict[str, Any] = {"gradient_checkpointing": cfg.gradient_checkpointing}
    if cfg.trainer == "default":
        from transformers import Trainer, TrainingArguments

        return Trainer, TrainingArguments, common
    if cfg.trainer == "sft":
        from trl import SFTConfig, SFTTrainer

        return SFTTrainer, SFTConfig, {**common, "max_length": cfg.model_max_length, "packing": cfg.packing,
                                       "dataset_text_field": "text",
                                       "assistant_only_loss": cfg.assistant_only_loss and conversational}
    if cfg.trainer == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOTrainer, DPOConfig, {**common, "beta": cfg.dpo_beta, "max_length": cfg.model_max_length}
    if cfg.trainer == "orpo":
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        return ORPOTrainer, ORPOConfig, {**common, "beta": cfg.dpo_beta, "max_length": cfg.model_max_length,
                                         "max_completion_length": cfg.max_completion_length or None}
    from trl import RewardConfig, RewardTrainer

    # TRL's reward trainer drops pairs longer than max_length (it does not truncate them).
    return RewardTrainer, RewardConfig, {**common, "max_length": cfg.model_max_length}


def _log_memory_per_backend(cfg: LLMConfig, ctx: RunContext) -> None:
    """On GPUs: the preflight's per-GPU estimate for each distributed backend and whether it fits the free memory."""
    import torch

    if not torch.cuda.is_available() or cfg.base_model.startswith("tiny:"):
        return
    from autotrain_gradio.tasks.llm.preflight import per_backend

    try:
        lines = per_backend(cfg, cfg.base_model, torch.cuda.mem_get_info()[0])
    except (OSError, ValueError) as err:  # configs unreadable (no network for a hub id): training says more
        ctx.log(f"memory preflight skipped: {err}", level="warning")
        return
    ctx.log(f"memory preflight x{cfg.num_processes} processes: " + "; ".join(lines))


def train(cfg: LLMConfig, ctx: RunContext) -> dict[str, Any]:
    from datasets import Dataset

    from autotrain_gradio.tasks.hf_trainer import ModelCard, fit

    # --- data and tokenizer --------------------------------------------------------------------------------
    data = load(cfg.data_dir, cfg)
    source = resolve_model(cfg.base_model)
    tokenizer = llm_model.load_tokenizer(cfg, source, data.conversational)
    train_rows = _fit_lengths(cfg, ctx, tokenizer, data.train, "train")
    valid_rows = _fit_lengths(cfg, ctx, tokenizer, data.valid, "validation") if data.valid else []
    ctx.log(f"{cfg.trainer}: {data.summary()}")
    _log_memory_per_backend(cfg, ctx)
    if cfg.trainer == "default":
        train_set = _lm_blocks(cfg, tokenizer, train_rows)
        valid_set = _lm_blocks(cfg, tokenizer, valid_rows) if valid_rows else None
    else:
        train_set = Dataset.from_list(train_rows)
        valid_set = Dataset.from_list(valid_rows) if valid_rows else None

    # --- model: the first call builds the training model (a resumed run gets its adapter back from the
    # checkpoint through the Trainer); a later call loads a saved checkpoint to export (the best evaluation).
    calls = []

    def load_model(path: str) -> Any:
        calls.append(path)
        if not cfg.peft:
            return llm_model.load_model(cfg, path, tokenizer)
        return llm_model.load_model(cfg, source, tokenizer, adapter=path if len(calls) > 1 else None)

    trainer_class, args_class, extra_args = _trainer_setup(cfg, data.conversational)
    if cfg.trainer == "default":
        from transformers import default_data_collator

        collator = default_data_collator
    else:
        collator = None  # each TRL trainer brings its own
        extra_args.setdefault("dataset_num_proc", None)
    columns = f"text_column={cfg.text_column!r}"
    if cfg.trainer in PAIRED:
        columns += f", prompt_text_column={cfg.prompt_text_column!r}, rejected_text_column={cfg.rejected_text_column!r}"
    method = f"LoRA r={cfg.lora_r} on {cfg.target_modules}" if cfg.peft else "all weights"
    card = ModelCard(pipeline_tag=PIPELINE_TAG.get(cfg.trainer, "text-generation"), usage=USAGE,
                     library_name="peft" if cfg.peft else "transformers",
                     summary=f"TRL trainer: {cfg.trainer} ({method}); columns: {columns}; {data.summary()}.")
    if cfg.trainer == "sft" and cfg.assistant_only_loss and not data.conversational:
        ctx.log("assistant_only_loss: the rows are plain text (no roles), so every token is learned")
    kwargs = {}
    if cfg.model_ref:  # dpo: a reference model of its own instead of the base model (adapter off)
        from transformers import AutoModelForCausalLM

        kwargs["ref_model"] = AutoModelForCausalLM.from_pretrained(resolve_model(cfg.model_ref),
                                                                   **llm_model.load_kwargs(cfg))
    outputs = fit(cfg.model_copy(update={"push_to_hub": False}), ctx, load_model=load_model, model_source=source,
                  train_dataset=train_set, eval_dataset=valid_set, card=card, processing_class=tokenizer,
                  data_collator=collator, trainer_class=trainer_class, args_class=args_class, extra_args=extra_args,
                  trainer_kwargs=kwargs)
    if "model" not in outputs:  # stopped by a signal: a checkpoint, nothing to merge or push
        return outputs

    # --- merge and push --------------------------------------------------------------------------------------
    final = ctx.paths.model_dir
    if cfg.merge_adapter and not cfg.peft:
        ctx.log("merge_adapter: a full fine-tune has no adapter; the model in model/ is whole already")
    if cfg.merge_adapter and cfg.peft and ctx.is_main:
        final = llm_model.merge_adapter(source, ctx.paths.model_dir, ctx.paths.output_dir / "merged")
        outputs["merged"] = str(final)
        ctx.log(f"adapter merged into full weights: {final}")
    if cfg.push_to_hub and ctx.is_main:
        outputs["hub"] = push_to_hub(cfg, final)  # token from HF_TOKEN only
    return outputs
