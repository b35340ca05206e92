"""Progress lines for terminals, built only from events (nothing parses tqdm); following a job from the store
lives in jobs/follow.py.

Single run:  `[============================--] 93.5% (1870/2000) | ETA: 00:05:23 | Loss: 0.0234 | Queue: 0`
Batch:       `🟢 dataset_character: [==============------] 70.0% (350/500) | ETA: 00:10:15 | Loss: 0.0156 |
              Queue: 2 (next: dataset_style) | Progress: 2/5 (40.0%)`
On a terminal the line is redrawn in place; piped into a file, a line is written only when it changes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from autotrain_gradio.events import EXIT_CODES, RunState

# `train monitor` exits with the job's result, the same codes the trainer itself uses.
RESULT_CODES = EXIT_CODES
ICONS = {"queued": "⏳", "pending": "⏳", "running": "🟢", "completed": "✅", "failed": "❌", "cancelled": "⏹"}


def format_eta(seconds: float | None) -> str:
    """HH:MM:SS, or --:--:-- while unknown."""
    if seconds is None or seconds < 0:
        return "--:--:--"
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_loss(loss: float | None) -> str:
    if loss is None:
        return "-"
    return f"{loss:.4f}" if abs(loss) >= 1e-3 or loss == 0 else f"{loss:.2e}"


def _bar(state: RunState, width: int) -> str:
    fraction = 1.0 if state.status == "completed" else state.fraction
    filled = int(fraction * width)
    return f"[{'=' * filled}{'-' * (width - filled)}] {fraction * 100:.1f}% ({state.step}/{state.total})"


def _eta(state: RunState) -> str:
    # After the end nothing is left; before the first measured steps the ETA is unknown, not zero.
    return format_eta(0 if state.status in ("completed", "failed", "cancelled") else state.eta_s)


def progress_line(state: RunState, queue: int = 0, width: int = 30) -> str:
    """The single-run line: bar, percent, steps, ETA, loss and how many jobs wait behind it. Before the first step
    it also says what the trainer is doing (loading, caching), so a long start never looks stuck."""
    line = f"{_bar(state, width)} | ETA: {_eta(state)} | Loss: {format_loss(state.loss)} | Queue: {queue}"
    return f"{line} | {state.note}" if state.note and not state.step and state.status != "completed" else line


def batch_line(name: str, state: RunState, queue_names: list[str], done: int, total: int, width: int = 20) -> str:
    """The batch line: status icon and name, the current run's progress, what waits next, and how many of the
    batch's runs have finished."""
    queue = f"Queue: {len(queue_names)}" + (f" (next: {queue_names[0]})" if queue_names else "")
    overall = f"Progress: {done}/{total} ({done / total * 100 if total else 0.0:.1f}%)"
    return (f"{ICONS.get(state.status, '🟢')} {name}: {_bar(state, width)} | ETA: {_eta(state)} | "
            f"Loss: {format_loss(state.loss)} | {queue} | {overall}")


class Follower:
    """Writes a changing status line: in place (\\r + erase) on a terminal, one line per change when piped."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last: str | None = None
        self.open = False  # a TTY line without its newline yet

    def show(self, line: str, state: RunState | None = None, queue: int = 0) -> None:
        """Draw the line (the run state is for richer views: see notebook.NotebookView)."""
        if line == self.last:
            return
        self.last = line
        if self.tty:
            self.stream.write(f"\r{line}\x1b[K")
            self.open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A message on its own line, below the status line."""
        if self.open:
            self.stream.write("\n")
            self.open = False
        self.last = None
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


def follow(render: Callable[[], tuple], stream: TextIO = sys.stdout, interval: float = 1.0,
           follower: Follower | None = None) -> str:
    """Call `render()` -> (line, done[, run state, queue length]) every `interval` seconds and show it until done
    on `follower` (default: the line on `stream`; notebook.follower_for picks the notebook view in a kernel).
    Returns the last line."""
    follower = follower or Follower(stream)
    while True:
        line, done, *view = render()
        follower.show(line, *view)
        if done:
            follower.close()
            return line
        time.sleep(interval)
