"""Seq2seq settings, named as AutoTrain names them (`text_column`, `target_column`, `max_seq_length`,
`max_target_length`, `peft`, `quantization`, `lora_r`...); the LoRA fields are `tasks/adapter.py`'s. No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import setting
from autotrain_gradio.tasks.adapter import AdapterConfig


class Seq2SeqConfig(AdapterConfig):
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
    num_beams: int = setting(1, "Beams", "Beam search width when generating at evaluation.", ge=1, le=32)
