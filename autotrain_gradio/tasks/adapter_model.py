"""The torch side of `tasks/adapter.py`'s settings, shared by the llm and vlm trainers: from_pretrained arguments
(attention kernel, dtype, 4/8-bit quantization) and the LoRA adapter put on (or read back onto) a loaded model."""

from __future__ import annotations

from typing import Any

from autotrain_gradio.tasks.adapter import LanguageModelConfig


def _quantization(cfg: LanguageModelConfig) -> Any | None:
    if cfg.quantization == "none":
        return None
    import torch
    from transformers import BitsAndBytesConfig

    if not torch.cuda.is_available():
        raise RuntimeError(f"quantization={cfg.quantization!r} needs a CUDA GPU; set quantization=none on CPU")
    if cfg.quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported()
                              else torch.float16)


def load_kwargs(cfg: LanguageModelConfig) -> dict[str, Any]:
    """from_pretrained arguments: attention implementation, dtype, and the 4/8-bit quantization (CUDA only)."""
    import torch

    quant = _quantization(cfg)
    kwargs: dict[str, Any] = {
        "attn_implementation": "flash_attention_2" if cfg.use_flash_attention_2 else "sdpa",
        "dtype": torch.bfloat16 if quant is not None else "auto",
    }
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map={"": torch.cuda.current_device()})
    return kwargs


def with_lora(model: Any, cfg: LanguageModelConfig, task_type: str, all_linear: str = "all-linear",
              adapter: str | None = None) -> Any:
    """The model with a fresh LoRA adapter (or the one saved at `adapter`, trainable), prepared for k-bit training
    when quantized; unchanged without peft. `all_linear` is what target_modules='all-linear' means for this model."""
    if not cfg.peft:
        return model
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    if cfg.quantization != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if adapter is not None:
        return PeftModel.from_pretrained(model, adapter, is_trainable=True)
    targets = all_linear if cfg.target_modules == "all-linear" else \
        [m.strip() for m in cfg.target_modules.split(",") if m.strip()]
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
                      bias="none", task_type=task_type)
    return get_peft_model(model, lora)
