"""Live progress in a notebook cell, from the same events the app and the terminal line read.

When a run is followed inside a Jupyter / Colab kernel (`run_pipeline(..., monitor=True)`, `--immediate` runs,
`jobs.follow.monitor_job`), follower_for hands out a NotebookView instead of the terminal's Follower: one
cell output per part, each redrawn in place through IPython display handles:

  progress   an HTML progress bar with step/total, percent, ETA, loss and the queue (text/plain: the seed's line)
  loss       the loss curve (matplotlib, Agg canvas: no pyplot state, no GUI backend), redrawn when new steps came
  latest     the newest samples (images with their prompts) or the latest evaluation metrics

Imports IPython and matplotlib only when a view is drawn; nothing here imports torch.
"""

from __future__ import annotations

import base64
import html
import io
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from autotrain_gradio.events import RunState
from autotrain_gradio.monitor import Follower, format_eta, format_loss

PLOT_EVERY_S = 2.0  # the loss curve is redrawn at most this often while a run goes on (always at the end)
THUMB_PX = 160


def in_notebook() -> bool:
    """True inside a Jupyter / Colab kernel (an IPython shell with a kernel), never in a terminal IPython."""
    ipython = sys.modules.get("IPython")  # never imported here: a kernel has always imported it already
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def follower_for(stream: TextIO = sys.stdout) -> Follower | NotebookView:
    """Where progress goes: the notebook's live view (bar, loss curve, samples) when this runs in a Jupyter / Colab
    kernel and writes to its output, else the terminal's line (monitor.Follower)."""
    return NotebookView() if stream is sys.stdout and in_notebook() else Follower(stream)


def progress_html(state: RunState, queue: int = 0) -> str:
    """The progress bar and its figures as HTML (what the cell shows)."""
    done = state.status in ("completed", "failed", "cancelled")
    percent = 100.0 if state.status == "completed" else state.fraction * 100
    eta = format_eta(0 if done else state.eta_s)
    parts = [f"<b>{html.escape(state.status)}</b>", f"{percent:.1f}%", f"step {state.step}/{state.total}",
             f"ETA {eta}", f"loss {format_loss(state.loss)}", f"queue {queue}"]
    if state.note and not state.step and not done:
        parts.append(html.escape(state.note))
    if state.error:
        parts.append(f"<span style='color:#c00'>{html.escape(state.error)}</span>")
    return (f"<div class='autotrain-progress'><progress value='{percent:.1f}' max='100' style='width:24em'>"
            f"</progress> {' · '.join(parts)}</div>")


def loss_png(losses: list[tuple[int, float]]) -> bytes:
    """The loss curve as a PNG (a Figure on an Agg canvas: works with any notebook backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.6), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps, values = zip(*losses, strict=True)
    ax.plot(steps, values, color="#4f46e5", linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def latest_html(state: RunState) -> str:
    """The newest samples (thumbnails and prompts), then the latest evaluation's metrics; '' when neither yet."""
    parts = []
    if state.samples:
        last = state.samples[-1]
        cells = []
        for path, prompt in zip(last.get("paths", []), last.get("prompts", []), strict=False):
            if not Path(path).is_file():
                continue
            data = base64.b64encode(Path(path).read_bytes()).decode()
            cells.append(f"<figure style='display:inline-block;margin:4px'><img src='data:image/png;base64,{data}' "
                         f"width='{THUMB_PX}' style='image-rendering:pixelated'><figcaption style='max-width:"
                         f"{THUMB_PX}px'>{html.escape(str(prompt))}</figcaption></figure>")
        if cells:
            parts.append(f"<div class='autotrain-samples'><b>samples at step {last.get('step')}</b><br>"
                         + "".join(cells) + "</div>")
    if state.metrics:
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_number(v)}</td></tr>"
                       for k, v in state.metrics.items())
        parts.append(f"<table class='autotrain-metrics'><tr><th>metric</th><th>value</th></tr>{rows}</table>")
    return "".join(parts)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


class NotebookView:
    """The notebook's Follower: same show / note / close calls, drawn as display outputs updated in place."""

    def __init__(self) -> None:
        self._handles: dict[str, Any] = {}
        self._shown: dict[str, Any] = {}  # what each output shows now: nothing is redrawn unchanged
        self._plotted_at = 0.0
        self._state: RunState | None = None

    def _draw(self, part: str, bundle: dict[str, Any]) -> None:
        from IPython.display import display

        if self._shown.get(part) == bundle:
            return
        self._shown[part] = bundle
        if part in self._handles:
            self._handles[part].update(bundle, raw=True)
        else:
            self._handles[part] = display(bundle, raw=True, display_id=True)

    def show(self, line: str, state: RunState | None = None, queue: int = 0) -> None:
        """Redraw the progress bar (a plain line when there is no run state yet: queued), the loss curve (at most
        every PLOT_EVERY_S, and always once the run ended) and the newest samples / metrics."""
        if state is None:
            self._draw("progress", {"text/html": f"<div>{html.escape(line)}</div>", "text/plain": line})
            return
        self._state = state
        self._draw("progress", {"text/html": progress_html(state, queue), "text/plain": line})
        ended = state.status in ("completed", "failed", "cancelled")
        self._plot(state, force=ended)
        latest = latest_html(state)
        if latest:
            self._draw("latest", {"text/html": latest, "text/plain": "<newest samples / metrics>"})

    def _plot(self, state: RunState, force: bool) -> None:
        if not state.losses or self._shown.get("loss-points") == len(state.losses):
            return
        if not force and time.monotonic() - self._plotted_at < PLOT_EVERY_S:
            return
        self._shown["loss-points"] = len(state.losses)
        self._plotted_at = time.monotonic()
        self._draw("loss", {"image/png": base64.b64encode(loss_png(state.losses)).decode(),
                            "text/plain": f"<loss curve: {len(state.losses)} steps>"})

    def note(self, text: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        """The loss curve gets the last steps the throttle held back; the other outputs already show theirs."""
        if self._state is not None:
            self._plot(self._state, force=True)
