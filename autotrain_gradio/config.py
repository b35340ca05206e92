"""Every training parameter, declared once.

`TrainConfig` is a pydantic union discriminated by `task`. The CLI (`--set key=value`), the UI form, profiles,
the Python API and `config.toml` are all validated by these models; the trainer process takes one back from
`config.toml` with `load_config`. This module imports nothing of ours and no torch.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TASKS = ("diffusion-lora", "diffusion-full", "image-classification")


class ConfigError(ValueError):
    """A setting is unknown or out of range. The message names the key and what to do."""


def _f(default: Any, title: str, description: str, **bounds: Any) -> Any:
    return Field(default, title=title, description=description, **bounds)


class CommonConfig(BaseModel):
    """What every task shares: names, paths, optimisation, checkpoints."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    name: str = _f("run", "Run name", "Dataset / run name; names input/<name> and output/<name>.",
                   min_length=1, max_length=64)
    base_model: str = _f("", "Base model", "Hub id or local folder loaded with from_pretrained "
                         "('tiny:flux' etc. builds a tiny model in code).")
    data_dir: str = _f("", "Data folder", "Prepared dataset folder (input/<name>).")
    output_dir: str = _f("", "Output folder", "Run folder (output/<name>): model/, log/, samples/, checkpoints/.")
    seed: int = _f(42, "Seed", "Random seed for data order, noise and sampling.", ge=0)
    epochs: int = _f(1, "Epochs", "Passes over the (repeated) dataset; ignored when max_steps > 0.", ge=1, le=10_000)
    max_steps: int = _f(0, "Max steps", "Total optimizer steps; 0 derives them from epochs.", ge=0, le=10_000_000)
    batch_size: int = _f(1, "Batch size", "Images per step per process.", ge=1, le=1024)
    gradient_accumulation: int = _f(1, "Gradient accumulation", "Micro-batches summed per optimizer step.",
                                    ge=1, le=1024)
    learning_rate: float = _f(1e-4, "Learning rate", "Peak learning rate.", gt=0, le=1.0)
    lr_scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = _f(
        "constant_with_warmup", "LR schedule", "Schedule after warmup.")
    warmup_ratio: float = _f(0.0, "Warmup ratio", "Fraction of steps spent warming up (used when warmup_steps=0).",
                             ge=0.0, le=0.5)
    warmup_steps: int = _f(0, "Warmup steps", "Warmup steps; overrides warmup_ratio when > 0.", ge=0)
    optimizer: Literal["adamw", "adamw8bit", "adafactor", "prodigy"] = _f(
        "adamw", "Optimizer", "adamw8bit needs bitsandbytes, prodigy needs prodigyopt.")
    weight_decay: float = _f(0.01, "Weight decay", "Decoupled weight decay.", ge=0.0, le=1.0)
    max_grad_norm: float = _f(1.0, "Max grad norm", "Gradient clipping; 0 disables it.", ge=0.0)
    mixed_precision: Literal["no", "fp16", "bf16"] = _f(
        "bf16", "Mixed precision", "Falls back to 'no' on a CPU without bf16 support.")
    log_every: int = _f(1, "Log every", "Write a step event every N optimizer steps.", ge=1)
    checkpoint_every: int = _f(0, "Checkpoint every", "Save a resumable checkpoint every N steps (0: only when "
                               "stopped or cancelled).", ge=0)
    keep_checkpoints: int = _f(2, "Keep checkpoints", "How many recent checkpoints to keep.", ge=1, le=100)
    push_to_hub: bool = _f(False, "Push to Hub", "Upload the result; the token comes from HF_TOKEN only.")
    hub_repo_id: str = _f("", "Hub repo id", "user/repo to push to (defaults to the run name).")


class DiffusionConfig(CommonConfig):
    """Shared by LoRA and full fine-tuning of Flux, SDXL and SD1.5."""

    model_type: Literal["flux", "sdxl", "sd15"] = _f("flux", "Model family", "Architecture of base_model.")
    resolution: int = _f(1024, "Resolution", "Target area is resolution^2; buckets keep the aspect ratio.",
                         ge=32, le=4096, multiple_of=8)
    bucket_step: int = _f(64, "Bucket step", "Bucket side lengths are multiples of this.", ge=8, le=256,
                          multiple_of=8)
    repeats: int = _f(1, "Repeats", "How often each image is seen per epoch.", ge=1, le=1000)
    trigger_word: str = _f("", "Trigger word", "Prepended to every caption and used in sample prompts.")
    caption_extension: str = _f(".txt", "Caption extension", "Caption file next to each image.")
    caption_dropout: float = _f(0.0, "Caption dropout", "Probability of training on an empty caption.",
                                ge=0.0, le=1.0)
    cache_latents: bool = _f(True, "Cache latents", "Encode images once to disk; the VAE is freed afterwards.")
    cache_text_embeddings: bool = _f(True, "Cache text embeddings",
                                     "Encode captions once; text encoders are freed (unless trained).")
    gradient_checkpointing: bool = _f(True, "Gradient checkpointing", "Trade compute for activation memory.")
    timestep_sampling: Literal["sigmoid", "uniform", "logit_normal", "shift"] = _f(
        "sigmoid", "Timestep sampling", "Flux: how flow-matching timesteps are drawn.")
    sigmoid_scale: float = _f(1.0, "Sigmoid scale", "Scale of the normal before the sigmoid.", gt=0)
    discrete_flow_shift: float = _f(3.1582, "Flow shift", "Flux: shift applied to sampled timesteps "
                                    "(used with timestep_sampling='shift').", gt=0)
    guidance_scale: float = _f(1.0, "Guidance", "Flux-dev guidance embedding value during training.", ge=0)
    max_sequence_length: int = _f(512, "T5 tokens", "Flux: T5 prompt length.", ge=8, le=512)
    noise_offset: float = _f(0.0, "Noise offset", "SDXL/SD1.5: offset noise strength.", ge=0.0, le=1.0)
    quantize_base: Literal["none", "nf4", "float8"] = _f(
        "none", "Quantize base", "Load the frozen transformer/UNet in 4-bit (bitsandbytes) or float8 (torchao).")
    memory_preflight: Literal["refuse", "adjust", "off"] = _f(
        "refuse", "Memory preflight", "Before loading: refuse settings that won't fit the GPU, adjust them, or skip.")
    sample_every: int = _f(0, "Sample every", "Render sample images every N steps (0: only at the end).", ge=0)
    sample_steps: int = _f(20, "Sample steps", "Inference steps per sample image.", ge=1, le=200)
    sample_seed: int = _f(42, "Sample seed", "Fixed seed so samples are comparable across steps.", ge=0)
    sample_prompts: list[str] = _f([], "Sample prompts", "Prompts rendered as samples; {trigger} is replaced.")
    num_processes: int = _f(1, "Processes", "Processes for accelerate launch (one per GPU).", ge=1, le=64)
    dataloader_workers: int = _f(0, "Data workers", "DataLoader worker processes.", ge=0, le=64)


class DiffusionLoraConfig(DiffusionConfig):
    """LoRA on the transformer (Flux) or UNet (SDXL, SD1.5)."""

    task: Literal["diffusion-lora"] = "diffusion-lora"
    lora_rank: int = _f(16, "LoRA rank", "Rank of the update matrices.", ge=1, le=1024)
    lora_alpha: float = _f(16.0, "LoRA alpha", "Scale is alpha / rank.", gt=0)
    lora_dropout: float = _f(0.0, "LoRA dropout", "Dropout on the LoRA branch.", ge=0.0, le=0.9)
    lora_target_modules: list[str] = _f([], "Target modules", "Module names to adapt; empty: the model family's "
                                        "attention and feed-forward projections.")
    use_dora: bool = _f(False, "DoRA", "Weight-decomposed LoRA (peft use_dora).")
    export_formats: list[Literal["diffusers", "kohya"]] = _f(
        ["diffusers", "kohya"], "Export formats", "diffusers/peft keys, kohya/ComfyUI keys, or both.")


class DiffusionFullConfig(DiffusionConfig):
    """Full fine-tune of the Flux transformer or the SDXL/SD1.5 UNet."""

    task: Literal["diffusion-full"] = "diffusion-full"
    train_text_encoder: bool = _f(False, "Train text encoder", "SDXL/SD1.5: also train the CLIP text encoders "
                                  "(turns off text-embedding caching).")
    text_encoder_lr: float = _f(0.0, "Text encoder LR", "Learning rate of the text encoders (0: same as the "
                                "model).", ge=0.0, le=1.0)


class ImageClassificationConfig(CommonConfig):
    """transformers Trainer on a folder of class sub-folders."""

    task: Literal["image-classification"] = "image-classification"
    valid_split: float = _f(0.2, "Validation split", "Fraction held out when no valid/ folder exists.",
                            ge=0.0, lt=0.9)
    eval_every_epoch: bool = _f(True, "Evaluate each epoch", "Run evaluation and write an eval event each epoch.")
    early_stopping_patience: int = _f(0, "Early stopping", "Stop after N evaluations without improvement "
                                      "(0: off).", ge=0)


TrainConfig = Annotated[
    DiffusionLoraConfig | DiffusionFullConfig | ImageClassificationConfig, Field(discriminator="task")
]
_ADAPTER: TypeAdapter = TypeAdapter(TrainConfig)
MODELS: dict[str, type[CommonConfig]] = {
    "diffusion-lora": DiffusionLoraConfig,
    "diffusion-full": DiffusionFullConfig,
    "image-classification": ImageClassificationConfig,
}


_TEXT_KEYS = {k for m in MODELS.values() for k, f in m.model_fields.items() if f.annotation is str}


def _explain(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if p not in TASKS)
        lines.append(f"setting '{key}': {e['msg']} (got {e.get('input')!r})")
    return "; ".join(lines)


def config_from_dict(data: dict[str, Any]) -> CommonConfig:
    """Validate a plain dict into the right config class. Unknown keys get a did-you-mean hint."""
    task = data.get("task")
    if task not in MODELS:
        raise ConfigError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    known = MODELS[task].model_fields
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown setting '{key}' for task {task}{hint}; "
                              f"`autotrain profiles --keys {task}` lists them")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as err:
        raise ConfigError(_explain(err)) from None


def parse_override(item: str) -> tuple[str, Any]:
    """Parse one `key=value`; the value is read as TOML (numbers, booleans, lists) or else a plain string."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value, got {item!r}")
    key, raw = (s.strip() for s in item.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    if key in _TEXT_KEYS and not isinstance(value, str):
        value = raw  # trigger_word=123 means the text "123"
    return key, value


def merge(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win: model defaults < profile < user overrides."""
    out: dict[str, Any] = {}
    for layer in layers:
        out.update({k: v for k, v in layer.items() if v is not None})
    return out


def to_toml(cfg: CommonConfig) -> str:
    return tomli_w.dumps(cfg.model_dump(mode="json"))


def save_config(cfg: CommonConfig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(to_toml(cfg), encoding="utf-8")
    tmp.replace(path)
    return path


def read_toml(path: str | Path, label: str, allowed: set[str] | None = None) -> dict[str, Any]:
    """A TOML file as a dict; with `allowed`, any other top-level key is an error (settings go under [config])."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{label} {path}: file not found") from None
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{label} {path}: cannot read it as TOML ({err})") from None
    unknown = set(data) - allowed if allowed is not None else set()
    if unknown:
        raise ConfigError(f"{label} {path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(allowed)} "
                          "(training settings go under [config])")
    return data


def load_config(path: str | Path) -> CommonConfig:
    return config_from_dict(read_toml(path, "config"))


def config_digest(cfg: CommonConfig) -> str:
    """Short stable hash of every setting; written into the start event and the LoRA metadata."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def describe_fields(task: str) -> list[tuple[str, str, str]]:
    """(key, default, description) for every setting of a task: for `--keys`, help text and the UI."""
    rows = []
    for key, field in MODELS[task].model_fields.items():
        if key == "task":
            continue
        rows.append((key, repr(field.default), field.description or ""))
    return rows
