"""The distributed backends' settings, without a second GPU: the DeepSpeed config we generate is taken by accelerate's
own DeepSpeedPlugin, the FSDP arguments by transformers' TrainingArguments (full shard, decoder-layer wrapping,
sharded checkpoints), a CPU refuses FSDP / DeepSpeed in one line (accelerate would silently run DDP), and the LLM
preflight's per-GPU estimate orders the backends as sharding should."""

from __future__ import annotations

import pytest
import torch
from accelerate.utils import DeepSpeedPlugin
from transformers import AutoModelForCausalLM, TrainingArguments

from autotrain_gradio.profiles import get_profile
from autotrain_gradio.tasks import config_from_dict
from autotrain_gradio.tasks.distributed import backend_args, deepspeed_config, layer_classes
from autotrain_gradio.tasks.llm.preflight import GIB, estimate_memory, per_backend
from autotrain_gradio.tasks.tiny import resolve_model


def _llm(**settings):
    return config_from_dict({**get_profile("LLM-SFT").config, "task": "llm", **settings})


@pytest.mark.parametrize("stage", [2, 3])
def test_generated_deepspeed_config_is_taken_by_accelerate(stage):
    cfg = _llm(distributed_backend="deepspeed", deepspeed_stage=stage, gradient_accumulation=4, max_grad_norm=0.5)
    plugin = DeepSpeedPlugin(hf_ds_config=deepspeed_config(cfg), gradient_accumulation_steps=4, gradient_clipping=0.5)
    assert plugin.zero_stage == stage and plugin.zero3_init_flag == (stage == 3)
    ds = plugin.deepspeed_config
    assert ds["gradient_accumulation_steps"] == 4 and ds["gradient_clipping"] == 0.5
    assert ds["zero_optimization"].get("stage3_gather_16bit_weights_on_model_save", False) == (stage == 3)
    assert ds["bf16"] == {"enabled": "auto"}  # the Trainer fills precision and batch from the same config


def test_fsdp_arguments_are_full_shard_by_decoder_layer_with_sharded_checkpoints(monkeypatch, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(resolve_model("tiny:llm"))
    assert layer_classes(model) == ["LlamaDecoderLayer"]
    cfg = _llm(distributed_backend="fsdp", num_processes=2)
    with monkeypatch.context() as two_ranks:  # what a rank of a two-process launch sees
        two_ranks.setenv("WORLD_SIZE", "2")
        with pytest.raises(ValueError, match=r"^distributed_backend=fsdp shards the model over CUDA GPUs; on a CPU "
                                             r"set distributed_backend=ddp$"):
            backend_args(cfg, model)
        two_ranks.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine's answer; nothing runs on it
        fsdp = backend_args(cfg, model)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, **fsdp)  # transformers reads our arguments
    plugin = args.fsdp_plugin_args
    assert plugin["fsdp_version"] == 2 and plugin["reshard_after_forward"] is True  # FULL_SHARD
    assert plugin["transformer_cls_names_to_wrap"] == "LlamaDecoderLayer"
    assert plugin["state_dict_type"] == "SHARDED_STATE_DICT"
    assert backend_args(cfg, model) == {}  # one process: nothing to shard


def test_llm_preflight_per_gpu_memory_orders_the_backends():
    full = _llm(peft=False, num_processes=8, batch_size=1, model_max_length=1024)
    per_gpu = {b: estimate_memory(full, "Qwen/Qwen2.5-0.5B-Instruct", b).total for b in ("ddp", "fsdp", "deepspeed")}
    zero3 = estimate_memory(full.model_copy(update={"deepspeed_stage": 3}), "Qwen/Qwen2.5-0.5B-Instruct",
                            "deepspeed").total
    assert per_gpu["ddp"] > per_gpu["deepspeed"] > per_gpu["fsdp"]
    assert zero3 == pytest.approx(per_gpu["fsdp"])
    # 494M parameters: bf16 weights + grads + bf16 Adam state = 8 bytes each on one GPU, ~1/8 of that sharded.
    ddp = estimate_memory(full, "Qwen/Qwen2.5-0.5B-Instruct", "ddp")
    assert ddp.weights + ddp.trainable == pytest.approx(494_032_768 * 8, rel=1e-3)
    lines = per_backend(full, "Qwen/Qwen2.5-0.5B-Instruct", free=int(per_gpu["fsdp"] + 0.1 * GIB))
    assert lines[0].startswith("ddp: ") and " does not fit in " in lines[0]
    assert lines[1].startswith("fsdp: ") and lines[1].endswith(" fits") and lines[3].startswith("deepspeed ZeRO-3: ")
