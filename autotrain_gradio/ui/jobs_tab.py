"""The Jobs tab: every job in the store, and for the selected one its progress line, loss curve, latest samples and
last log lines; Cancel, Resume and Download.

It reads only the job store and the job's events.jsonl (through the same `job_tailer` and `progress_line` as
`autotrain train monitor`), so what it shows is what the terminal shows. A gr.Timer polls, and switches itself off
once nothing is queued or running. Which job a visitor watches, and how far its events have been read, is per-user
gr.State.
"""

from __future__ import annotations

import html
import re
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
from autotrain_gradio.monitor import ICONS, format_eta, format_loss
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


SAMPLING_TASKS = ("diffusion-lora", "diffusion-full")  # the tasks that draw samples while training


@lru_cache(maxsize=256)
def demo_note(config_path: str) -> str:
    """The note a tiny-model run gets (its samples are noise by design), '' for real runs."""
    try:
        cfg = load_config(config_path)
        base = str(cfg.base_model)
    except (OSError, ValueError, AttributeError):
        return ""
    return DEMO_NOTE.format(base=base) if base.startswith("tiny:") and cfg.task in SAMPLING_TASKS else ""


@dataclass
class Watch:
    """Per-user reading position in the selected job's events, so each tick reads only what is new."""

    key: tuple = ()
    tailer: EventTailer | None = None
    state: RunState = field(default_factory=RunState)
    shown: tuple = ()  # (job id, sample index, paths) the gallery shows: redrawn only when this changes
    status: str = ""  # the job status the last tick saw: a change clears the action message

    def read(self, job: jobs.Job) -> RunState:
        # One reader per job: a resumed attempt appends to the same events file, so the loss curve, the samples
        # and the start time keep what earlier attempts wrote.
        if self.key != (job.id,) or self.tailer is None:
            self.key, self.tailer, self.state, self.shown, self.status = (job.id,), job_tailer(job), RunState(), (), ""
        return self.state.update(self.tailer.poll())


def samples_of(state: RunState, index: int | None = None) -> list[tuple[str, str]]:
    """One sample event's images (the latest, or the `index`-th) with 'step N: prompt' captions."""
    if not state.samples:
        return []
    chosen = state.samples[-1 if index is None else max(0, min(int(index), len(state.samples) - 1))]
    prompts = list(chosen.get("prompts") or [])
    return [(p, f"step {chosen.get('step', '?')}: {prompts[i] if i < len(prompts) else ''}")
            for i, p in enumerate(chosen.get("paths") or []) if Path(p).is_file()]


# What the trainer logs for the operator (process ids, config digests) is not news for the person in the app.
OPERATOR_LINE = re.compile(r"trainer pid \d+.*")


def plain(text: str) -> str:
    """A trainer note or log line without operator details."""
    return OPERATOR_LINE.sub("the trainer started", text)


def progress_html(job: jobs.Job, state: RunState, queue: list[jobs.Job]) -> str:
    """A progress bar with percent, step/total, ETA and elapsed time (or the queue position / what the trainer is
    doing before its first step)."""
    if job.status == "queued":
        position = next((i + 1 for i, q in enumerate(queue) if q.id == job.id), 0)
        what = f"queued: {position} of {len(queue)} waiting" if position else "queued"
    elif job.status == "running" and not state.step:
        what = plain(state.note) or "starting"
    else:
        what = ""
    done = job.status == "completed"
    fraction = 1.0 if done else state.fraction
    elapsed = (job.finished or time.time()) - job.started if job.started else None
    eta = "-" if done or job.status != "running" else format_eta(state.eta_s)
    parts = [f"{fraction * 100:.0f}%", f"step {state.step or job.last_step}/{state.total or job.total_steps or '?'}",
             f"ETA {eta}", f"elapsed {format_eta(elapsed) if elapsed is not None else '-'}"]
    if state.loss is not None:
        parts.append(f"loss {format_loss(state.loss)}")
    text = " · ".join(parts) + (f" — {html.escape(what)}" if what else "")
    return (f"<div class='job-progress'><progress max='100' value='{fraction * 100:.1f}' "
            f"aria-label='training progress'></progress><span>{text}</span></div>")


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
    """What the app wires to: `refresh` (after a tab select) and `follow` (a job just started, from any tab)."""

    table: gr.Dataframe
    selected: gr.State
    watch: gr.State
    ended: gr.State  # how many of the visitor's jobs have ended: changes when one ends (run lists refresh then)
    timer: gr.Timer
    refresh_inputs: list
    refresh_outputs: list
    refresh: Any
    follow: Any


def build(ctx: AppContext, app: gr.Blocks, timer: gr.Timer) -> JobsTab:
    """Render the Jobs tab's contents in the current Blocks context. `timer` polls; it lives outside the tabs, since
    the browser mounts a tab's components only once it is opened, and the run lists of other tabs follow a job's
    end through it even when the Jobs tab was never opened."""
    selected = gr.State(None)  # the job id this visitor watches; None: their newest
    watch = gr.State(None)
    ended = gr.State(0)

    with gr.Row():
        refresh_btn = gr.Button("↻ Refresh", scale=0, min_width=120, elem_id="jobs-refresh")
        message = gr.Markdown("", elem_id="jobs-message")
    table = gr.Dataframe(headers=COLUMNS, value=jobs_frame([]), interactive=False, label="Jobs (click a row)",
                         elem_id="jobs-table", max_height=300)
    title = gr.Markdown("No job selected.", elem_id="job-title")
    progress = gr.HTML("", elem_id="job-progress")
    with gr.Row():
        loss = gr.LinePlot(loss_frame(RunState()), x="step", y="loss", color="series", title="Loss (train, eval)",
                           height=260, elem_id="job-loss", color_map={"train": "#1f5fa8", "eval": "#b3471b"},
                           visible=False)
        with gr.Column(visible=False) as samples_box:
            gallery = gr.Gallery(label="Samples", columns=3, height=230, elem_id="job-samples")
            history = gr.Slider(0, 1, value=0, step=1, label="Sample history (0: first samples)",
                                elem_id="job-sample-history", interactive=True)
    metrics = gr.Dataframe(metrics_frame(RunState()), label="Evaluation metrics (per epoch)", interactive=False,
                           elem_id="job-metrics", max_height=220, visible=False)
    logs = gr.Textbox(label="Log (newest last; the raw output is in the download)", lines=8, max_lines=12,
                      interactive=False, elem_id="job-logs", autoscroll=True)
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
    buttons = (cancel_btn, resume_btn, download_btn, raw_btn, retry_btn, duplicate_btn, delete_btn)

    def nothing(text: str, w: Watch, active: bool) -> dict:
        return {table: jobs_frame([]) if not active else gr.skip(), selected: None, watch: w, title: text,
                progress: "", loss: gr.LinePlot(visible=False), samples_box: gr.Column(visible=False),
                metrics: gr.Dataframe(visible=False), logs: "", timer: gr.Timer(active=active),
                **{b: gr.Button(interactive=False) for b in buttons}}

    def refresh(job_id: int | None, current: Watch | None, request: gr.Request) -> dict:
        user = ctx.access.user_of(request)
        w = current or Watch()
        jobs.supervise(ctx.root)  # the app restarted with a queue, a worker died: nothing stays stuck
        try:
            mine = ctx.visible_jobs(user)
        except ActionError as err:
            return nothing(str(err), w, False)
        store = jobs.JobStore(ctx.root)
        try:
            queue = store.queued()
        finally:
            store.close()
        active = any(j.status in ("queued", "running") for j in mine)
        finished = {ended: sum(j.done for j in mine)}
        by_id = {j.id: j for j in mine}
        job = by_id.get(job_id) if job_id is not None else (mine[-1] if mine else None)
        if job is None:
            return nothing("No jobs yet: start one in the Train tab.", w, active) | {table: jobs_frame(mine)} | finished
        header = f"### Job {job.id}: {job.name} ({job.profile}), {ICONS.get(job.status, '')} {job.status}"
        if job.error:
            header += f"\n\n❌ {plain(job.error)}"
        if note := demo_note(job.config_path):
            header += f"\n\n{note}"
        switched = w.key != (job.id,)
        # Waiting; a resumed job keeps showing what its earlier attempts did.
        state = RunState() if job.status == "queued" and not job.resume and switched else w.read(job)
        out = {**finished, table: jobs_frame(mine), selected: job.id, watch: w, title: header,
               progress: progress_html(job, state, queue), timer: gr.Timer(active=active),
               logs: "\n".join(plain(line) for line in own_log_lines(state, LOG_LINES))}
        if w.status and w.status != job.status or switched:
            out[message] = ""  # an action's answer ("cancel requested") is stale once the job moved on
        w.status = job.status
        points = loss_frame(state)
        out[loss] = gr.LinePlot(value=points, visible=True) if len(points) else gr.LinePlot(visible=False)
        out.update(samples_update(job, state, w, None))
        out[metrics] = gr.Dataframe(metrics_frame(state), visible=bool(state.evals))  # only for tasks that evaluate
        out.update({cancel_btn: gr.Button(interactive=job.status in ("queued", "running")),
                    resume_btn: gr.Button(interactive=job.status in ("cancelled", "failed")),
                    download_btn: gr.Button(interactive=bool(model_files(job))),
                    raw_btn: gr.Button(interactive=job.log_path.is_file()),
                    retry_btn: gr.Button(interactive=job.status in ("cancelled", "failed")),
                    duplicate_btn: gr.Button(interactive=True), delete_btn: gr.Button(interactive=job.done)})
        return out

    def samples_update(job: jobs.Job, state: RunState, w: Watch, index: int | None) -> dict:
        """The samples of this job only (none: the panel hides), the latest unless the history slider points
        back; the gallery is redrawn only when what it shows changes (no flicker, no new copies)."""
        count = len(state.samples)
        if not count:
            w.shown = (job.id, None, ())
            return {samples_box: gr.Column(visible=False)}
        following = index is None or index >= count - 1
        pictures = samples_of(state, None if following else index)
        key = (job.id, count if following else index, tuple(p for p, _ in pictures))
        out: dict = {samples_box: gr.Column(visible=True)}
        if following:
            out[history] = gr.Slider(minimum=0, maximum=max(count - 1, 1), value=count - 1,
                                     label=f"Sample history: {count} sample sets (drag back for earlier steps)")
        if key != w.shown:
            staged = stage([Path(p) for p, _ in pictures])
            out[gallery] = [(path, caption) for path, (_, caption) in zip(staged, pictures, strict=True)]
        w.shown = key
        return out

    def browse(index: float, job_id: int | None, current: Watch | None, request: gr.Request) -> dict:
        if current is None or current.key != (job_id,) or job_id is None:
            return {}
        try:
            job = ctx.job(ctx.access.user_of(request), job_id)
        except ActionError:
            return {}
        return samples_update(job, current.state, current, int(index))

    def select(evt: gr.SelectData, current: Watch | None, request: gr.Request) -> dict:
        row = evt.row_value or []
        return refresh(int(row[0]) if row else None, current, request)

    def follow(job_id: int | None, current: Watch | None, request: gr.Request) -> dict:
        return refresh(job_id, current, request) if job_id is not None else {}

    def act(fn, job_id: int | None, current: Watch | None, request: gr.Request) -> dict:
        """Run a job action from the store alone (no queue, no GPU wait); its answer, then the job to show next:
        a duplicate's new id, none after a delete."""
        try:
            done = fn(ctx, ctx.access.user_of(request), job_id)
        except ActionError as err:
            return refresh(job_id, current, request) | {message: f"❌ {err}"}
        shown = refresh(None if fn is delete_job else done["id"], current, request)
        return shown | {message: done["message"]}

    def actions(fn):
        def handler(job_id: int | None, current: Watch | None, request: gr.Request) -> dict:
            return act(fn, job_id, current, request)
        return handler

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
    outputs = [table, selected, watch, title, progress, loss, samples_box, gallery, history, metrics, logs, message,
               *buttons, timer, ended]
    private = {"api_visibility": "private"}
    timer.tick(refresh, inputs, outputs, show_progress="hidden", concurrency_id="jobs-poll", concurrency_limit=4,
               **private)
    refresh_btn.click(refresh, inputs, outputs, **private)
    table.select(select, [watch], outputs, **private)
    app.load(refresh, inputs, outputs, **private)
    history.release(browse, [history, selected, watch], [samples_box, gallery, history], **private)
    for button, fn, busy in ((cancel_btn, cancel_job, "Cancelling"), (resume_btn, resume_job, "Resuming"),
                             (retry_btn, retry_job, "Retrying"), (duplicate_btn, duplicate_job, "Duplicating"),
                             (delete_btn, delete_job, "Deleting")):
        label = button.value
        button.click(None, None, button, js=f"() => '⏳ {busy}…'", **private)
        # Straight from the store: these never wait behind a poll, a Validate or the GPU queue.
        button.click(actions(fn), inputs, outputs, queue=False, **private).then(
            lambda label=label: gr.Button(value=label), None, button, queue=False, **private)
    download_btn.click(get_files, selected, files, **private)
    raw_btn.click(get_raw_log, selected, files, **private)
    return JobsTab(table, selected, watch, ended, timer, inputs, outputs, refresh, follow)
