"""The VLM trainer: TRL's SFTTrainer on (image, prompt, answer) examples in its conversational prompt-completion
shape, so the loss is on the answer only; the model's own processor renders the chat and the image tokens; LoRA on
the language model (the vision tower and projector stay as they are). Through the shared Trainer path
(`hf_trainer.fit`: events, resume, stop, evaluate, save, card)."""

from __future__ import annotations

from typing import Any

from autotrain_gradio.tasks.adapter_model import load_kwargs, with_lora
from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.tiny import resolve_model
from autotrain_gradio.tasks.vlm.config import VLMConfig
from autotrain_gradio.tasks.vlm.data import Sample, load

# LoRA on the language model's linear layers only (LLaVA / PaliGemma / Qwen-VL call it language_model, Idefics3 /
# SmolVLM text_model): the vision tower and the projector keep their weights.
LANGUAGE_LINEAR = r".*(language_model|text_model).*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
USAGE = """from transformers import AutoModelForImageTextToText, AutoProcessor
from PIL import Image

model = AutoModelForImageTextToText.from_pretrained("path/to/model")  # the LoRA adapter loads with its base
processor = AutoProcessor.from_pretrained("path/to/model")
messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in the image?"}]}]
text = processor.apply_chat_template(messages, add_generation_prompt=True)
inputs = processor(images=[Image.open("image.jpg")], text=[text], return_tensors="pt")
print(processor.decode(model.generate(**inputs, max_new_tokens=32)[0], skip_special_tokens=True))"""


def _examples(samples: list[Sample]) -> Any:
    """TRL's vision prompt-completion rows; images are decoded by `datasets` as they are read."""
    from datasets import Dataset, Features, Image, List, Value

    message = List({"role": Value("string"), "content": Value("string")})
    features = Features({"images": List(Image()), "prompt": message, "completion": message})
    return Dataset.from_dict({
        "images": [[str(path)] for path, _, _ in samples],
        "prompt": [[{"role": "user", "content": prompt}] for _, prompt, _ in samples],
        "completion": [[{"role": "assistant", "content": answer}] for _, _, answer in samples],
    }, features=features)


def train(cfg: VLMConfig, ctx: RunContext) -> dict[str, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    from autotrain_gradio.tasks.hf_trainer import ModelCard, fit

    data = load(cfg.data_dir, cfg)
    ctx.log(f"{cfg.trainer}: {data.summary()}")
    source = resolve_model(cfg.base_model)
    processor = AutoProcessor.from_pretrained(source)
    calls = []

    def load_model(path: str) -> Any:
        # As in the LLM trainer: the first call builds the training model (a resumed run's adapter comes back
        # through the Trainer); a later call loads a saved checkpoint's adapter to export.
        calls.append(path)
        model = AutoModelForImageTextToText.from_pretrained(source if cfg.peft else path, **load_kwargs(cfg))
        model.config.use_cache = False
        return with_lora(model, cfg, "CAUSAL_LM", LANGUAGE_LINEAR, adapter=path if len(calls) > 1 else None)

    columns = f"image_column={cfg.image_column!r}, text_column={cfg.text_column!r}"
    if cfg.trainer == "vqa":
        columns += f", prompt_text_column={cfg.prompt_text_column!r}"
    card = ModelCard(pipeline_tag="image-text-to-text", usage=USAGE,
                     library_name="peft" if cfg.peft else "transformers",
                     summary=f"TRL SFT, {cfg.trainer}; columns: {columns}; {data.summary()}.")
    return fit(cfg, ctx, load_model=load_model, model_source=source, train_dataset=_examples(data.train),
               eval_dataset=_examples(data.valid) if data.valid else None, card=card, processing_class=processor,
               trainer_class=SFTTrainer, args_class=SFTConfig,
               extra_args={"max_length": cfg.model_max_length, "gradient_checkpointing": cfg.gradient_checkpointing,
                           "dataset_num_proc": None})
