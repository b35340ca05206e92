"""What every trainer shares: the run context handed in by `autotrain_gradio.train`, a step clock for it/s and
ETA, and the out-of-memory advice. Trainers take a finished config and talk only through events and files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotrain_gradio.config import RunConfig
from autotrain_gradio.events import EventWriter, NullWriter, scrub
from autotrain_gradio.workspace import RunPaths, is_hub_id

GRANT_ENDED = "grant ended"  # the stop reason of an in-process run whose GPU grant (ZeroGPU) is about to end


@dataclass
class RunContext:
    """Handed to `train(cfg, ctx)`. `stop_requested` turns true on SIGTERM/SIGINT, or when `stop_check` (an
    in-process run has no process to signal: a cancel flag in the job store, the end of a GPU grant) returns a
    reason; loops only read `ctx.stop_requested`. The trainer then saves a checkpoint and returns; the harness writes
    `end: cancelled`. In-process callers get the trained objects from `extra` ("model", "processor")."""

    cfg: RunConfig
    paths: RunPaths
    events: EventWriter | NullWriter
    resume: bool = False
    is_main: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    stop_check: Callable[[], str] | None = None  # polled on each read of stop_requested; "" = go on
    stop_reason: str = ""  # why it stopped: "signal", or what stop_check returned

    @property
    def stop_requested(self) -> bool:
        if not self.stop_reason and self.stop_check is not None:
            self.stop_reason = self.stop_check()
        return bool(self.stop_reason)

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        if value and not self.stop_reason:
            self.stop_reason = "signal"
        elif not value:
            self.stop_reason = ""

    def log(self, message: str, level: str = "info") -> None:
        message = scrub(message)
        self.events.emit("log", level=level, message=message)
        if self.is_main:
            print(f"[{level}] {message}", flush=True)


class StepClock:
    """it/s and ETA over a sliding window of optimizer steps, ignoring the first (warm-up) step."""

    def __init__(self, total: int, window: int = 20):
        self.total, self.window = total, window
        self.marks: list[tuple[float, int]] = []

    def tick(self, step: int) -> tuple[float | None, float | None]:
        self.marks.append((time.perf_counter(), step))
        self.marks = self.marks[-(self.window + 1):]
        if len(self.marks) < 2:
            return None, None
        (t0, s0), (t1, s1) = self.marks[0], self.marks[-1]
        if t1 <= t0 or s1 <= s0:
            return None, None
        it_s = (s1 - s0) / (t1 - t0)
        return round(it_s, 4), round(max(0, self.total - step) / it_s, 1)


def resolve_precision(requested: str) -> str:
    """The mixed precision a run really uses, decided once for every trainer: 'no' on a CPU (autocast there is
    slower and not what a GPU run does), 'fp16' for 'bf16' on a GPU without bf16 (e.g. a T4 in Colab)."""
    import torch

    if not torch.cuda.is_available():
        return "no"
    if requested == "bf16" and not torch.cuda.is_bf16_supported():
        return "fp16"
    return requested


OOM_ADVICE = ("out of GPU memory: lower batch_size or resolution, turn on gradient_checkpointing, use "
              "quantize_base='nf4' or a smaller lora_rank, move the text encoders off the GPU "
              "(text_encoder_device='offload'), swap Flux blocks (blocks_to_swap), or set memory_preflight='adjust' "
              "(or pick the FluxLORA-<N>GB profile of your card)")
TRAINER_OOM_ADVICE = ("out of GPU memory: lower batch_size (raise gradient_accumulation to keep the effective batch), "
                      "shorten the sequences (max_seq_length / block_size) or the images, turn on "
                      "gradient_checkpointing where the task has it, or use a smaller base model")


def describe_error(err: BaseException, task: str = "") -> str:
    """One line for the `end` event: OOM gets the settings of that task to change, everything else its type and
    message."""
    if type(err).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(err):
        return OOM_ADVICE if task.startswith("diffusion") or not task else TRAINER_OOM_ADVICE
    return scrub(f"{type(err).__name__}: {err}")


NO_TOKEN = ("push_to_hub is on but HF_TOKEN is not set: export HF_TOKEN=<a write token from "
            "https://huggingface.co/settings/tokens>, or set push_to_hub=false")


def usable_token(token: str | None) -> bool:
    """Whether a Hub token can be tried at all (set, one word); whether it may write is the Hub's answer."""
    return bool(token and token.strip() and len(token.split()) == 1)


class PushError(RuntimeError):
    """Uploading to the Hub is not possible; the message says what to do."""


def push_to_hub(cfg: RunConfig, model_dir: Path) -> str:
    """Upload model_dir to cfg.hub_repo_id (default: <user>/<cfg.name>) as a private model repo; returns its URL.

    The token comes from the environment variable HF_TOKEN only (the UI passes it to the trainer process that
    way); it is handed to huggingface_hub in memory and never written to a file, an event or a log."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if not token:
        raise PushError(NO_TOKEN)
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        repo_id = cfg.hub_repo_id or cfg.name
        if "/" not in repo_id:
            repo_id = f"{api.whoami()['name']}/{repo_id}"
        url = api.create_repo(repo_id, repo_type="model", private=True, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(model_dir), repo_type="model",
                          commit_message=f"autotrain-gradio: {cfg.name}")
    except Exception as err:  # noqa: BLE001 - re-raised with the token scrubbed from the message
        raise PushError(scrub(f"push to the Hub failed: {type(err).__name__}: {err}")) from None
    return str(url)


def hub_base_model(base_model: str) -> str:
    """base_model when it is a Hub repo id (what a model card's `base_model:` must be), else "" (tiny:*, folders)."""
    return base_model if is_hub_id(base_model) else ""
