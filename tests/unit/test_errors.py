"""The `end` event's reason: an out-of-memory error names the settings of that task to change; any other error
keeps its type and message with tokens scrubbed."""

from __future__ import annotations

import torch

from autotrain_gradio.tasks.common import OOM_ADVICE, TRAINER_OOM_ADVICE, describe_error


def test_oom_advice_fits_the_task():
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert describe_error(oom, "diffusion-lora") == OOM_ADVICE
    assert "blocks_to_swap" in OOM_ADVICE and "text_encoder_device" in OOM_ADVICE
    advice = describe_error(oom, "text-classification")
    assert advice == TRAINER_OOM_ADVICE and "lora_rank" not in advice and "gradient_accumulation" in advice


def test_other_errors_keep_type_and_message_without_the_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secretsecretsecret")
    reason = describe_error(ValueError("bad header from hf_secretsecretsecret"), "llm")
    assert reason.startswith("ValueError: bad header from ") and "hf_secretsecretsecret" not in reason
