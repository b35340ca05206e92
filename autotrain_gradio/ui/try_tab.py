"""The Try it tab: pick one of your finished runs and see what it does. A diffusion LoRA renders the same prompt and
seed without and with the LoRA side by side; an image classifier / regressor takes an image, a text classifier /
regressor a text, and shows the top classes with scores (or the value); a token classifier highlights its tags in
the text; an LLM run points to the Chat tab.

The torch side is each task's `predict.py` (`Task.predict`), imported on the first Try only, so building the app
stays torch-free. Runs share the app's one model slot with the Chat tab under ui/fair.py's fair-use rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from autotrain_gradio import jobs
from autotrain_gradio.auth import User
from autotrain_gradio.config import ConfigError
from autotrain_gradio.tasks import get_task, load_config
from autotrain_gradio.ui import fair
from autotrain_gradio.ui.actions import ActionError, AppContext


def run_kind(job: jobs.Job) -> tuple[str, Any]:
    """(kind, config) of a job: diffusion | image | text | llm, or "" when it cannot be tried (yet)."""
    try:
        cfg = load_config(job.config_path)
    except (ConfigError, OSError):
        return "", None
    predict = get_task(cfg.task).predict  # which tasks have a Try panel, and which: their Task record says
    kind = predict.takes if predict is not None else "llm" if cfg.task == "llm" else ""
    model_dir = Path(job.output_dir) / "model"
    if kind in ("diffusion", "image", "text", "tokens") and not any(model_dir.glob("*.safetensors")):
        return "", cfg
    return kind, cfg


def try_runs(ctx: AppContext, user: User | None) -> list[tuple[str, int]]:
    """(label, job id) of the caller's runs that have an exported model to try, newest first."""
    out = []
    for job in reversed(ctx.visible_jobs(user)):
        kind, _ = run_kind(job)
        if kind:
            out.append((f"{job.id}: {job.name} ({kind}, {job.status})", job.id))
    return out


@dataclass
class Trial:
    """What one Try gave: images without/with the LoRA, or label scores, or a note."""

    kind: str
    without: Any = None
    with_lora: Any = None
    scores: dict[str, float] | None = None
    entities: list[tuple[str, str | None]] | None = None
    note: str = ""


def try_run(ctx: AppContext, user: User | None, job_id: Any, *, prompt: str = "", seed: int = 0,
            steps: int | None = None, strength: float = 1.0, image: Any = None, text: str = "",
            should_stop: Callable[[], str | None] | None = None) -> Trial:
    """Run the job's model on the input its task takes (the caller's own jobs only), within the app's fair-use
    bounds (ui/fair.py): checked first, one call per user at a time, one model at a time, stopped between steps
    when `should_stop` gives a reason (the time limit, the caller gone)."""
    job = ctx.job(user, job_id)
    kind, cfg = run_kind(job)
    if kind == "llm":
        return Trial(kind, note=f"job {job.id} is an LLM: talk to it in the Chat tab")
    if not kind:
        raise ActionError(f"job {job.id} has no exported model to try yet (status {job.status})")
    fair.check_try(steps, getattr(cfg, "resolution", None) if kind == "diffusion" else None, image, text)
    if kind == "image" and image is None:
        raise ActionError("upload an image first")
    if kind in ("text", "tokens") and not (text or "").strip():
        raise ActionError("type a text first")
    predict = get_task(cfg.task).load_predict()
    model_dir = Path(job.output_dir) / "model"
    with fair.one_at_a_time(ctx.signed_in(user)), fair.model_turn():
        if kind == "diffusion":
            out = predict(cfg, model_dir, prompt, seed=int(seed), steps=int(steps) if steps else None,
                          strength=float(strength), should_stop=should_stop)
            if out.get("stopped"):
                fair.stops.append((job.owner, out["stopped"]))
                raise ActionError(out["stopped"])
            return Trial(kind, without=out["without"], with_lora=out["with"], note=f"prompt: {out['prompt']}")
        if kind == "image":
            return Trial(kind, scores=predict(cfg, model_dir, image))
        if kind == "tokens":
            return Trial(kind, entities=predict(cfg, model_dir, text))
        return Trial(kind, scores=predict(cfg, model_dir, text))


def build(ctx: AppContext, app: gr.Blocks) -> Any:
    """Render the Try it tab's contents in the current Blocks context; returns the run list's refresh and the
    list (the app calls it when a job ends)."""
    with gr.Row():
        run = gr.Dropdown(label="Run", choices=[], elem_id="try-run", scale=3, allow_custom_value=True,
                          info="Your runs with an exported model")
        refresh = gr.Button("Refresh runs", scale=0, min_width=140)
    note = gr.Markdown(elem_id="try-note")
    with gr.Group(visible=False) as diffusion_box:
        prompt = gr.Textbox(label="Prompt", value="a photo of {trigger}", elem_id="try-prompt",
                            info="{trigger} becomes the run's trigger word")
        with gr.Row():
            seed = gr.Number(label="Seed", value=0, precision=0)
            steps = gr.Number(label="Steps (0: the run's sample steps)", value=0, precision=0)
            strength = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="LoRA strength")
        with gr.Row():
            # A fixed height: a 32 px demo image is scaled up (pixelated), never collapsed to a strip.
            without = gr.Image(label="Without the LoRA", elem_id="try-without", type="pil", height=320)
            with_lora = gr.Image(label="With the LoRA", elem_id="try-with", type="pil", height=320)
    with gr.Group(visible=False) as image_box:
        image = gr.Image(label="Image", type="pil", elem_id="try-image")
    with gr.Group(visible=False) as text_box:
        text = gr.Textbox(label="Text", elem_id="try-text", lines=3)
    scores = gr.Label(label="Prediction", num_top_classes=5, visible=False, elem_id="try-label")
    entities = gr.HighlightedText(label="Entities", visible=False, elem_id="try-entities")
    go = gr.Button("Try it", variant="primary", elem_id="try-go")

    def runs(current: int | None, request: gr.Request) -> dict:
        try:
            choices = try_runs(ctx, ctx.access.user_of(request))
        except ActionError:
            choices = []
        ids = [job_id for _, job_id in choices]
        return gr.update(choices=choices, value=current if current in ids else (ids[0] if ids else None))

    def on_run(job_id: int | None, request: gr.Request) -> dict:
        kind = ""
        if job_id is not None:
            try:
                kind, _ = run_kind(ctx.job(ctx.access.user_of(request), job_id))
            except ActionError:
                kind = ""
        return {diffusion_box: gr.update(visible=kind == "diffusion"), image_box: gr.update(visible=kind == "image"),
                text_box: gr.update(visible=kind in ("text", "tokens")),
                scores: gr.update(visible=kind in ("image", "text")), entities: gr.update(visible=kind == "tokens"),
                note: "Talk to this run in the **Chat** tab." if kind == "llm" else ""}

    def on_try(job_id: int | None, prompt_text: str, seed_value: float, steps_value: float, strength_value: float,
               image_value: Any, text_value: str, request: gr.Request) -> dict:
        try:
            trial = try_run(ctx, ctx.access.user_of(request), job_id, prompt=prompt_text, seed=int(seed_value or 0),
                            steps=int(steps_value or 0) or None, strength=strength_value, image=image_value,
                            text=text_value, should_stop=fair.stopper(app))
        except (ActionError, FileNotFoundError) as err:
            raise gr.Error(str(err)) from None
        if trial.kind == "diffusion":
            return {without: trial.without, with_lora: trial.with_lora, note: trial.note}
        if trial.entities is not None:
            return {entities: gr.update(value=trial.entities, visible=True), note: trial.note}
        if trial.scores is not None:
            return {scores: gr.update(value=trial.scores, visible=True), note: trial.note}
        return {note: trial.note}

    gr.on([app.load, refresh.click], runs, [run], [run], api_visibility="private")
    run.change(on_run, [run], [diffusion_box, image_box, text_box, scores, entities, note], api_visibility="private")
    go.click(on_try, [run, prompt, seed, steps, strength, image, text], [without, with_lora, scores, entities, note],
             api_name="try_run", concurrency_id="gpu", concurrency_limit=4)  # fair.py: one per user, one model
    return runs, run
