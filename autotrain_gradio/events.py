"""The event stream between a trainer and everything that watches it.

The trainer appends one JSON object per line to `output/<name>/log/events.jsonl`: every event but `step` is flushed
at once; `step` lines are buffered and reach the file at most `FLUSH_EVERY_S` later (so a step costs no system call),
and at the next other event or `close`. Each has
`t` (unix seconds) and `type`: start, step, sample, checkpoint, eval, log, end. Trainers write through the typed
helpers (`events.start(...)`, `.step`, `.eval`, `.checkpoint`, `.sample`), so every loop writes the same fields.
Monitors read only this file (through `EventTailer`) and the job store; nothing parses tqdm.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENT_TYPES = ("start", "step", "sample", "checkpoint", "eval", "log", "end")
# The one table of job statuses and trainer exit codes: the store, the scheduler, the trainer, the monitors and the
# CLI's exit codes all read it.
ACTIVE_STATUSES = ("queued", "running")
END_STATUSES = ("completed", "failed", "cancelled")
STATUSES = (*ACTIVE_STATUSES, *END_STATUSES)
EXIT_OK, EXIT_FAILED = 0, 1
EXIT_BAD_INPUT = 2  # refused before anything ran (a bad config, dataset or flag): one line naming it
EXIT_PARTIAL = 3  # a batch in which some runs failed
EXIT_PAUSED = 75  # in-process only: stopped at a checkpoint because the GPU grant ends; resume in the next one
EXIT_CANCELLED = 143  # 128 + SIGTERM: cancelled, a checkpoint kept
EXIT_CODES = {"completed": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}  # by end status
# With AUTOTRAIN_EVENT_LINES=1 the trainer also prints each event to stdout behind this tag, so a backend whose
# trainer runs where this workspace is out of reach (HF Jobs, a Ray cluster without a shared filesystem) can
# rebuild events.jsonl from the log it streams (jobs/runs.py `relay_events`).
EVENT_TAG = "@autotrain-event "


FLUSH_EVERY_S = 0.5  # a buffered `step` line reaches the file at most this long after it was written

TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN")


def scrub(text: str) -> str:
    """Replace any token value from the environment in text that may reach a file or a log."""
    for var in TOKEN_VARS:
        value = os.environ.get(var)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


class TypedEvents:
    """The typed writers every training loop uses, so the same event always carries the same fields. Subclasses
    provide `emit(type, **fields)`; extra keyword fields ride along unchanged."""

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self, *, total_steps: int, step: int, config_digest: str, **extra: Any) -> dict[str, Any]:
        """Training (re)starts at `step` of `total_steps`; `config_digest` identifies the settings."""
        return self.emit("start", total_steps=total_steps, step=step, config_digest=config_digest, **extra)

    def step(self, *, step: int, total: int, epoch: float, loss: float, lr: float | None, it_s: float | None,
             eta_s: float | None, **extra: Any) -> dict[str, Any]:
        """One optimizer step done (every `log_every`): loss, learning rate, speed and time left."""
        return self.emit("step", step=step, total=total, epoch=round(float(epoch), 4), loss=round(float(loss), 6),
                         lr=lr, it_s=it_s, eta_s=eta_s, **extra)

    def eval(self, *, step: int, epoch: float, metrics: dict[str, float], **extra: Any) -> dict[str, Any]:
        """An evaluation: `metrics` by their plain names (loss, accuracy, f1_macro, mse, ...)."""
        return self.emit("eval", step=step, epoch=round(float(epoch), 4), metrics=metrics, **extra)

    def checkpoint(self, *, step: int, path: str | Path, **extra: Any) -> dict[str, Any]:
        """A resumable checkpoint was written at `path`."""
        return self.emit("checkpoint", step=step, path=str(path), **extra)

    def sample(self, *, step: int, paths: list[str | Path], prompts: list[str], **extra: Any) -> dict[str, Any]:
        """Sample images rendered at `step`, one per prompt."""
        return self.emit("sample", step=step, paths=[str(p) for p in paths], prompts=prompts, **extra)


class EventWriter(TypedEvents):
    """Appends events to a JSONL file, one line each. Safe to reopen: a resumed run appends. `step` lines are
    buffered; a daemon thread flushes them every FLUSH_EVERY_S while there are any, every other event flushes at once
    (start, end and checkpoint also reach the disk: fsync)."""

    def __init__(self, path: str | Path, tracker: Any = None):
        self.echo = os.environ.get("AUTOTRAIN_EVENT_LINES") == "1"
        self.started = False  # a `start` event was written: training runs (loading and caching are over)
        self.tracker = tracker  # tracking.Tracker: step and eval events also go to TensorBoard / trackio / wandb
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the writer
        self._lock = threading.Lock()  # the flusher thread and the training loop share the file object
        self._pending = False  # buffered step lines not yet flushed
        self._closing = threading.Event()
        self._flusher: threading.Thread | None = None

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        if type == "end" and fields.get("status") not in END_STATUSES:
            raise ValueError(f"end event needs status in {END_STATUSES}")
        event = {"t": round(time.time(), 3), "type": type, **fields}
        self.started = self.started or type == "start"
        line = scrub(json.dumps(event, default=str))
        if self.echo:
            print(EVENT_TAG + line, flush=True)
        with self._lock:
            self._fh.write(line + "\n")
            if type == "step":
                self._pending = True
            else:
                self._fh.flush()
                self._pending = False
                os.fsync(self._fh.fileno()) if type in ("start", "end", "checkpoint") else None
        if type == "step" and self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_pending, name="events-flush", daemon=True)
            self._flusher.start()
        if self.tracker is not None:
            self.tracker.log(event)
        return event

    def _flush_pending(self) -> None:
        while not self._closing.wait(FLUSH_EVERY_S):
            if self._pending:
                with self._lock:
                    if not self._fh.closed:
                        self._fh.flush()
                    self._pending = False

    def close(self) -> None:
        if self.tracker is not None:
            tracker, self.tracker = self.tracker, None
            tracker.close()
        self._closing.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


class NullWriter(TypedEvents):
    """The no-op twin for non-main processes, so the loop never asks whether it should log."""

    started = False

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        self.started = self.started or type == "start"
        return {"type": type, **fields}

    def close(self) -> None:
        pass


class EventTailer:
    """Reads whole new lines from an events file, remembering its offset; a half-written line waits."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.offset = 0

    def poll(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        events = []
        for line in chunk[: end + 1].splitlines():
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn line from a killed writer is skipped, not fatal
        return events


def read_events(path: str | Path) -> list[dict[str, Any]]:
    return EventTailer(path).poll()


@dataclass
class RunState:
    """Everything a progress line, a UI tab or `train monitor` needs, folded from the events."""

    status: str = "pending"  # pending | running | completed | failed | cancelled
    step: int = 0
    total: int = 0
    epoch: float = 0.0
    loss: float | None = None
    lr: float | None = None
    it_s: float | None = None
    eta_s: float | None = None
    error: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    losses: list[tuple[int, float]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # the latest evaluation
    evals: list[dict[str, Any]] = field(default_factory=list)  # every evaluation: step, epoch, metrics
    logs: list[str] = field(default_factory=list)
    note: str = ""  # the latest log message: what a run is doing before its first step (loading, caching)
    started: float | None = None
    last_t: float | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    def update(self, events: list[dict[str, Any]]) -> RunState:
        for ev in events:
            kind = ev.get("type")
            self.last_t = ev.get("t", self.last_t)
            if kind == "start":
                self.status, self.total = "running", int(ev.get("total_steps", 0))
                self.step = int(ev.get("step", self.step))
                # A resumed attempt restarts at its checkpoint's step: what the last attempt did after it is redone.
                self.losses = [(s, v) for s, v in self.losses if s <= self.step]
                self.evals = [e for e in self.evals if (e.get("step") or 0) <= self.step]
                self.started = self.started or ev.get("t")
            elif kind == "step":
                self.status = "running"
                self.step, self.total = int(ev.get("step", self.step)), int(ev.get("total", self.total))
                self.epoch = ev.get("epoch", self.epoch)
                self.loss, self.lr = ev.get("loss"), ev.get("lr")
                self.it_s, self.eta_s = ev.get("it_s"), ev.get("eta_s")
                if self.loss is not None:
                    self.losses.append((self.step, float(self.loss)))
            elif kind == "sample":
                self.samples.append(ev)
            elif kind == "checkpoint":
                self.checkpoints.append(ev.get("path", ""))
            elif kind == "eval":
                self.metrics.update(ev.get("metrics", {}))
                self.evals.append({"step": ev.get("step"), "epoch": ev.get("epoch"), **(ev.get("metrics") or {})})
            elif kind == "log":
                self.logs.append(f"[{ev.get('level', 'info')}] {ev.get('message', '')}")
                self.note = str(ev.get("message", ""))
            elif kind == "end":
                self.status = ev["status"]
                self.error = ev.get("error") or ""
                self.outputs = ev.get("outputs") or {}
                if self.status == "completed" and self.total:
                    self.step = max(self.step, int(ev.get("step", self.step)))
        return self


def run_state(path: str | Path) -> RunState:
    return RunState().update(read_events(path))
