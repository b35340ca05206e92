"""The captioning job: load the captioner, caption the images of input/<name> batch by batch, write each caption
next to its image. Progress is a `step` event per batch; a stop request ends it after the current batch (captions
written so far stay)."""

from __future__ import annotations

from typing import Any

from autotrain_gradio.config import config_digest
from autotrain_gradio.tasks.captioning.config import STYLE_PROMPTS, CaptioningConfig
from autotrain_gradio.tasks.captioning.data import pending, with_prefix, write_caption
from autotrain_gradio.tasks.common import RunContext, StepClock, resolve_precision


def prompt_for(cfg: CaptioningConfig, model_type: str) -> str:
    """The text the captioner is given: the config's prompt, else the style's prompt for this kind of model."""
    if cfg.prompt:
        return cfg.prompt
    return STYLE_PROMPTS.get(model_type, STYLE_PROMPTS["default"])[cfg.style]


def load_captioner(base_model: str, precision: str = "no") -> tuple[Any, Any]:
    """(processor, model) through the Auto classes, on the GPU when there is one."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from autotrain_gradio.tasks.tiny import resolve_model

    path = resolve_model(base_model)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return processor, model


def caption_images(processor: Any, model: Any, images: list[Any], prompt: str, max_new_tokens: int,
                   num_beams: int = 1) -> list[str]:
    """One caption per PIL image (the prompt echoed by decoder-only / BLIP models is cut off)."""
    import torch

    kwargs: dict[str, Any] = {"images": images, "return_tensors": "pt"}
    if prompt:
        kwargs["text"] = [prompt] * len(images)
    inputs = processor(**kwargs).to(model.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False)
    texts = processor.batch_decode(out, skip_special_tokens=True)
    bare = prompt.strip().lower()
    cleaned = []
    for text in texts:
        text = text.strip()
        if bare and not bare.startswith("<") and text.lower().startswith(bare):
            text = text[len(bare):].strip()
        cleaned.append(" ".join(text.split()))
    return cleaned


def train(cfg: CaptioningConfig, ctx: RunContext) -> dict[str, Any]:
    """Caption the images of cfg.data_dir; returns how many were written and where."""
    from PIL import Image, ImageOps

    todo = pending(cfg)
    ctx.log(f"{len(todo)} images to caption in {cfg.data_dir}"
            + ("" if cfg.overwrite else " (images that have a caption are kept; overwrite=true redoes them)"))
    processor, model = load_captioner(cfg.base_model, resolve_precision(cfg.mixed_precision))
    prompt = prompt_for(cfg, model.config.model_type)
    batches = [todo[i:i + cfg.batch_size] for i in range(0, len(todo), cfg.batch_size)]
    ctx.events.start(total_steps=len(batches), step=0, config_digest=config_digest(cfg), images=len(todo))
    clock, written = StepClock(len(batches)), 0
    for step, batch in enumerate(batches, start=1):
        if ctx.stop_requested:
            ctx.log(f"stopped after {written} of {len(todo)} captions; run it again to caption the rest")
            return {}
        images = []
        for path in batch:
            with Image.open(path) as im:
                images.append(ImageOps.exif_transpose(im).convert("RGB"))
        for path, text in zip(batch, caption_images(processor, model, images, prompt, cfg.max_new_tokens,
                                                    cfg.num_beams), strict=True):
            write_caption(path, with_prefix(text, cfg.prefix), cfg.caption_extension)
            written += 1
        ctx.extra["step"] = step
        it_s, eta = clock.tick(step)
        ctx.events.emit("step", step=step, total=len(batches), epoch=step / len(batches), loss=None, lr=None,
                        it_s=it_s, eta_s=eta, captioned=written)
    ctx.log(f"wrote {written} captions next to the images in {cfg.data_dir}")
    return {"captions": written, "data_dir": str(cfg.data_dir)}
