"""LLM settings (AutoTrain's `llm` names where they exist): the trainer, the columns, tokenization, LoRA / QLoRA,
merge, and the preference-training knobs. No torch."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from autotrain_gradio.config import setting as _f
from autotrain_gradio.tasks.adapter import LanguageModelConfig

PAIRED = ("dpo", "orpo", "reward")  # trainers that read chosen / rejected pairs


class LLMConfig(LanguageModelConfig):
    """A causal LM fine-tuned with TRL (AutoTrain's `llm --trainer default|sft|dpo|orpo|reward`)."""

    task: Literal["llm"] = "llm"
    trainer: Literal["default", "sft", "dpo", "orpo", "reward"] = _f(
        "sft", "Trainer", "default: plain causal LM on a text column; sft: supervised fine-tuning (TRL SFTTrainer); "
        "dpo / orpo: preference pairs; reward: a reward model scoring chosen over rejected.")
    text_column: str = _f("text", "Text / chosen column", "Plain text or a list of chat messages "
                          '[{"role", "content"}]; the chosen answer for dpo / orpo / reward.', min_length=1)
    prompt_text_column: str = _f("prompt", "Prompt column", "dpo / orpo (and optionally reward): the prompt.",
                                 min_length=1)
    rejected_text_column: str = _f("rejected", "Rejected column", "dpo / orpo / reward: the rejected answer.",
                                   min_length=1)
    chat_template: Literal["tokenizer", "chatml", "zephyr", "none"] = _f(
        "tokenizer", "Chat template", "How message lists become text: the model's own template, ChatML, Zephyr, or "
        "none (plain text rows only).")
    block_size: int = _f(1024, "Block size", "default trainer: tokens per training block (texts are concatenated "
                         "and cut into blocks).", ge=8, le=131072)
    model_max_length: int = _f(2048, "Max length", "Longest tokenized row; longer rows are truncated or dropped "
                               "(long_rows).", ge=8, le=131072)
    long_rows: Literal["truncate", "drop"] = _f("truncate", "Long rows", "What to do with rows longer than "
                                                "model_max_length.")
    padding_side: Literal["right", "left"] = _f("right", "Padding side", "Where the tokenizer pads a batch.",
                                                "padding")
    packing: bool = _f(False, "Packing", "sft: pack several short rows into one sequence of model_max_length.")
    assistant_only_loss: bool = _f(False, "Assistant-only loss", "sft on chat messages: learn the assistant replies "
                                   "only, not the prompts (TRL patches known templates; chatml and zephyr here mark "
                                   "them). Plain-text rows have no roles: they train on every token.")
    add_eos_token: bool = _f(True, "Add EOS", "End each plain-text row with the tokenizer's EOS token.")
    merge_adapter: bool = _f(False, "Merge adapter", "At the end, also write the base model with the adapter "
                             "merged into output/<name>/merged/ (loads with AutoModelForCausalLM alone); peft=false: "
                             "no adapter, the model is whole already (AutoTrain's rule).")
    dpo_beta: float = _f(0.1, "Beta", "dpo: how far the policy may move from the reference; orpo: weight of the "
                         "odds-ratio term.", gt=0.0, le=100.0)
    max_prompt_length: int = _f(0, "Max prompt tokens", "dpo / orpo: prompts longer than this keep their last "
                                "tokens (0: no limit beyond model_max_length).", ge=0, le=131072)
    max_completion_length: int = _f(0, "Max completion tokens", "dpo / orpo: chosen / rejected answers longer "
                                    "than this keep their first tokens (0: no limit).", ge=0, le=131072)
    model_ref: str = _f("", "Reference model", "dpo: the frozen reference model (Hub id or folder; default: the "
                        "base model, with peft its adapter switched off).")

    @model_validator(mode="after")
    def _rules(self) -> LLMConfig:
        if self.model_ref and self.trainer != "dpo":
            raise ValueError(f"model_ref is the reference model of trainer='dpo' (trainer is {self.trainer!r}); "
                             "remove it")
        if self.packing and self.trainer != "sft":
            raise ValueError(f"packing applies to trainer='sft' only (trainer is {self.trainer!r})")
        return self

