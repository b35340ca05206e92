"""The Jobs tab: every job in the store, and for the selected one its progress line, loss curve, latest samples and
last log lines; Cancel, Resume and Download.

It reads only the job store and the job's events.jsonl (through the same `job_tailer` and `progress_line` as
`autotrain train monitor`), so what it shows is what the terminal shows. A gr.Timer polls, and switches itself off
once nothing is queued or running. Which job a visitor watches, and how far its events have been read, is per-user
gr.State.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from autotrain_gradio import jobs
from autotrain_gradio.events import EventTailer, RunState
from autotrain_gradio.jobs.scheduler import job_tailer
from autotrain_gradio.monitor import ICONS, format_eta, progress_line

COLUMNS = ["id", "name", "profile", "status", "progress", "started", "duration"]
POLL_S = 1.5
LOG_LINES = 30


def job_row(job: jobs.Job) -> list[Any]:
    """One table row: id, name, profile, status, progress, started, duration."""
    if job.total_steps:
        progress = f"{job.last_step}/{job.total_steps} ({100 * job.last_step / job.total_steps:.0f}%)"
    else:
        progress = "-"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.started)) if job.started else "-"
    duration = format_eta(job.duration) if job.duration is not None else "-"
    return [job.id, job.name, job.profile, f"{ICONS.get(job.status, '')} {job.status}", progress, started, duration]


def jobs_frame(all_jobs: list[jobs.Job]) -> pd.DataFrame:
    """The jobs table, newest first."""
    return pd.DataFrame([job_row(j) for j in reversed(all_jobs)], columns=COLUMNS)


def tail(path: Path, lines: int = LOG_LINES) -> str:
    """The last lines of a text file ('' when it does not exist yet)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 16_384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Watch:
    """Per-user reading position in the selected job's events, so each tick reads only what is new."""

    key: tuple = ()
    tailer: EventTailer | None = None
    state: RunState = field(default_factory=RunState)
    gallery: tuple = ()

    def read(self, job: jobs.Job) -> RunState:
        # A resumed job is launched anew (new start time, new events offset): start reading from there.
        key = (job.id, job.started, job.events_offset)
        if key != self.key or self.tailer is None:
            self.key, self.tailer, self.state, self.gallery = key, job_tailer(job), RunState(), ()
        return self.state.update(self.tailer.poll())


def samples_of(state: RunState) -> list[tuple[str, str]]:
    """The latest sample event's images with 'step N: prompt' captions."""
    if not state.samples:
        return []
    last = state.samples[-1]
    prompts = list(last.get("prompts") or [])
    return [(p, f"step {last.get('step', '?')}: {prompts[i] if i < len(prompts) else ''}")
            for i, p in enumerate(last.get("paths") or []) if Path(p).is_file()]


def loss_frame(state: RunState) -> pd.DataFrame:
    """(step, loss) with numeric dtypes even when empty: the plot takes its axis types from the first frame."""
    steps, losses = zip(*state.losses, strict=True) if state.losses else ((), ())
    return pd.DataFrame({"step": pd.Series(steps, dtype="int64"), "loss": pd.Series(losses, dtype="float64")})


def model_files(job: jobs.Job) -> list[str]:
    """Every file of the job's exported model (output/<name>/model/)."""
    folder = Path(job.output_dir) / "model"
    return sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def job_action(root: Path, action: str, job_id: int | None) -> str:
    """Cancel or resume a job; returns the message to show (a refused action's reason, verbatim)."""
    if job_id is None:
        return "Select a job first."
    try:
        if action == "cancel":
            job = jobs.cancel(root, job_id, wait=False)  # the trainer checkpoints and ends on its own
            return f"Job {job_id}: cancel requested ({job.status})."
        jobs.resume(root, job_id)
        return f"Job {job_id}: queued again; it resumes from its last checkpoint."
    except jobs.JobError as err:
        return f"❌ {err}"


@dataclass
class JobsTab:
    """What the app wires to: `refresh` with its inputs and outputs (used after Start and on tab select)."""

    table: gr.Dataframe
    timer: gr.Timer
    refresh_inputs: list
    refresh_outputs: list
    refresh: Any


def build(root: Path, app: gr.Blocks) -> JobsTab:
    """Render the Jobs tab's contents in the current Blocks context."""
    selected = gr.State(None)  # the job id this visitor watches; None: the newest
    watch = gr.State(None)
    timer = gr.Timer(POLL_S, active=False)

    with gr.Row():
        refresh_btn = gr.Button("↻ Refresh", scale=0, min_width=120, elem_id="jobs-refresh")
        message = gr.Markdown("", elem_id="jobs-message")
    table = gr.Dataframe(headers=COLUMNS, value=jobs_frame([]), interactive=False, label="Jobs (click a row)",
                         elem_id="jobs-table", max_height=300)
    title = gr.Markdown("No job selected.", elem_id="job-title")
    progress = gr.Textbox(label="Progress", interactive=False, elem_id="job-progress")
    with gr.Row():
        loss = gr.LinePlot(loss_frame(RunState()), x="step", y="loss", title="Training loss", height=260,
                           elem_id="job-loss")
        gallery = gr.Gallery(label="Latest samples", columns=3, height=260, elem_id="job-samples")
    logs = gr.Textbox(label="Last log lines", lines=8, max_lines=12, interactive=False, elem_id="job-logs")
    with gr.Row():
        cancel_btn = gr.Button("Cancel", variant="stop", interactive=False, elem_id="job-cancel")
        resume_btn = gr.Button("Resume", interactive=False, elem_id="job-resume")
        download_btn = gr.Button("Download model files", interactive=False, elem_id="job-download")
    files = gr.File(label="Model files", file_count="multiple", interactive=False, elem_id="job-files")

    def refresh(job_id: int | None, current: Watch | None) -> list[Any]:
        store = jobs.JobStore(root)
        try:
            all_jobs = store.list()
            queue = store.queued()
        finally:
            store.close()
        active = any(j.status in ("queued", "running") for j in all_jobs)
        if active and jobs.worker_pid(root) is None:
            jobs.ensure_worker(root)  # e.g. the app restarted with a queue: someone has to drain it
        by_id = {j.id: j for j in all_jobs}
        job = by_id.get(job_id) if job_id is not None else (all_jobs[-1] if all_jobs else None)
        w = current or Watch()
        out: list[Any] = [jobs_frame(all_jobs), job.id if job else None, w]
        if job is None:
            return [*out, "No jobs yet: start one in the Train tab.", "", gr.skip(), gr.skip(), "",
                    gr.Button(interactive=False), gr.Button(interactive=False), gr.Button(interactive=False),
                    gr.Timer(active=active)]
        header = f"### Job {job.id}: {job.name} ({job.profile}), {ICONS.get(job.status, '')} {job.status}"
        if job.error:
            header += f"\n\n❌ {job.error}"
        if job.status == "queued" or job.pid is None:  # not launched: its folder may hold an earlier run's events
            position = next((i + 1 for i, q in enumerate(queue) if q.id == job.id), 0)
            line = f"{ICONS['queued']} queued ({position} of {len(queue)})" if position else job.status
            state = RunState()
        else:
            state = w.read(job)
            line = progress_line(state, queue=len(queue))
        pictures = samples_of(state)
        gallery_key = tuple(p for p, _ in pictures)
        gallery_value = gr.skip() if gallery_key == w.gallery else pictures  # no flicker while unchanged
        w.gallery = gallery_key
        log_text = tail(job.log_path) or "\n".join(state.logs[-LOG_LINES:])
        return [*out, header, line, loss_frame(state), gallery_value, log_text,
                gr.Button(interactive=job.status in ("queued", "running")),
                gr.Button(interactive=job.status in ("cancelled", "failed")),
                gr.Button(interactive=bool(model_files(job))), gr.Timer(active=active)]

    def select(evt: gr.SelectData, current: Watch | None) -> list[Any]:
        row = evt.row_value or []
        return refresh(int(row[0]) if row else None, current)

    def download(job_id: int | None) -> list[str] | None:
        store = jobs.JobStore(root)
        try:
            job = store.get(job_id) if job_id is not None else None
        finally:
            store.close()
        found = model_files(job) if job else []
        if not found:
            gr.Warning("This job has no model files yet.")
            return None
        return found

    inputs = [selected, watch]
    outputs = [table, selected, watch, title, progress, loss, gallery, logs, cancel_btn, resume_btn, download_btn,
               timer]
    timer.tick(refresh, inputs, outputs, show_progress="hidden", concurrency_id="jobs-poll",
               concurrency_limit=4)
    refresh_btn.click(refresh, inputs, outputs)
    table.select(select, [watch], outputs)
    app.load(refresh, inputs, outputs)
    cancel_btn.click(lambda j: job_action(root, "cancel", j), selected, message).then(refresh, inputs, outputs)
    resume_btn.click(lambda j: job_action(root, "resume", j), selected, message).then(refresh, inputs, outputs)
    download_btn.click(download, selected, files)
    return JobsTab(table, timer, inputs, outputs, refresh)
