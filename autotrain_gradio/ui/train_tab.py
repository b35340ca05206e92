"""The Train tab: a dataset (a folder on the server, or an upload saved under <workspace>/uploads/), a profile, a
name and the settings form; "Validate" is the pipeline's dry run, "Start training" queues a job.

Everything goes through `run_pipeline`, the same function the CLI calls: the UI adds no rules of its own, and
every error it shows is the pipeline's text, unchanged. Nothing here trains: a job is queued and the background
worker (jobs/) runs it in its own process.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from autotrain_gradio.config import to_toml
from autotrain_gradio.pipeline import PipelineResult, run_pipeline
from autotrain_gradio.profiles import ProfileError, get_profile, list_profiles
from autotrain_gradio.tasks import MODELS, TASKS
from autotrain_gradio.ui.form import build_form, form_values, overrides_from_form
from autotrain_gradio.workspace import check_name, extract_zip, suggest_name

DEFAULT_PROFILE = "TinyFluxLORA"  # runs anywhere (CPU, no download), so the first click works


def uploads_dir(root: Path) -> Path:
    return root / "uploads"


def save_upload(files: list[str], root: Path, name: str = "") -> Path:
    """Copy uploaded images and captions (and the contents of zips) into a new <root>/uploads/<name>/ and return
    the dataset folder. A zip holding one top-level folder yields that folder, so class sub-folders keep working."""
    if not files:
        raise gr.Error("nothing uploaded; add images (with .txt captions) or a .zip of them")
    first = Path(files[0])
    base = name if name and check_name(name) is None else suggest_name(first.stem if len(files) == 1 else "upload")
    dest, n = uploads_dir(root) / base, 1
    while dest.exists():  # never mix two uploads: each gets its own folder
        n += 1
        dest = uploads_dir(root) / f"{base}-{n}"
    dest.mkdir(parents=True)
    for file in map(Path, files):
        if file.suffix.lower() == ".zip":
            try:
                extract_zip(file, dest)
            except ValueError as err:
                raise gr.Error(str(err)) from None
        else:
            shutil.copy2(file, dest / file.name)
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def report_html(result: PipelineResult, started: bool = False) -> str:
    """The pipeline's result as HTML: errors and warnings verbatim (escaped, never reworded), then the plan."""
    esc = html.escape
    parts = []
    if result.errors:
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
    return f"<h3>❌ Not valid: nothing was written</h3><ul class='errors'><li>{html.escape(message)}</li></ul>"


@dataclass
class TrainTab:
    """The components other tabs and the app wire to."""

    profile: gr.Dropdown
    dataset_path: gr.Textbox
    dataset_name: gr.Textbox
    report: gr.HTML
    forms: dict[str, dict[str, gr.components.Component]]
    start_event: Any  # the Start click's dependency, so the app can chain a jobs refresh after it


def build(root: Path, app: gr.Blocks) -> TrainTab:
    """Render the Train tab's contents in the current Blocks context."""
    profiles = list_profiles(root)
    chosen = DEFAULT_PROFILE if DEFAULT_PROFILE in profiles else next(iter(sorted(profiles)), None)
    chosen_task = profiles[chosen].task if chosen else next(iter(TASKS))

    with gr.Row():
        with gr.Column(scale=3):
            dataset_path = gr.Textbox(label="Dataset folder (on this machine)", elem_id="dataset-path",
                                      placeholder="/path/to/images  (images + optional .txt captions; class "
                                                  "sub-folders for a classifier)")
            upload = gr.File(label="…or upload images, captions or a .zip", file_count="multiple",
                             file_types=["image", ".txt", ".zip"], elem_id="dataset-upload", height=120)
        with gr.Column(scale=2):
            with gr.Row():
                profile = gr.Dropdown(choices=sorted(profiles), value=chosen, label="Profile", elem_id="profile",
                                      scale=5)
                refresh = gr.Button("↻", scale=0, min_width=48, size="sm", elem_id="profiles-refresh")
            description = gr.Markdown(profiles[chosen].description if chosen else "")
            with gr.Row():
                dataset_name = gr.Textbox(label="Dataset name", elem_id="dataset-name",
                                          placeholder="default: the folder name")
                min_images = gr.Number(value=1, minimum=1, precision=0, label="Min images", elem_id="min-images")
            force = gr.Checkbox(value=False, label="Replace an earlier run of this name (--force)", elem_id="force")

    forms: dict[str, dict[str, gr.components.Component]] = {}
    groups: dict[str, gr.Group] = {}
    with gr.Accordion("Settings (from the profile; change what you need)", open=False, elem_id="settings"):
        for task in TASKS:
            base = profiles[chosen].build() if chosen and task == chosen_task else MODELS[task]()
            with gr.Group(visible=task == chosen_task) as groups[task]:
                forms[task] = build_form(task, base)

    with gr.Row():
        validate_btn = gr.Button("Validate", variant="secondary", elem_id="validate")
        start_btn = gr.Button("Start training", variant="primary", elem_id="start")
    report = gr.HTML(elem_id="report")

    all_fields = [c for form in forms.values() for c in form.values()]

    def on_profile(name: str | None) -> dict:
        try:
            prof = get_profile(name or "", root)
        except ProfileError as err:
            return {description: f"❌ {err}"}
        values = form_values(prof.task, prof.build())
        updates: dict = {description: prof.description}
        updates.update({groups[t]: gr.Group(visible=t == prof.task) for t in TASKS})
        updates.update({forms[prof.task][k]: v for k, v in values.items()})
        return updates

    def on_refresh(current: str | None) -> gr.Dropdown:
        names = sorted(list_profiles(root))
        return gr.Dropdown(choices=names, value=current if current in names else (names[0] if names else None))

    def on_upload(files: list[str] | None, name: str) -> tuple[str, str]:
        folder = save_upload(files or [], root, name)
        return str(folder), f"<p>📁 Uploaded into {html.escape(str(folder))}</p>"

    def run(data: dict, dry_run: bool) -> str:
        try:
            prof = get_profile(data[profile] or "", root)
        except ProfileError as err:
            return _error_html(str(err))
        if not (data[dataset_path] or "").strip():
            return _error_html("no dataset: enter a folder path or upload images first")
        values = {k: data[c] for k, c in forms[prof.task].items()}
        overrides = overrides_from_form(prof.task, values, prof.build())
        result = run_pipeline(data[dataset_path].strip(), prof.name, dataset_name=(data[dataset_name] or "").strip()
                              or None, min_images=int(data[min_images] or 1), force=bool(data[force]),
                              dry_run=dry_run, workspace=root, overrides=overrides, quiet=True)
        return report_html(result, started=not dry_run)

    inputs = {profile, dataset_path, dataset_name, min_images, force, *all_fields}
    # The form resets only when a person picks a profile (or refreshes the list), never when the page load
    # re-sends the same choice: that would overwrite what they typed meanwhile.
    form_outputs = [description, *groups.values(), *all_fields]
    profile.input(on_profile, profile, form_outputs)
    refresh.click(on_refresh, profile, profile).then(on_profile, profile, form_outputs)
    app.load(on_refresh, profile, profile)
    upload.upload(on_upload, [upload, dataset_name], [dataset_path, report], concurrency_id="dataset")
    # Validation decodes every image and Start copies the dataset: one at a time, off the UI's fast path.
    validate_btn.click(lambda d: run(d, True), inputs, report, concurrency_id="dataset", concurrency_limit=1)
    start_event = start_btn.click(lambda d: run(d, False), inputs, report, concurrency_id="dataset")
    return TrainTab(profile, dataset_path, dataset_name, report, forms, start_event)
