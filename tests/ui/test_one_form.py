"""The Train tab renders one task's form (fast, no server): the page's component count, the column guesses, the
'which edits a profile replaced' note, upload feedback, the progress bar, file names for downloads, Publish's
refusals and the queue settings."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import pytest

from autotrain_gradio import jobs
from autotrain_gradio.auth import Access, User
from autotrain_gradio.demo import make_sample_dataset
from autotrain_gradio.events import RunState
from autotrain_gradio.profiles import get_profile
from autotrain_gradio.tasks import TASKS
from autotrain_gradio.ui import columns
from autotrain_gradio.ui.actions import ActionError, AppContext, download_name
from autotrain_gradio.ui.app import build_app
from autotrain_gradio.ui.form import build_form, replaced_edits
from autotrain_gradio.ui.jobs_tab import progress_html
from autotrain_gradio.ui.publish_tab import push
from autotrain_gradio.ui.queue_panel import current, save_settings
from autotrain_gradio.ui.train_tab import upload_summary


def _rendered(task: str) -> int:
    """How many blocks the Train tab's @gr.render adds for a task: its form, its mapping dropdowns, the buttons."""
    cfg = TASKS[task].config()
    with gr.Blocks() as blocks:
        build_form(task, cfg, key=("p", 0))
        columns.build_dropdowns(task, cfg, ["a", "b"], ("p", 0))
    return len(blocks.blocks) + 6  # + the Settings accordion, two button rows, Validate, Start, Save and its name


def test_page_holds_one_task_form_under_300_components(tmp_path):
    app = build_app(tmp_path)
    static = len(app.blocks)
    largest = max(_rendered(task) for task in TASKS)
    assert static + largest < 300, (static, largest)
    # No form field of any task is built into the static page: they come with the chosen profile only.
    ids = {getattr(b, "elem_id", None) for b in app.blocks.values()}
    assert not any(f"{task}-max_steps" in ids or f"{task}-learning_rate" in ids for task in TASKS)


def test_mapping_guesses_columns_by_name_and_says_so():
    assert columns.guess_column("text_column", "text", ["review", "sentiment"], set()) == ("review", True)
    assert columns.guess_column("target_column", "target", ["review", "sentiment"], {"review"}) == ("sentiment", True)
    assert columns.guess_column("target_column", "target", ["Text", "Label"], {"Text"}) == ("Label", True)
    assert columns.guess_column("text_column", "text", ["text", "label"], set()) == ("text", False)  # the profile's
    assert columns.guess_column("text_column", "text", ["zzz", "qqq"], set()) == ("text", False)  # nothing alike
    cfg = get_profile("TinyTextClassification").build()
    with gr.Blocks():
        dropdowns = columns.build_dropdowns("text-classification", cfg, ["review", "sentiment"], ("p", 0))
    assert {k: d.value for k, d in dropdowns.items()} == {"text_column": "review", "target_column": "sentiment"}
    assert "guessed “review”" in dropdowns["text_column"].info


def test_profile_change_names_the_edits_it_replaced():
    old, new = get_profile("TinyFluxLORA").build(), get_profile("FluxLORA").build()
    values = {"max_steps": 123.0, "learning_rate": old.learning_rate, "sample_prompts": "\n".join(old.sample_prompts)}
    assert replaced_edits("diffusion-lora", values, old, new) == [f"Max steps: 123.0 → {new.max_steps}"]
    assert replaced_edits("diffusion-lora", {"max_steps": old.max_steps}, old, new) == []


def test_any_table_is_previewed_and_uploads_are_counted(tmp_path):
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "my reviews.csv").write_text("review,sentiment\ngood,1\nbad,0\n", encoding="utf-8")
    assert columns.table_file(folder) == folder / "my reviews.csv"  # any name, one table in a folder
    ctx, me = AppContext(tmp_path, Access.from_settings(tmp_path, space=False)), User("")
    rows, names, note = columns.preview(ctx, me, str(folder))
    assert names == ["review", "sentiment"] and list(rows["review"]) == ["good", "bad"] and note.startswith("2 rows")
    photos = make_sample_dataset(tmp_path / "photos", count=3)
    summary, images = upload_summary(photos)
    assert summary == "6 files (3 images, 3 captions)" and len(images) == 3


def test_progress_bar_and_download_names(tmp_path):
    store = jobs.JobStore(tmp_path)
    out = tmp_path / "output" / "cats"
    job = store.add(name="cats", profile="TinyFluxLORA", config_path=out / "config.toml", output_dir=out)
    store.update(job.id, status="running", started=time.time() - 65, last_step=5, total_steps=20)
    job = store.get(job.id)
    store.close()
    state = RunState().update([{"type": "start", "total_steps": 20, "t": 1},
                               {"type": "step", "step": 5, "total": 20, "loss": 0.5, "eta_s": 30, "t": 2}])
    bar = progress_html(job, state, [])
    assert "value='25.0'" in bar and "25% · step 5/20 · ETA 00:00:30 · elapsed 00:01:0" in bar and "loss" in bar
    assert download_name(job, out / "model" / "cats.safetensors") == "cats-comfyui.safetensors"
    assert download_name(job, out / "model" / "pytorch_lora_weights.safetensors") == \
        "cats-diffusers/pytorch_lora_weights.safetensors"
    assert download_name(job, out / "checkpoints" / "checkpoint-10" / "denoiser.safetensors") == \
        "cats-checkpoint-10/denoiser.safetensors"
    assert download_name(job, out / "model" / "README.md") == "cats-model/README.md"


def test_publish_refuses_unfinished_runs_and_queue_settings_are_the_owners(tmp_path):
    store = jobs.JobStore(tmp_path)
    out = tmp_path / "output" / "cats"
    job = store.add(name="cats", profile="TinyFluxLORA", config_path=out / "config.toml", output_dir=out)
    store.close()
    ctx, me = AppContext(tmp_path, Access()), User("")
    with pytest.raises(ActionError, match=f"job {job.id} is queued; only a completed run can be published"):
        push(ctx, me, job.id, "cats", True, "hf_x")
    assert current(ctx) == ("local", 1)
    assert save_settings(ctx, me, "local", 3) == "✅ New jobs run on local, at most 3 at once."
    assert current(ctx) == ("local", 3)
    shared = AppContext(tmp_path, Access(mode="login", logins={"boss": "pw", "eve": "pw"}))
    with pytest.raises(ActionError, match="only the owner of this app"):
        save_settings(shared, User("eve"), "local", 8)
    with pytest.raises(ActionError, match="max_concurrent must be 1 or more"):
        save_settings(shared, User("boss"), "local", 0)
    assert Path(tmp_path / "output").exists() is False  # nothing was written for any of this
