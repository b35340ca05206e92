"""Loading and saving LLMs: the tokenizer with its chat template, the base model (optionally 4/8-bit) with its LoRA
adapter (`tasks/adapter_model.py`), and merging an adapter into full weights (the trainer's merge_adapter and
`autotrain tools merge-llm-adapter` share `merge_adapter`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.adapter_model import load_kwargs, with_lora
from autotrain_gradio.tasks.llm.config import LLMConfig
from autotrain_gradio.tasks.llm.data import CHAT_TEMPLATES, no_template_message


def load_tokenizer(cfg: LLMConfig, source: str, conversational: bool) -> Any:
    """The base model's tokenizer with the chosen chat template, padding side and a pad token (EOS when it has
    none). Messages with chat_template='tokenizer' and a model without a template fail with one line."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    if cfg.chat_template in CHAT_TEMPLATES:
        tokenizer.chat_template = CHAT_TEMPLATES[cfg.chat_template]
    elif conversational and not tokenizer.chat_template:
        raise ValueError(no_template_message(cfg.base_model))
    tokenizer.padding_side = cfg.padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.model_max_length = cfg.model_max_length
    return tokenizer


def load_model(cfg: LLMConfig, source: str, tokenizer: Any, adapter: str | None = None) -> Any:
    """The base model (a causal LM, or a one-score sequence classifier for the reward trainer), quantized when
    asked, with a fresh LoRA adapter (peft) or the adapter saved at `adapter` (a checkpoint to export)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    reward = cfg.trainer == "reward"
    if reward:
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, **load_kwargs(cfg))
    else:
        model = AutoModelForCausalLM.from_pretrained(source, **load_kwargs(cfg))
    model.config.pad_token_id = tokenizer.pad_token_id  # batches are padded; a classifier finds the last token by it
    model.config.use_cache = False  # training; generation turns it back on
    return with_lora(model, cfg, "SEQ_CLS" if reward else "CAUSAL_LM", adapter=adapter)


def merge_adapter(base: str, adapter: str | Path, output: str | Path) -> Path:
    """Base model (Hub id, folder or tiny:<kind>) + LoRA adapter -> full weights in `output`, with the adapter
    folder's tokenizer (and its chat template); loads with AutoModelForCausalLM (AutoModelForSequenceClassification
    for a reward adapter)."""
    adapter, output = Path(adapter), Path(output)
    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise ValueError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json); give the folder the "
                         "trainer wrote (output/<name>/model)")
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from autotrain_gradio.tasks.tiny import resolve_model

    base = resolve_model(base)  # tiny:<kind> -> its folder; anything else unchanged
    task_type = json.loads(config_file.read_text(encoding="utf-8")).get("task_type")
    if task_type == "SEQ_CLS":
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype="auto")
    else:
        model = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.config.use_cache = True
    output.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(output)
    has_tokenizer = (adapter / "tokenizer_config.json").is_file()
    AutoTokenizer.from_pretrained(adapter if has_tokenizer else base).save_pretrained(output)
    return output
