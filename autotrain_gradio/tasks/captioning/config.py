"""Auto-captioning settings: which captioner, what it is asked, what is written and which images it touches.
No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import RunConfig, setting

# What each style asks a captioner. Florence-2 takes task tokens; BLIP-style models take a text the caption continues
# (an empty text is BLIP's unconditional caption).
STYLE_PROMPTS = {
    "florence2": {"short": "<CAPTION>", "detailed": "<DETAILED_CAPTION>", "more_detailed": "<MORE_DETAILED_CAPTION>"},
    "default": {"short": "", "detailed": "a detailed photograph of", "more_detailed": "a detailed photograph of"},
}

# The settings `caption_dataset(...)` and `autotrain caption` take directly (as keywords / flags), not through --set
CAPTION_SETTINGS = ("style", "prompt", "max_new_tokens", "num_beams", "prefix", "overwrite", "batch_size",
                    "caption_extension", "mixed_precision")


class CaptioningConfig(RunConfig):
    """A captioner loaded with AutoModelForImageTextToText + AutoProcessor (BLIP, Florence-2, ...) over the images
    of input/<name>; captions go next to the images there, never into the user's original folder."""

    task: Literal["captioning"] = "captioning"
    base_model: str = setting("Salesforce/blip-image-captioning-large", "Captioner",
                              "Hub id or folder of an image-to-text model transformers loads natively (BLIP, "
                              "Florence-2 'florence-community/Florence-2-base', ...); 'tiny:captioner' for tests.")
    style: Literal["short", "detailed", "more_detailed"] = setting(
        "short", "Caption style", "How much the caption says (Florence-2 task token; a lead-in text for BLIP).")
    prompt: str = setting("", "Prompt", "Text the caption starts from / task token; overrides the style's prompt.")
    max_new_tokens: int = setting(40, "Max length", "Most tokens a caption may have.", ge=1, le=1024)
    num_beams: int = setting(1, "Beams", "Beam search width (1: greedy).", ge=1, le=16)
    prefix: str = setting("", "Prefix / trigger word", "Written before every caption, e.g. the LoRA's trigger word "
                          "('ohwx person'); joined with ', '.")
    overwrite: bool = setting(False, "Overwrite captions", "Caption every image; off: only images without a caption.")
    caption_extension: str = setting(".txt", "Caption extension", "Caption file next to each image: a.png -> a.txt.",
                                     pattern=r"^\.[A-Za-z0-9]+$")
    batch_size: int = setting(4, "Batch size", "Images captioned at once.", ge=1, le=256)
    mixed_precision: Literal["no", "fp16", "bf16"] = setting(
        "bf16", "Precision", "Captioner weights on a GPU (falls back to 'no' on a CPU).")
