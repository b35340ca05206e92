"""Seq2seq settings, named as AutoTrain names them (`text_column`, `target_column`, `max_seq_length`,
`max_target_length`, `peft`, `quantization`, `lora_r`...). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import TrainerConfig, setting


class Seq2SeqConfig(TrainerConfig):
    """An encoder-decoder fine-tune (AutoTrain's `seq2seq`): full, or LoRA adapters through peft."""

    task: Literal["seq2seq"] = "seq2seq"
    text_column: str = setting("text", "Text column", "Table column with the input text.", min_length=1)
    target_column: str = setting("target", "Target column", "Table column with the text to generate.",
                                 min_length=1)
    max_seq_length: int = setting(128, "Max input length", "Input tokens; longer inputs are truncated.",
                                  ge=8, le=8192)
    max_target_length: int = setting(128, "Max target length", "Target tokens, and the longest generation at "
                                     "evaluation.", ge=1, le=8192)
    peft: bool = setting(False, "LoRA (peft)", "Train LoRA adapters instead of every weight.")
    quantization: Literal["none", "int8"] = setting("none", "Quantization", "With peft: load the base model in "
                                                    "8-bit (bitsandbytes, CUDA only).")
    lora_r: int = setting(16, "LoRA rank", "Rank of the LoRA matrices.", ge=1, le=1024)
    lora_alpha: int = setting(32, "LoRA alpha", "LoRA scaling numerator (scale = alpha / r).", ge=1, le=4096)
    lora_dropout: float = setting(0.05, "LoRA dropout", "Dropout on the LoRA input.", ge=0.0, lt=1.0)
    target_modules: str = setting("all-linear", "LoRA target modules", "Comma-separated module names, or "
                                  "'all-linear'.", min_length=1)
    num_beams: int = setting(1, "Beams", "Beam search width when generating at evaluation.", ge=1, le=32)
