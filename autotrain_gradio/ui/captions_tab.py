"""The Captions tab: caption a folder of photos with a vision-language model (a queued job, like training), then fix
the captions by eye: every image of a prepared dataset (input/<name>) with its caption editable in place, images with
no caption flagged, the trigger word added or removed in bulk, find/replace across captions. Save writes the caption
files of the prepared copy only; the person's original folder is never touched.

Captioning goes through `run_request` (the Train tab's path: signed in, allowed folders, quotas, owner) with the
Captioning profile; the editor lists only the caller's own prepared datasets.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from autotrain_gradio.auth import User
from autotrain_gradio.pipeline.caption import CAPTION_PROFILE
from autotrain_gradio.pipeline.validate import MANIFEST
from autotrain_gradio.tasks.captioning.data import dataset_images, read_caption, with_prefix, write_caption
from autotrain_gradio.ui.actions import ActionError, AppContext, run_request

COLUMNS = ["image", "caption"]
MISSING = "⚠️ no caption"


def own_datasets(ctx: AppContext, user: User | None) -> list[str]:
    """Names of the caller's prepared image datasets in input/ (a shared app: the names it gave this user)."""
    user = ctx.signed_in(user)
    prefix = f"{user.folder}--" if ctx.access.shared else ""
    folder = ctx.root / "input"
    names = [p.name for p in folder.iterdir() if (p / MANIFEST).is_file()] if folder.is_dir() else []
    return sorted(n for n in names if n.startswith(prefix) and dataset_images(folder / n))


def dataset_folder(ctx: AppContext, user: User | None, name: str) -> Path:
    """input/<name> when it is one of the caller's prepared datasets, else an ActionError."""
    if not name or name not in own_datasets(ctx, user):
        raise ActionError(f"no prepared dataset named {name!r} among yours; caption or prepare one first", 404)
    return ctx.root / "input" / name


def load_captions(folder: Path) -> pd.DataFrame:
    """One row per image: its path inside the dataset and its caption ("" when it has none)."""
    rows = [[str(p.relative_to(folder)), read_caption(p)] for p in dataset_images(folder)]
    return pd.DataFrame(rows, columns=COLUMNS)


def add_trigger(frame: pd.DataFrame, word: str) -> pd.DataFrame:
    """Every caption starts with `word, ` (once)."""
    return frame.assign(caption=[with_prefix(str(c or ""), word) for c in frame["caption"]])


def remove_trigger(frame: pd.DataFrame, word: str) -> pd.DataFrame:
    """`word` (and the comma after it) taken out of every caption."""
    word = word.strip()
    if not word:
        return frame

    def strip(text: str) -> str:
        parts = [p.strip() for p in str(text or "").split(",")]
        return ", ".join(p for p in parts if p and p != word)

    return frame.assign(caption=[strip(c) for c in frame["caption"]])


def find_replace(frame: pd.DataFrame, find: str, replace: str) -> pd.DataFrame:
    """Plain-text find/replace across every caption."""
    if not find:
        return frame
    return frame.assign(caption=[" ".join(str(c or "").replace(find, replace).split()) for c in frame["caption"]])


def save_captions(folder: Path, frame: pd.DataFrame) -> int:
    """Write each row's caption next to its image in `folder` (an empty caption removes the file); rows naming
    anything but an image of this folder are refused. Returns how many files changed."""
    images = {str(p.relative_to(folder)): p for p in dataset_images(folder)}
    changed = 0
    for name, caption in zip(frame["image"], frame["caption"], strict=True):
        image = images.get(str(name))
        if image is None:
            raise ActionError(f"{name!r} is not an image of this dataset; reload the captions")
        text = " ".join(str(caption or "").split())
        if text == read_caption(image):
            continue
        if text:
            write_caption(image, text)
        else:
            image.with_suffix(".txt").unlink(missing_ok=True)
        changed += 1
    return changed


def gallery(folder: Path, frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(image path, caption or the missing mark) for the grid."""
    return [(str(folder / name), str(caption) if str(caption or "").strip() else MISSING)
            for name, caption in zip(frame["image"], frame["caption"], strict=True)]


def build(ctx: AppContext, app: gr.Blocks, started_job: gr.State | None = None) -> None:
    """Render the Captions tab's contents in the current Blocks context; `started_job` gets a captioning job's id
    (the Jobs tab follows it)."""
    started_job = started_job or gr.State(None)
    gr.Markdown("### Auto-caption\nCaptions go into the prepared copy `input/<name>/`, never your folder.")
    with gr.Row():
        path = gr.Textbox(label="Images folder (or an upload's folder from the Train tab)", elem_id="caption-path",
                          scale=3)
        name = gr.Textbox(label="Dataset name", placeholder="default: the folder name", elem_id="caption-name")
        model = gr.Textbox(label="Captioner", value="", placeholder="default: the Captioning profile's (BLIP large)",
                           elem_id="caption-model")
    with gr.Row():
        prefix = gr.Textbox(label="Prefix / trigger word", elem_id="caption-prefix")
        style = gr.Dropdown(["short", "detailed", "more_detailed"], value="short", label="Style")
        overwrite = gr.Checkbox(False, label="Redo existing captions", elem_id="caption-overwrite")
        start = gr.Button("Caption images", variant="primary", elem_id="caption-start")
    started = gr.Markdown(elem_id="caption-report")

    gr.Markdown("### Edit captions")
    with gr.Row():
        dataset = gr.Dropdown(label="Prepared dataset", choices=[], elem_id="captions-dataset", scale=3,
                              allow_custom_value=True)
        reload = gr.Button("Load / reload", scale=0, min_width=140, elem_id="captions-load")
    with gr.Row():
        trigger = gr.Textbox(label="Trigger word", elem_id="captions-trigger")
        add_btn = gr.Button("Add to all", elem_id="captions-add")
        remove_btn = gr.Button("Remove from all", elem_id="captions-remove")
    with gr.Row():
        find = gr.Textbox(label="Find", elem_id="captions-find")
        replace = gr.Textbox(label="Replace with", elem_id="captions-replace")
        replace_btn = gr.Button("Replace all", elem_id="captions-replace-all")
    table = gr.Dataframe(headers=COLUMNS, interactive=True, wrap=True, elem_id="captions-table",
                         static_columns=[0])
    grid = gr.Gallery(label="Images (⚠️: no caption)", columns=6, height=360, elem_id="captions-grid")
    with gr.Row():
        save = gr.Button("Save captions", variant="primary", elem_id="captions-save")
        status = gr.Markdown(elem_id="captions-status")

    def user_of(request: gr.Request) -> User | None:
        return ctx.access.user_of(request)

    def on_start(folder: str, run_name: str, captioner: str, pre: str, how: str, redo: bool,
                 request: gr.Request) -> dict:
        overrides = {k: v for k, v in {"base_model": captioner.strip(), "prefix": pre.strip(), "style": how,
                                       "overwrite": bool(redo)}.items() if v not in ("", None)}
        result = run_request(ctx, user_of(request), folder, CAPTION_PROFILE, dataset_name=run_name,
                             overrides=overrides, dry_run=False)
        if not result.ok or result.job_id is None:
            return {started: "❌ " + "; ".join(result.errors or ["not started"])}
        return {started: f"✅ queued as job {result.job_id} ({result.name}); follow it in the Jobs tab, then load "
                         f"**{result.name}** below", started_job: result.job_id}

    def on_datasets(current: str | None, request: gr.Request) -> dict:
        try:
            names = own_datasets(ctx, user_of(request))
        except ActionError:
            names = []
        return gr.update(choices=names, value=current if current in names else (names[0] if names else None))

    def on_load(chosen: str, request: gr.Request) -> dict:
        if not chosen:  # nothing prepared yet: say what to do, not an error
            return {status: "No prepared dataset yet: caption a folder above, or validate and start a run in the "
                            "Train tab; its copy appears here."}
        try:
            folder = dataset_folder(ctx, user_of(request), chosen)
        except ActionError as err:
            return {status: f"❌ {err}"}
        frame = load_captions(folder)
        missing = int((frame["caption"].str.strip() == "").sum())
        return {table: frame, grid: gallery(folder, frame),
                status: f"{len(frame)} images, {missing} without a caption"}

    def edited(chosen: str, frame: pd.DataFrame, request: gr.Request) -> dict:
        try:
            return {table: frame, grid: gallery(dataset_folder(ctx, user_of(request), chosen), frame),
                    status: "edited: press Save captions to write them"}
        except ActionError as err:
            return {status: f"❌ {err}"}

    def on_save(chosen: str, frame: pd.DataFrame, request: gr.Request) -> dict:
        try:
            folder = dataset_folder(ctx, user_of(request), chosen)
            changed = save_captions(folder, frame)
        except ActionError as err:
            return {status: f"❌ {err}"}
        return {status: f"✅ saved {changed} caption files in {folder.name}", grid: gallery(folder, frame)}

    outputs = [table, grid, status]
    start.click(on_start, [path, name, model, prefix, style, overwrite], [started, started_job],
                api_name="caption_dataset")
    gr.on([app.load, start.click], on_datasets, [dataset], [dataset], api_visibility="private")
    gr.on([reload.click, dataset.change], on_load, [dataset], outputs, api_visibility="private")
    def on_add(chosen: str, frame: pd.DataFrame, word: str, request: gr.Request) -> dict:
        return edited(chosen, add_trigger(frame, word), request)

    def on_remove(chosen: str, frame: pd.DataFrame, word: str, request: gr.Request) -> dict:
        return edited(chosen, remove_trigger(frame, word), request)

    def on_replace(chosen: str, frame: pd.DataFrame, old: str, new: str, request: gr.Request) -> dict:
        return edited(chosen, find_replace(frame, old, new), request)

    add_btn.click(on_add, [dataset, table, trigger], outputs, api_visibility="private")
    remove_btn.click(on_remove, [dataset, table, trigger], outputs, api_visibility="private")
    replace_btn.click(on_replace, [dataset, table, find, replace], outputs, api_visibility="private")
    save.click(on_save, [dataset, table], [status, grid], api_name="save_captions")
