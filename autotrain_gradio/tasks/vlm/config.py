"""VLM settings (AutoTrain's `vlm`: vqa and captioning on image + prompt + answer columns). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import setting as _f
from autotrain_gradio.tasks.adapter import LanguageModelConfig


class VLMConfig(LanguageModelConfig):
    """A vision-language model (PaliGemma-, LLaVA-style) fine-tuned with TRL's SFTTrainer; LoRA on the language side."""

    task: Literal["vlm"] = "vlm"
    trainer: Literal["vqa", "captioning"] = _f("vqa", "Trainer", "vqa: answer the prompt about the image; "
                                               "captioning: describe the image (no prompt column).")
    image_column: str = _f("image", "Image column", "Image file name, relative to the metadata file.", min_length=1)
    prompt_text_column: str = _f("prompt", "Prompt column", "vqa: the question about the image.", min_length=1)
    text_column: str = _f("text", "Answer column", "The answer (vqa) or the caption (captioning).", min_length=1)
    caption_prompt: str = _f("Describe the image.", "Caption prompt", "captioning: the instruction every image is "
                             "paired with.", min_length=1)
    model_max_length: int = _f(1024, "Max length", "Tokens per example, image tokens included.", ge=16,
                               le=131072)
