"""Every training parameter, declared once.

`RunConfig` holds what every run has (name, paths, seed, Hub, logging); `CommonConfig` adds the optimisation that
every task trained by optimizer steps shares. Each task's own model (`tasks/<task>/config.py`) extends one of them,
and `autotrain_gradio.tasks` builds the `TrainConfig` union discriminated by `task` from the one task list. The CLI
(`--set key=value`), the UI form, profiles, the Python API and `config.toml` are all validated by those models.
This module imports nothing of ours and no torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

class ConfigError(ValueError):
    """A setting is unknown or out of range. The message names the key and what to do."""


def setting(default: Any, title: str, description: str, autotrain: str = "", **bounds: Any) -> Any:
    """A config field with the title and help text the CLI, the form and `profiles --keys` show. `autotrain`: the
    name AutoTrain Advanced gives this parameter, accepted as well (an alias: every face takes both names)."""
    if autotrain:
        bounds["validation_alias"] = AliasChoices(autotrain)
        description = f"{description} (AutoTrain: {autotrain})"
    return Field(default, title=title, description=description, **bounds)


_f = setting


class RunConfig(BaseModel):
    """What every run has, whatever it trains: its name, paths, seed, the Hub and logging."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(),
                              validate_by_name=True, validate_by_alias=True)

    name: str = _f("run", "Run name", "Dataset / run name; names input/<name> and output/<name>.", "project_name",
                   min_length=1, max_length=64)
    base_model: str = _f("", "Base model", "Hub id or local folder loaded with from_pretrained "
                         "('tiny:flux' etc. builds a tiny model in code).", "model")
    data_dir: str = _f("", "Data folder", "Prepared dataset folder (input/<name>).", "data_path")
    output_dir: str = _f("", "Output folder", "Run folder (output/<name>): model/, log/, samples/, checkpoints/.")
    seed: int = _f(42, "Seed", "Random seed for data order, noise and sampling.", ge=0, le=2**32 - 1)
    cpu_threads: int = _f(0, "CPU threads", "torch threads on a CPU; 0: this job's share of the cores (the cores it "
                          "may use / the jobs its queue runs at once, at most the idle ones); OMP_NUM_THREADS also "
                          "sets it.", ge=0, le=1024)
    push_to_hub: bool = _f(False, "Push to Hub", "Upload the result; the token comes from HF_TOKEN only.")
    hub_repo_id: str = _f("", "Hub repo id", "user/repo to push to (defaults to the run name).")
    log_to: Literal["none", "tensorboard", "trackio", "wandb"] = _f(
        "none", "Log to", "Experiment tracker fed from the trainer's events: tensorboard (output/<name>/log/"
        "tensorboard), trackio or wandb (project 'autotrain'; WANDB_API_KEY from the submitter's environment).", "log")

    @field_validator("log_to")
    @classmethod
    def _tracker_installed(cls, value: str) -> str:
        command = missing_tracker(value)
        if command:
            raise ValueError(f"log_to={value} needs the {value} package: {command} (or set log_to=none)")
        return value


    @model_validator(mode="before")
    @classmethod
    def _autotrain_values(cls, data: Any) -> Any:
        """AutoTrain's spellings of values (optimizer adamw_torch, mixed_precision none, ...) as ours."""
        if not isinstance(data, dict):
            return data
        names = autotrain_names(cls)
        out = dict(data)
        for key, value in data.items():
            field = names.get(key, key)
            if field == "eval_every_epoch" and value == "steps":
                raise ValueError("eval_strategy=steps: evaluation here runs once per epoch; use eval_strategy=epoch "
                                 "(or no)")
            table = AUTOTRAIN_VALUES.get(field, {})
            if isinstance(value, str) and value.lstrip("-").isdigit():
                value = int(value)  # a command line's "-1"
            if isinstance(value, str | int | None) and not isinstance(value, bool) and value in table:
                out[key] = table[value]
        return out


class CommonConfig(RunConfig):
    """What every task that trains by optimizer steps adds: optimisation, precision, checkpoints. (Tabular and
    captioning stand on `RunConfig`: these settings mean nothing to them.)"""

    epochs: int = _f(1, "Epochs", "Passes over the (repeated) dataset; ignored when max_steps > 0.", ge=1, le=10_000)
    max_steps: int = _f(0, "Max steps", "Total optimizer steps; 0 derives them from epochs.", ge=0, le=10_000_000)
    batch_size: int = _f(1, "Batch size", "Images per step per process.", ge=1, le=1024)
    gradient_accumulation: int = _f(1, "Gradient accumulation", "Micro-batches summed per optimizer step.",
                                    ge=1, le=1024)
    learning_rate: float = _f(1e-4, "Learning rate", "Peak learning rate.", "lr", gt=0, le=1.0)
    lr_scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = _f(
        "constant_with_warmup", "LR schedule", "Schedule after warmup.", "scheduler")
    warmup_ratio: float = _f(0.0, "Warmup ratio", "Fraction of steps spent warming up (used when warmup_steps=0).",
                             ge=0.0, le=0.5)
    warmup_steps: int = _f(0, "Warmup steps", "Warmup steps; overrides warmup_ratio when > 0.", ge=0)
    optimizer: Literal["adamw", "adamw_fused", "adamw_foreach", "adamw_loop", "adamw8bit", "adafactor", "prodigy"] = _f(
        "adamw", "Optimizer", "adamw: the library's own default AdamW (fused on transformers 5); adamw_fused / "
        "_foreach / _loop pick one torch implementation; adamw8bit needs bitsandbytes, prodigy needs prodigyopt.")
    weight_decay: float = _f(0.01, "Weight decay", "Decoupled weight decay.", ge=0.0, le=1.0)
    max_grad_norm: float = _f(1.0, "Max grad norm", "Gradient clipping; 0 disables it.", ge=0.0, le=1e4)
    mixed_precision: Literal["no", "fp16", "bf16"] = _f(
        "bf16", "Mixed precision", "Falls back to 'no' on a CPU without bf16 support.")
    log_every: int = _f(1, "Log every", "Write a step event every N optimizer steps.", "logging_steps", ge=1)
    checkpoint_every: int = _f(0, "Checkpoint every", "Save a resumable checkpoint every N steps (0: only when "
                               "stopped or cancelled).", ge=0)
    keep_checkpoints: int = _f(2, "Keep checkpoints", "How many recent checkpoints to keep.", "save_total_limit",
                               ge=1, le=100)


# AutoTrain Advanced's values -> ours, per field (its parameter names are the fields' `autotrain` aliases).
AUTOTRAIN_VALUES: dict[str, dict[Any, Any]] = {
    "optimizer": {"adamw_torch": "adamw", "adamw_hf": "adamw", "adamw_torch_fused": "adamw",
                  "adamw_bnb_8bit": "adamw8bit", "adamw_8bit": "adamw8bit", "paged_adamw_8bit": "adamw8bit"},
    "mixed_precision": {"none": "no", None: "no"},
    "log_to": {None: "none"},
    "log_every": {-1: 1, 0: 1},  # AutoTrain's -1: let the trainer choose
    "eval_every_epoch": {"epoch": True, "no": False},
    "padding_side": {None: "right"},
    "chat_template": {None: "none"},
    "quantization": {None: "none"},
}


def autotrain_names(model: type[BaseModel]) -> dict[str, str]:
    """{AutoTrain's parameter name: our field} for a config model, read from the fields' aliases."""
    names = {}
    for field, info in model.model_fields.items():
        if isinstance(info.validation_alias, AliasChoices):
            names.update({str(choice): field for choice in info.validation_alias.choices})
    return names


TRACKER_PACKAGES = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb"}


def missing_tracker(log_to: str) -> str | None:
    """The pip command that makes `log_to` usable here, or None when nothing is missing (no import happens)."""
    package = TRACKER_PACKAGES.get(log_to)
    if package is None or importlib.util.find_spec(package) is not None:
        return None
    return f"pip install {package}"


def merge(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win: model defaults < profile < user overrides."""
    out: dict[str, Any] = {}
    for layer in layers:
        out.update({k: v for k, v in layer.items() if v is not None})
    return out


def to_toml(cfg: RunConfig) -> str:
    return tomli_w.dumps(cfg.model_dump(mode="json"))


def save_config(cfg: RunConfig, path: str | Path) -> Path:
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
    except UnicodeDecodeError as err:
        raise ConfigError(f"{label} {path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{label} {path}: cannot read it as TOML ({err})") from None
    unknown = set(data) - allowed if allowed is not None else set()
    if unknown:
        raise ConfigError(f"{label} {path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(allowed)} "
                          "(training settings go under [config])")
    return data


def config_digest(cfg: RunConfig) -> str:
    """Short stable hash of every setting; written into the start event and the LoRA metadata."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class LaunchConfig(CommonConfig):
    """How many processes train one run: `accelerate launch` (DDP, or FSDP / DeepSpeed for the Trainer tasks) with
    one process per GPU; on a CPU, gloo processes (tests, demos). The request's --gpu-ids sets it to their count."""

    num_processes: int = _f(1, "Processes", "Processes for accelerate launch (one per GPU; on a CPU, gloo "
                            "processes). Each takes batch_size rows per step: the effective batch is "
                            "batch_size x gradient_accumulation x num_processes.", ge=1, le=64)


class TrainerConfig(LaunchConfig):
    """What every transformers-Trainer task adds: a held-out split, evaluation, early stopping, the distributed
    backend."""

    valid_split: float = _f(0.2, "Validation split", "Fraction held out (seeded) when the data has no validation "
                            "split.", ge=0.0, lt=0.9)
    eval_every_epoch: bool = _f(True, "Evaluate each epoch", "Run evaluation and write an eval event each epoch.",
                                "eval_strategy")
    early_stopping_patience: int = _f(5, "Early stopping", "Stop after N evaluations without an improvement of "
                                      "the validation loss (0: off); the best evaluation is the exported model. "
                                      "Needs validation data (without it: off).", ge=0)
    early_stopping_threshold: float = _f(0.01, "Early stopping threshold", "Least drop of the validation loss "
                                         "that counts as an improvement.", ge=0.0)
    auto_find_batch_size: bool = _f(False, "Auto batch size", "Halve batch_size and retry when a step runs out "
                                    "of GPU memory (accelerate's find_executable_batch_size).")
    distributed_backend: Literal["ddp", "fsdp", "deepspeed"] = _f(
        "ddp", "Distributed backend", "With num_processes > 1: DDP (a full copy per process), FSDP (weights, "
        "gradients and optimizer state sharded over the processes, each decoder layer wrapped) or DeepSpeed ZeRO "
        "(needs the deepspeed package).")
    deepspeed_stage: Literal[2, 3] = _f(2, "DeepSpeed ZeRO stage", "distributed_backend=deepspeed: 2 shards "
                                        "gradients and optimizer state, 3 also the weights.")

