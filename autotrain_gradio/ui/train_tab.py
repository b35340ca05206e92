"""The Train tab: a dataset (a folder on the server, or an upload saved under <workspace>/uploads/), a profile, a
name and the settings form; "Validate" is the pipeline's dry run, "Start training" queues a job.

Everything goes through `run_pipeline`, the same function the CLI calls: the UI adds no rules of its own, and
every error it shows is the pipeline's text, unchanged. Nothing here trains: a job is queued and the background
worker (jobs/) runs it in its own process.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from autotrain_gradio.config import to_toml
from autotrain_gradio.jobs.inprocess import on_zerogpu
from autotrain_gradio.pipeline import PipelineResult
from autotrain_gradio.profiles import ProfileError, list_profiles
from autotrain_gradio.tasks import MODELS, TASKS
from autotrain_gradio.ui import columns
from autotrain_gradio.ui.actions import ActionError, AppContext, run_request
from autotrain_gradio.ui.form import build_form, form_values, overrides_from_form
from autotrain_gradio.ui.manage import save_profile
from autotrain_gradio.ui.offered import not_installed_html, offered
from autotrain_gradio.ui.uploads import ACCEPTED, delete_upload, save_upload

DEFAULT_PROFILE = "TinyFluxLORA"  # runs anywhere (CPU, no download), so the first click works

# The pipeline speaks CLI; the app names its own fields instead.
APP_WORDS = [
    (re.compile(r"pass --skip-copy to reuse it or --force to replace it"),
     "tick “Replace an earlier run of this name” to replace it, or choose another Dataset name"),
    (re.compile(r"pass --force to replace it"), "tick “Replace an earlier run of this name” to replace it"),
    (re.compile(r"\(autotrain train cancel --job (\d+)\)"), r"(Cancel job \1 in the Jobs tab)"),
    (re.compile(r"another --dataset-name"), "another Dataset name"),
    (re.compile(r"--force"), "“Replace an earlier run”"),
    (re.compile(r"--min-images"), "Min images"),
    (re.compile(r"--set\b"), "the Settings form"),
]


def app_words(text: str) -> str:
    """A pipeline message with its CLI flags replaced by the names of the app's fields."""
    for pattern, words in APP_WORDS:
        text = pattern.sub(words, text)
    return text


def report_html(result: PipelineResult, started: bool = False) -> str:
    """The pipeline's result as HTML: errors and warnings verbatim (escaped, never reworded), then the plan."""
    def esc(text: str) -> str:
        return html.escape(app_words(text))

    parts = []
    ran_here = started and result.job_id is not None and any("in this process" in p.message for p in result.phases)
    if ran_here:  # trained in the app's own process: it has ended, well or not
        parts.append(f"<h3>🏁 Job {result.job_id}: {esc(result.phases[-1].message)}</h3>")
    elif result.errors:
        parts.append("<h3>❌ Not valid: nothing was written</h3>")
        parts.append("<ul class='errors'>" + "".join(f"<li>{esc(e)}</li>" for e in result.errors) + "</ul>")
    elif started and result.job_id is not None:
        parts.append(f"<h3>🚀 Queued as job {result.job_id}: {esc(result.name)}</h3>"
                     "<p>Follow it in the Jobs tab.</p>")
    else:
        parts.append(f"<h3>✅ Valid: {esc(result.name)} with profile {esc(result.profile)}</h3>")
    if result.warnings:
        parts.append("<ul class='warnings'>" + "".join(f"<li>⚠️ {esc(w)}</li>" for w in result.warnings) + "</ul>")
    phases = [f"<li>{'✓' if p.ok else '✗'} {esc(p.phase)}: {esc(p.message)}</li>" for p in result.phases]
    if phases and not result.errors:  # a failed phase's message is the first error again
        parts.append("<ul class='phases'>" + "".join(phases) + "</ul>")
    if result.plan and not started:
        parts.append("<p><b>Plan</b></p><ul class='plan'>" + "".join(f"<li>{esc(s)}</li>" for s in result.plan)
                     + "</ul>")
    if result.config is not None and not result.errors:
        parts.append(f"<details><summary>config.toml</summary><pre>{esc(to_toml(result.config))}</pre></details>")
    return "\n".join(parts)


def _error_html(message: str) -> str:
    text = html.escape(app_words(message))
    return f"<h3>❌ Not valid: nothing was written</h3><ul class='errors'><li>{text}</li></ul>"


@dataclass
class TrainTab:
    """The components other tabs and the app wire to."""

    profile: gr.Dropdown
    dataset_path: gr.Textbox
    dataset_name: gr.Textbox
    report: gr.HTML
    forms: dict[str, dict[str, gr.components.Component]]
    started_job: gr.State  # the id of the job this visitor just started (the Jobs tab follows it)
    start_event: Any  # the Start click's dependency, so the app can chain a jobs refresh after it


def build(ctx: AppContext, app: gr.Blocks) -> TrainTab:
    """Render the Train tab's contents in the current Blocks context."""
    root = ctx.root
    profiles = list_profiles(root)
    names = offered(profiles)  # only what can train here; the rest are listed apart with their pip command
    chosen = DEFAULT_PROFILE if DEFAULT_PROFILE in names else next(iter(names), None)
    chosen_task = profiles[chosen].task if chosen else next(iter(TASKS))
    uploads_only = ctx.access.mode == "space"  # a Space reads no server folders

    with gr.Row():
        with gr.Column(scale=3):
            dataset_path = gr.Textbox(label="Dataset folder (on this machine)", elem_id="dataset-path",
                                      visible=not uploads_only, interactive=not uploads_only,
                                      placeholder="/path/to/images  (images + optional .txt captions; class "
                                                  "sub-folders for a classifier)")
            upload = gr.File(label="Upload images, captions, a table (CSV/JSONL/Parquet) or a .zip of them",
                             file_count="multiple", file_types=ACCEPTED, elem_id="dataset-upload", height=120)
            remove_upload = gr.Button("Delete upload", size="sm", elem_id="delete-upload",
                                      visible=ctx.access.shared)  # the upload in the dataset box, yours only
        with gr.Column(scale=2):
            with gr.Row():
                profile = gr.Dropdown(choices=names, value=chosen, label="Profile", elem_id="profile",
                                      scale=5)
                refresh = gr.Button("↻", scale=0, min_width=48, size="sm", elem_id="profiles-refresh")
            description = gr.Markdown(profiles[chosen].description if chosen else "")
            gr.HTML(not_installed_html(profiles), elem_id="not-installed")
            with gr.Row():
                dataset_name = gr.Textbox(label="Dataset name", elem_id="dataset-name",
                                          placeholder="default: the folder name")
                min_images = gr.Number(value=1, minimum=1, precision=0, label="Min images", elem_id="min-images")
            force = gr.Checkbox(value=False, label="Replace an earlier run of this name", elem_id="force")
            # In the app's own process (Start waits for the end); not in a shared app, where the queue is fair.
            # On ZeroGPU every start trains in-process inside GPU grants, so there is nothing to choose.
            in_process = gr.Checkbox(value=False, label="Train in this app's process (Start waits until it ends)",
                                     elem_id="in-process", visible=not ctx.access.shared and not on_zerogpu())

    chosen_cfg = profiles[chosen].build() if chosen else None
    panel = columns.build(chosen_task, chosen_cfg)
    forms: dict[str, dict[str, gr.components.Component]] = {}
    groups: dict[str, gr.Group] = {}
    with gr.Accordion("Settings (from the profile; change what you need)", open=False, elem_id="settings"):
        for task in TASKS:
            base = chosen_cfg if chosen_cfg is not None and task == chosen_task else MODELS[task]()
            with gr.Group(visible=task == chosen_task) as groups[task]:
                forms[task] = build_form(task, base)

    with gr.Row():
        validate_btn = gr.Button("Validate", variant="secondary", elem_id="validate")
        start_btn = gr.Button("Start training", variant="primary", elem_id="start")
    with gr.Row():
        new_profile = gr.Textbox(label="Save these settings as a profile named", elem_id="new-profile-name",
                                 placeholder="e.g. MyFluxLoRA", scale=3)
        save_btn = gr.Button("Save as profile", elem_id="save-profile", scale=1)
    report = gr.HTML(elem_id="report")
    started_job = gr.State(None)

    all_fields = [c for form in forms.values() for c in form.values()]

    def on_profile(name: str | None, request: gr.Request) -> dict:
        try:
            prof = ctx.profile(ctx.access.user_of(request), name or "")
        except ProfileError as err:
            return {description: f"❌ {err}", report: ""}
        cfg = prof.build()
        values = form_values(prof.task, cfg)
        updates: dict = {description: prof.description, report: ""}  # an earlier result no longer applies
        updates.update(panel.for_profile(prof.task, cfg))
        updates.update({groups[t]: gr.Group(visible=t == prof.task) for t in TASKS})
        updates.update({forms[prof.task][k]: v for k, v in values.items()})
        return updates

    def on_refresh(current: str | None, request: gr.Request) -> gr.Dropdown:
        names = offered(ctx.profiles(ctx.access.user_of(request)))
        return gr.Dropdown(choices=names, value=current if current in names else (names[0] if names else None))

    def on_upload(files: list[str] | None, name: str, request: gr.Request) -> dict:
        try:
            folder = save_upload(ctx, ctx.access.user_of(request), files or [], name)
        except ActionError as err:  # shown where the last result was, replacing it
            return {report: _error_html(str(err)), dataset_path: "", upload: None}
        shown = folder.relative_to(ctx.uploads(ctx.access.user_of(request)).parent)
        # The box empties once its files are saved, so the next upload is a new dataset, not these plus more.
        return {dataset_path: str(folder), upload: None,
                report: f"<p>📁 Uploaded into uploads/{html.escape(str(shown))}</p>"}

    def on_delete_upload(path: str, request: gr.Request) -> dict:
        try:
            done = delete_upload(ctx, ctx.access.user_of(request), path)
        except ActionError as err:
            return {report: _error_html(str(err))}
        return {report: f"<p>🗑️ {html.escape(done['message'])}</p>", dataset_path: ""}

    def run(data: dict, dry_run: bool, request: gr.Request) -> dict:
        user = ctx.access.user_of(request)
        try:
            prof = ctx.profile(user, data[profile] or "")
        except ProfileError as err:
            return {report: _error_html(str(err)), started_job: None}
        values = {k: data[c] for k, c in forms[prof.task].items()}
        overrides = overrides_from_form(prof.task, values, prof.build())
        result = run_request(ctx, user, data[dataset_path] or "", prof.name, dataset_name=data[dataset_name] or "",
                             overrides=overrides, column_mapping=panel.mapping(prof.task, data),
                             min_images=int(data[min_images] or 1), force=bool(data[force]),
                             dry_run=dry_run, in_process=bool(data[in_process]) and not ctx.access.shared)
        return {report: report_html(result, started=not dry_run), started_job: result.job_id}

    def save(data: dict, request: gr.Request) -> dict:
        user = ctx.access.user_of(request)
        try:
            prof = ctx.profile(user, data[profile] or "")
            values = {k: data[c] for k, c in forms[prof.task].items()}
            settings = {**overrides_from_form(prof.task, values, prof.build()), **panel.mapping(prof.task, data)}
            path = save_profile(ctx, user, prof.name, data[new_profile], settings)
        except (ActionError, ProfileError) as err:
            return {report: _error_html(str(err))}
        names = offered(ctx.profiles(user))
        where = "in your own profiles" if ctx.access.shared else f"({path})"  # no server path in a shared app
        return {report: f"<p>💾 Saved profile {html.escape(path.stem)} {html.escape(where)}</p>",
                profile: gr.Dropdown(choices=names, value=path.stem), new_profile: ""}

    def show_table(path: str, request: gr.Request) -> dict:
        rows, names, note = columns.preview(ctx, ctx.access.user_of(request), path)
        updates = {panel.rows: rows if rows is not None else pd.DataFrame(), panel.note: note}
        if names:
            updates.update(panel.for_table(names))
        return updates

    def validate(data: dict, request: gr.Request) -> dict:
        return run(data, True, request)

    def start(data: dict, request: gr.Request) -> dict:
        return run(data, False, request)

    inputs = {profile, dataset_path, dataset_name, min_images, force, in_process, *all_fields,
              *panel.all_dropdowns}
    # The form resets only when a person picks a profile (or refreshes the list), never when the page load
    # re-sends the same choice: that would overwrite what they typed meanwhile.
    form_outputs = [description, report, *groups.values(), *all_fields, *panel.components]
    profile.input(on_profile, profile, form_outputs, api_visibility="private")
    refresh.click(on_refresh, profile, profile, api_visibility="private").then(
        on_profile, profile, form_outputs, api_visibility="private")
    app.load(on_refresh, profile, profile, api_visibility="private")
    dataset_path.input(lambda: "", None, report, api_visibility="private")  # a new dataset: the old result goes
    table_outputs = [panel.rows, panel.note, *panel.all_dropdowns]
    upload.upload(on_upload, [upload, dataset_name], [dataset_path, report, upload], concurrency_id="dataset",
                  api_name="upload_dataset").then(show_table, dataset_path, table_outputs, api_visibility="private")
    remove_upload.click(on_delete_upload, dataset_path, [report, dataset_path], api_visibility="private")
    gr.on([dataset_path.blur, dataset_path.submit], show_table, dataset_path, table_outputs,
          api_visibility="private")
    # Validation decodes every image and Start copies the dataset: one at a time, off the UI's fast path.
    validate_btn.click(validate, inputs, [report, started_job],
                       concurrency_id="dataset", concurrency_limit=1, api_visibility="private")
    save_btn.click(save, {*inputs, new_profile}, [report, profile, new_profile], api_visibility="private")
    start_event = start_btn.click(start, inputs, [report, started_job],
                                  concurrency_id="dataset", api_visibility="private")
    return TrainTab(profile, dataset_path, dataset_name, report, forms, started_job, start_event)
