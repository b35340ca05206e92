"""The LoRA / QLoRA settings the adapter-trained tasks (llm, vlm, seq2seq) share, declared once. No torch.

`AdapterConfig` holds the LoRA fields and the rule that a quantized base trains through LoRA only; a task may narrow a
field (seq2seq: LoRA off by default, int8 only). `LanguageModelConfig` adds the memory settings of causal and
vision-language models. The torch side that reads them is `tasks/adapter_model.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from autotrain_gradio.config import TrainerConfig
from autotrain_gradio.config import setting as _f


class AdapterConfig(TrainerConfig):
    """LoRA adapters (peft) on a frozen, optionally 4/8-bit base model."""

    peft: bool = _f(True, "LoRA", "Train a LoRA adapter instead of every weight.")
    lora_r: int = _f(16, "LoRA rank", "Rank of the LoRA matrices.", ge=1, le=1024)
    lora_alpha: int = _f(32, "LoRA alpha", "LoRA scaling numerator (scale = alpha / r).", ge=1, le=4096)
    lora_dropout: float = _f(0.05, "LoRA dropout", "Dropout on the LoRA input.", ge=0.0, lt=1.0)
    target_modules: str = _f("all-linear", "Target modules", "Comma-separated module names to adapt, or "
                             "all-linear.", min_length=1)
    quantization: Literal["none", "int4", "int8"] = _f(
        "none", "Quantization", "Load the base model in 4-bit (NF4, QLoRA) or 8-bit with bitsandbytes; CUDA only.")

    @model_validator(mode="after")
    def _quantized_lora(self) -> AdapterConfig:
        if self.quantization != "none" and not self.peft:
            raise ValueError(f"quantization={self.quantization!r} trains a LoRA on the quantized model: set "
                             "peft=true (a quantized model cannot be fully fine-tuned)")
        return self


class LanguageModelConfig(AdapterConfig):
    """What causal and vision-language models add: activation memory and the attention kernel."""

    gradient_checkpointing: bool = _f(False, "Gradient checkpointing", "Trade compute for activation memory.")
    use_flash_attention_2: bool = _f(False, "Flash attention 2", "attn_implementation='flash_attention_2' "
                                     "(needs the flash-attn package and a CUDA GPU); otherwise sdpa.")
