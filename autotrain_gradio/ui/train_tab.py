"""The Train tab: a dataset (a folder on the server, or an upload saved under <workspace>/uploads/), a profile, a
name and the settings form; "Validate" is the pipeline's dry run, "Start training" queues a job.

Everything goes through `run_pipeline`, the same function the CLI calls: the UI adds no rules of its own, and
every error it shows is the pipeline's text, unchanged. Nothing here trains: a job is queued and the background
worker (jobs/) runs it in its own process.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from autotrain_gradio.config import to_toml
from autotrain_gradio.jobs.inprocess import on_zerogpu
from autotrain_gradio.pipeline import PipelineResult
from autotrain_gradio.profiles import ProfileError, list_profiles
from autotrain_gradio.tasks import TASKS
from autotrain_gradio.ui import columns
from autotrain_gradio.ui.actions import ActionError, AppContext, run_request, stage
from autotrain_gradio.ui.form import build_form, overrides_from_form, replaced_edits
from autotrain_gradio.ui.manage import save_profile
from autotrain_gradio.ui.offered import not_installed_html, offered
from autotrain_gradio.ui.uploads import ACCEPTED, CAPTION_SUFFIXES, TABLE_SUFFIXES, delete_upload, save_upload
from autotrain_gradio.workspace import IMAGE_EXTENSIONS

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


def reads_image_folders(task: str) -> bool:
    """True for the tasks that read a folder of images (tasks/images.py), whose "Min images" counts images; table
    tasks count rows, and their profile's minimum applies unchanged."""
    return TASKS[task].data.startswith("autotrain_gradio.tasks.images:")


THUMBS = 8
# Buttons say they are working the moment they are clicked (in the browser, before any server round trip).
BUSY_JS = "() => '⏳ {label}…'"


def upload_summary(folder: Path) -> tuple[str, list[Path]]:
    """'N files (a images, b captions, c tables)' of an upload, and its first images for thumbnails."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")] if folder.is_dir() \
        else [folder]
    images = sorted(p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS)
    captions = [p for p in files if p.suffix.lower() in CAPTION_SUFFIXES]
    tables = [p for p in files if p.suffix.lower() in TABLE_SUFFIXES]
    kinds = [f"{n} {what}" for n, what in ((len(images), "images"), (len(captions), "captions"),
                                            (len(tables), "tables")) if n]
    return f"{len(files)} files ({', '.join(kinds) or 'nothing usable'})", images[:THUMBS]


@dataclass
class TrainTab:
    """The components other tabs and the app wire to."""

    profile: gr.Dropdown
    dataset_path: gr.Textbox
    dataset_name: gr.Textbox
    report: gr.HTML
    form_state: gr.State  # {"profile", "columns", "n"}: what the rendered form and mapping are built from
    fields: dict[str, int]  # component counts of the last rendered form (for tests): {"form": n, "mapping": m}


def build(ctx: AppContext, app: gr.Blocks, started_job: gr.State) -> TrainTab:
    """Render the Train tab's contents in the current Blocks context. Only the chosen profile's task's form and
    column mapping exist in the page (a @gr.render keyed by the profile); Validate and Start send only those.
    `started_job` gets the id of each job started here (the Jobs tab follows it)."""
    root = ctx.root
    profiles = list_profiles(root)
    names = offered(profiles)  # only what can train here; the rest are listed apart with their pip command
    chosen = DEFAULT_PROFILE if DEFAULT_PROFILE in names else next(iter(names), None)
    chosen_prof = profiles[chosen] if chosen else None
    chosen_task = chosen_prof.task if chosen_prof else next(iter(TASKS))
    uploads_only = ctx.access.mode == "space"  # a Space reads no server folders
    is_image_task = reads_image_folders(chosen_task)

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
            upload_note = gr.Markdown("", elem_id="upload-note")
            thumbs = gr.Gallery(label="Uploaded images (first 8)", columns=8, height=110, visible=False,
                                elem_id="upload-thumbs", allow_preview=False, show_label=False)
        with gr.Column(scale=2):
            with gr.Row():
                profile = gr.Dropdown(choices=names, value=chosen, label="Profile", elem_id="profile",
                                      scale=5)
                refresh = gr.Button("↻", scale=0, min_width=48, size="sm", elem_id="profiles-refresh")
            description = gr.Markdown(chosen_prof.description if chosen_prof else "")
            gr.HTML(not_installed_html(profiles), elem_id="not-installed")
            with gr.Row():
                dataset_name = gr.Textbox(label="Dataset name", elem_id="dataset-name",
                                          placeholder="default: the folder name")
                min_images = gr.Number(value=chosen_prof.min_images if chosen_prof else 1, minimum=1, precision=0,
                                       label="Min images", elem_id="min-images", visible=is_image_task,
                                       info="refuse a dataset with fewer (from the profile)")
            force = gr.Checkbox(value=False, label="Replace an earlier run of this name", elem_id="force")
            # In the app's own process (Start waits for the end); not in a shared app, where the queue is fair.
            # On ZeroGPU every start trains in-process inside GPU grants, so there is nothing to choose.
            in_process = gr.Checkbox(value=False, label="Train in this app's process (Start waits until it ends)",
                                     elem_id="in-process", visible=not ctx.access.shared and not on_zerogpu())

    panel = columns.build(chosen_task)
    form_state = gr.State({"profile": chosen, "n": 0})  # set when a profile is picked: the form re-renders
    table_columns = gr.State([])  # the dataset table's columns (the mapping offers them; no re-render)
    uploaded = gr.State(0.0)  # changes after each upload is saved: the table preview follows
    counts: dict[str, int] = {}
    rendered = gr.Column(elem_id="form-area")  # the @gr.render below fills this, buttons included
    profile_note = gr.Markdown("", elem_id="profile-note")
    report = gr.HTML(elem_id="report")
    fixed = {profile, dataset_path, dataset_name, min_images, force, in_process}

    def request_args(prof, data: dict, form: dict, dropdowns: dict) -> dict:
        values = {k: data[c] for k, c in form.items()}
        image_task = reads_image_folders(prof.task)
        return {"overrides": overrides_from_form(prof.task, values, prof.build()),
                "column_mapping": columns.mapping(dropdowns, data),
                "min_images": int(data[min_images] or 1) if image_task else prof.min_images}

    with rendered:
        @gr.render(inputs=[form_state, table_columns], triggers=[app.load, form_state.change])
        def form_area(state: dict, names: list[str], request: gr.Request):
            user = ctx.access.user_of(request)
            try:
                prof = ctx.profile(user, state.get("profile") or "")
            except ProfileError:
                gr.Markdown("Pick a profile.")
                return
            cfg, key = prof.build(), (prof.name, state.get("n", 0))
            dropdowns = columns.build_dropdowns(prof.task, cfg, list(names or []), key)
            with gr.Accordion("Settings (from the profile; change what you need)", open=False, elem_id="settings",
                              key=("settings",), preserved_by_key=["open"]):
                form = build_form(prof.task, cfg, key=key)
            # The buttons live with the form they send: none can be clicked before the form is there.
            with gr.Row():
                validate_btn = gr.Button("Validate", variant="secondary", elem_id="validate", key="validate")
                start_btn = gr.Button("Start training", variant="primary", elem_id="start", key="start")
            with gr.Row():
                new_profile = gr.Textbox(label="Save these settings as a profile named", elem_id="new-profile-name",
                                         placeholder="e.g. MyFluxLoRA", key="new-profile-name", interactive=True)
                save_btn = gr.Button("Save as profile", elem_id="save-profile", scale=0, min_width=160,
                                     key="save-profile")
            counts.update(form=len(form), mapping=len(dropdowns))
            inputs = {*fixed, *form.values(), *dropdowns.values()}

            def on_profile(data: dict) -> dict:
                name = data[profile]
                if name == state.get("profile"):  # focus, tabbing, an opened list: same profile, nothing to redo
                    return {form_state: gr.skip()}
                try:
                    new = ctx.profile(user, name or "")
                except ProfileError as err:
                    return {description: f"❌ {err}", report: ""}
                replaced = replaced_edits(prof.task, {k: data[c] for k, c in form.items()}, cfg, new.build())
                note = f"Loaded profile **{html.escape(new.name)}**"
                note += f"; it replaced your edits: {'; '.join(replaced)}" if replaced else "."
                image_task = reads_image_folders(new.task)
                return {form_state: {**state, "profile": new.name, "n": state.get("n", 0) + 1},
                        description: new.description, report: "", profile_note: note,
                        min_images: gr.Number(value=new.min_images, visible=image_task),
                        panel.box: gr.Accordion(visible=bool(columns.column_keys(new.task)))}

            def run(data: dict, dry_run: bool, request: gr.Request) -> dict:
                user = ctx.access.user_of(request)
                result = run_request(ctx, user, data[dataset_path] or "", prof.name,
                                     dataset_name=data[dataset_name] or "", force=bool(data[force]), dry_run=dry_run,
                                     in_process=bool(data[in_process]) and not ctx.access.shared,
                                     **request_args(prof, data, form, dropdowns))
                return {report: report_html(result, started=not dry_run)} | (
                    {started_job: result.job_id} if result.job_id is not None else {})

            def validate(data: dict, request: gr.Request) -> dict:
                return run(data, True, request) | {validate_btn: gr.Button("Validate")}

            def start(data: dict, request: gr.Request) -> dict:
                return run(data, False, request) | {start_btn: gr.Button("Start training")}

            def save(data: dict, request: gr.Request) -> dict:
                try:
                    args = request_args(prof, data, form, dropdowns)
                    settings = {**args["overrides"], **args["column_mapping"]}
                    path = save_profile(ctx, user, prof.name, data[new_profile], settings)
                except (ActionError, ProfileError) as err:
                    return {report: _error_html(str(err))}
                names = offered(ctx.profiles(user))
                where = "in your own profiles" if ctx.access.shared else f"({path})"  # no server path when shared
                # The saved profile becomes the chosen one; the form is rebuilt from it (the same values).
                return {report: f"<p>💾 Saved profile {html.escape(path.stem)} {html.escape(where)}</p>",
                        profile: gr.Dropdown(choices=names, value=path.stem), new_profile: "",
                        form_state: {**state, "profile": path.stem, "n": state.get("n", 0) + 1}}

            def offer(found: list[str]) -> dict:
                """The mapping dropdowns offer the table's columns, preselected (updated in place: a click on
                Validate meanwhile still reaches this form)."""
                return {dropdowns[k]: gr.Dropdown(choices=found, value=value, info=info)
                        for k, (value, info) in columns.mapping_choices(prof.task, cfg, found).items()}

            private = {"api_visibility": "private"}
            if dropdowns:
                table_columns.change(offer, table_columns, list(dropdowns.values()), **private)
            profile.input(on_profile, {*inputs}, [form_state, description, report, profile_note, min_images,
                                                  panel.box], **private)
            # Validation decodes every image and Start copies the dataset: one at a time, off the UI's fast path.
            validate_btn.click(validate, inputs, [report, started_job, validate_btn], concurrency_id="dataset",
                               concurrency_limit=1, **private)
            start_btn.click(start, inputs, [report, started_job, start_btn], concurrency_id="dataset", **private)
            save_btn.click(save, {*inputs, new_profile}, [report, profile, new_profile, form_state], **private)
            validate_btn.click(None, None, validate_btn, js=BUSY_JS.format(label="Validating"), **private)
            start_btn.click(None, None, start_btn, js=BUSY_JS.format(label="Starting"), **private)

    def on_refresh(current: str | None, request: gr.Request) -> gr.Dropdown:
        names = offered(ctx.profiles(ctx.access.user_of(request)))
        return gr.Dropdown(choices=names, value=current if current in names else (names[0] if names else None))

    def on_upload(files: list[str] | None, name: str, request: gr.Request) -> dict:
        user = ctx.access.user_of(request)
        try:
            folder = save_upload(ctx, user, files or [], name)
        except ActionError as err:  # shown where the last result was, replacing it
            return {report: _error_html(str(err)), dataset_path: "", upload_note: "", upload: None,
                    thumbs: gr.Gallery(visible=False)}
        summary, images = upload_summary(folder)
        table = columns.table_file(folder) if not images else None
        dataset = table if table is not None and table != folder else folder  # one table: the table itself
        shown = folder.relative_to(ctx.uploads(user).parent)
        # The box empties once its files are saved, so the next upload is a new dataset, not these plus more.
        return {dataset_path: str(dataset), upload: None, report: "",
                upload_note: f"📁 Uploaded {summary} into uploads/{html.escape(str(shown))}",
                thumbs: gr.Gallery(value=stage(images) if images else None, visible=bool(images)),
                uploaded: time.time()}

    def on_delete_upload(path: str, request: gr.Request) -> dict:
        try:
            done = delete_upload(ctx, ctx.access.user_of(request), path)
        except ActionError as err:
            return {report: _error_html(str(err))}
        return {report: f"<p>🗑️ {html.escape(done['message'])}</p>", dataset_path: "", upload_note: "",
                thumbs: gr.Gallery(value=None, visible=False)}

    def show_table(path: str, request: gr.Request) -> dict:
        rows, found, note = columns.preview(ctx, ctx.access.user_of(request), path)
        return {panel.rows: rows if rows is not None else pd.DataFrame(), panel.note: note, table_columns: found}

    private = {"api_visibility": "private"}
    table_outputs = [panel.rows, panel.note, table_columns]
    gr.on([uploaded.change, dataset_path.blur, dataset_path.submit], show_table, dataset_path, table_outputs,
          **private)
    refresh.click(on_refresh, profile, profile, **private)
    app.load(on_refresh, profile, profile, **private)
    dataset_path.input(lambda: "", None, report, **private)  # a new dataset: the old result goes
    upload.upload(on_upload, [upload, dataset_name], [dataset_path, report, upload, upload_note, thumbs, uploaded],
                  concurrency_id="dataset", api_name="upload_dataset")
    remove_upload.click(on_delete_upload, dataset_path, [report, dataset_path, upload_note, thumbs], **private)
    return TrainTab(profile, dataset_path, dataset_name, report, form_state, counts)
