"""The Jobs tab: every job in the store, and for the selected one its progress line, loss curve, latest samples and
last log lines; Cancel, Resume and Download.

It reads only the job store and the job's events.jsonl (through the same `job_tailer` and `progress_line` as
`autotrain train monitor`), so what it shows is what the terminal shows. A gr.Timer polls, and switches itself off
once nothing is queued or running. Which job a visitor watches, and how far its events have been read, is per-user
gr.State.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from autotrain_gradio import jobs
from autotrain_gradio.events import EventTailer, RunState
from autotrain_gradio.jobs.runs import job_tailer
from autotrain_gradio.monitor import ICONS, format_eta, progress_line
from autotrain_gradio.tasks import load_config
from autotrain_gradio.ui.actions import (
    LOG_LINES,
    ActionError,
    AppContext,
    cancel_job,
    download,
    model_files,
    own_log_lines,
    resume_job,
    stage,
)
from autotrain_gradio.ui.manage import delete_job, duplicate_job, retry_job

COLUMNS = ["id", "name", "profile", "status", "progress", "started", "duration"]
POLL_S = 1.5


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


DEMO_NOTE = ("ℹ️ Demo run: `{base}` is a tiny model with random weights built in code; it proves the pipeline works "
             "end to end and its samples are noise by design. Pick a real profile (FluxLORA, SDXL-LoRA, ...) for real "
             "images.")


@lru_cache(maxsize=256)
def demo_note(config_path: str) -> str:
    """The note a tiny-model run gets (its samples are noise by design), '' for real runs."""
    try:
        base = str(load_config(config_path).base_model)
    except (OSError, ValueError, AttributeError):
        return ""
    return DEMO_NOTE.format(base=base) if base.startswith("tiny:") else ""


@dataclass
class Watch:
    """Per-user reading position in the selected job's events, so each tick reads only what is new."""

    key: tuple = ()
    tailer: EventTailer | None = None
    state: RunState = field(default_factory=RunState)
    gallery: tuple = ()

    def read(self, job: jobs.Job) -> RunState:
        # One reader per job: a resumed attempt appends to the same events file, so the loss curve, the samples
        # and the start time keep what earlier attempts wrote.
        if self.key != (job.id,) or self.tailer is None:
            self.key, self.tailer, self.state, self.gallery = (job.id,), job_tailer(job), RunState(), ()
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
    """(step, loss, series) with numeric dtypes even when empty (the plot takes its axis types from the first
    frame): the training loss, and the eval loss beside it when the task evaluates."""
    points = [(s, v, "train") for s, v in state.losses]
    points += [(int(e["step"]), float(e["loss"]), "eval") for e in state.evals
               if e.get("loss") is not None and e.get("step") is not None]
    steps, losses, series = zip(*points, strict=True) if points else ((), (), ())
    return pd.DataFrame({"step": pd.Series(steps, dtype="int64"), "loss": pd.Series(losses, dtype="float64"),
                         "series": pd.Series(series, dtype="object")})


def metrics_frame(state: RunState) -> pd.DataFrame:
    """One row per evaluation (epoch, step, then each metric), as the trainer reported them."""
    if not state.evals:
        return pd.DataFrame({"epoch": [], "step": []})
    frame = pd.DataFrame(state.evals)
    ordered = ["epoch", "step", *sorted(c for c in frame.columns if c not in ("epoch", "step"))]
    return frame[ordered].round(4)


@dataclass
class JobsTab:
    """What the app wires to: `refresh` with its inputs and outputs (used after Start and on tab select)."""

    table: gr.Dataframe
    selected: gr.State
    timer: gr.Timer
    refresh_inputs: list
    refresh_outputs: list
    refresh: Any


def build(ctx: AppContext, app: gr.Blocks) -> JobsTab:
    """Render the Jobs tab's contents in the current Blocks context."""
    selected = gr.State(None)  # the job id this visitor watches; None: their newest
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
        loss = gr.LinePlot(loss_frame(RunState()), x="step", y="loss", color="series", title="Loss (train, eval)",
                           height=260, elem_id="job-loss")
        gallery = gr.Gallery(label="Latest samples", columns=3, height=260, elem_id="job-samples")
    metrics = gr.Dataframe(metrics_frame(RunState()), label="Evaluation metrics (per epoch)", interactive=False,
                           elem_id="job-metrics", max_height=220, visible=False)
    logs = gr.Textbox(label="Log (the trainer's own messages; the raw output is in the download)", lines=8,
                      max_lines=12, interactive=False, elem_id="job-logs")
    with gr.Row():
        cancel_btn = gr.Button("Cancel", variant="stop", interactive=False, elem_id="job-cancel")
        resume_btn = gr.Button("Resume", interactive=False, elem_id="job-resume")
        download_btn = gr.Button("Download model files", interactive=False, elem_id="job-download")
        raw_btn = gr.Button("Download raw log", interactive=False, elem_id="job-raw-log")
    with gr.Row():
        retry_btn = gr.Button("Retry from the start", interactive=False, elem_id="job-retry")
        duplicate_btn = gr.Button("Duplicate (same settings, new run)", interactive=False, elem_id="job-duplicate")
        delete_btn = gr.Button("Delete job and its output", variant="stop", interactive=False, elem_id="job-delete")
    files = gr.File(label="Files", file_count="multiple", interactive=False, elem_id="job-files")

    def refresh(job_id: int | None, current: Watch | None, request: gr.Request) -> list[Any]:
        user = ctx.access.user_of(request)
        w = current or Watch()
        jobs.supervise(ctx.root)  # the app restarted with a queue, a worker died: nothing stays stuck
        try:
            mine = ctx.visible_jobs(user)
        except ActionError as err:
            return [jobs_frame([]), None, w, str(err), "", gr.skip(), gr.skip(), gr.skip(), "",
                    *[gr.Button(interactive=False)] * 7, gr.Timer(active=False)]
        store = jobs.JobStore(ctx.root)
        try:
            queue = store.queued()
        finally:
            store.close()
        active = any(j.status in ("queued", "running") for j in mine)
        by_id = {j.id: j for j in mine}
        job = by_id.get(job_id) if job_id is not None else (mine[-1] if mine else None)
        out: list[Any] = [jobs_frame(mine), job.id if job else None, w]
        if job is None:
            return [*out, "No jobs yet: start one in the Train tab.", "", gr.skip(), gr.skip(), gr.skip(), "",
                    *[gr.Button(interactive=False)] * 7, gr.Timer(active=active)]
        header = f"### Job {job.id}: {job.name} ({job.profile}), {ICONS.get(job.status, '')} {job.status}"
        if job.error:
            header += f"\n\n❌ {job.error}"
        if note := demo_note(job.config_path):
            header += f"\n\n{note}"
        if job.status == "queued":  # waiting; a resumed job keeps showing what its earlier attempts did
            position = next((i + 1 for i, q in enumerate(queue) if q.id == job.id), 0)
            line = f"{ICONS['queued']} queued ({position} of {len(queue)})" if position else job.status
            state = w.read(job) if job.resume else RunState()
        else:
            state = w.read(job)
            line = progress_line(state, queue=len(queue))
        pictures = samples_of(state)
        gallery_key = tuple(p for p, _ in pictures)
        if gallery_key == w.gallery:
            gallery_value = gr.skip()  # no flicker (and no new copies) while unchanged
        else:
            staged = stage([Path(p) for p, _ in pictures])
            gallery_value = [(path, caption) for path, (_, caption) in zip(staged, pictures, strict=True)]
        w.gallery = gallery_key
        log_text = "\n".join(own_log_lines(state, LOG_LINES))
        metrics_value = gr.Dataframe(metrics_frame(state), visible=bool(state.evals))  # only for tasks that evaluate
        return [*out, header, line, loss_frame(state), gallery_value, metrics_value, log_text,
                gr.Button(interactive=job.status in ("queued", "running")),
                gr.Button(interactive=job.status in ("cancelled", "failed")),
                gr.Button(interactive=bool(model_files(job))), gr.Button(interactive=job.log_path.is_file()),
                gr.Button(interactive=job.status in ("cancelled", "failed")), gr.Button(interactive=True),
                gr.Button(interactive=job.done), gr.Timer(active=active)]

    def select(evt: gr.SelectData, current: Watch | None, request: gr.Request) -> list[Any]:
        row = evt.row_value or []
        return refresh(int(row[0]) if row else None, current, request)

    def act(fn, job_id: int | None, request: gr.Request) -> tuple[str, int | None]:
        """Run a job action; (message, the job to show next: a duplicate's new id, none after a delete)."""
        try:
            done = fn(ctx, ctx.access.user_of(request), job_id)
        except ActionError as err:
            return f"❌ {err}", job_id
        return done["message"], None if fn is delete_job else done["id"]

    def cancel(job_id: int | None, request: gr.Request) -> tuple[str, int | None]:
        return act(cancel_job, job_id, request)

    def resume(job_id: int | None, request: gr.Request) -> tuple[str, int | None]:
        return act(resume_job, job_id, request)

    def retry(job_id: int | None, request: gr.Request) -> tuple[str, int | None]:
        return act(retry_job, job_id, request)

    def duplicate(job_id: int | None, request: gr.Request) -> tuple[str, int | None]:
        return act(duplicate_job, job_id, request)

    def delete(job_id: int | None, request: gr.Request) -> tuple[str, int | None]:
        return act(delete_job, job_id, request)

    def get_files(job_id: int | None, request: gr.Request) -> list[str] | None:
        try:
            return download(ctx, ctx.access.user_of(request), job_id)
        except ActionError as err:
            gr.Warning(str(err))
            return None

    def get_raw_log(job_id: int | None, request: gr.Request) -> list[str] | None:
        try:
            job = ctx.job(ctx.access.user_of(request), job_id)
        except ActionError as err:
            gr.Warning(str(err))
            return None
        return stage([job.log_path]) if job.log_path.is_file() else None

    inputs = [selected, watch]
    outputs = [table, selected, watch, title, progress, loss, gallery, metrics, logs, cancel_btn, resume_btn,
               download_btn, raw_btn, retry_btn, duplicate_btn, delete_btn, timer]
    private = {"api_visibility": "private"}
    timer.tick(refresh, inputs, outputs, show_progress="hidden", concurrency_id="jobs-poll", concurrency_limit=4,
               **private)
    refresh_btn.click(refresh, inputs, outputs, **private)
    table.select(select, [watch], outputs, **private)
    app.load(refresh, inputs, outputs, **private)
    for button, fn in ((cancel_btn, cancel), (resume_btn, resume), (retry_btn, retry), (duplicate_btn, duplicate),
                       (delete_btn, delete)):
        button.click(fn, selected, [message, selected], **private).then(refresh, inputs, outputs, **private)
    download_btn.click(get_files, selected, files, **private)
    raw_btn.click(get_raw_log, selected, files, **private)
    return JobsTab(table, selected, timer, inputs, outputs, refresh)
