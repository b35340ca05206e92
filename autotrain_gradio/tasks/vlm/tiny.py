"""A tiny LLaVA-style vision-language model built in code (`tiny:vlm`): a CLIP vision tower, a projector and the
tiny Llama chat model's shapes, with a processor whose chat template places the image."""

from __future__ import annotations

from pathlib import Path

from autotrain_gradio.tasks.tiny import seeded

IMAGE_TOKEN = "<image>"
# ChatML over content lists: {"type": "image"} parts become the image token, {"type": "text"} parts their text.
TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}{% if message['content'] is "
            "string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}{% if part['type'] == "
            "'image' %}{{ '<image>' }}{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
            "{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
            "{{ '<|im_start|>assistant\\n' }}{% endif %}")


def build_vlm(path: Path) -> None:
    """A seeded LlavaForConditionalGeneration (32 px images, patch 8: 16 image tokens; CLIP hidden 32, 2 layers;
    Llama hidden 64, 2 layers) and a LlavaProcessor (CLIP image processor, the tiny byte-level tokenizer plus the
    <image> token), saved so AutoModelForImageTextToText / AutoProcessor load them."""
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from autotrain_gradio.tasks.tiny import build

    build("llm", path)  # the tokenizer (and shapes) of tiny:llm; its weights are replaced below
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    image_token = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default", image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1, chat_template=TEMPLATE)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    with seeded():
        text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                           initializer_range=0.25, tie_word_embeddings=True, eos_token_id=eos, pad_token_id=pad)
        vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=2, num_attention_heads=2, projection_dim=32)
        config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token,
                             vision_feature_select_strategy="default", vision_feature_layer=-1,
                             tie_word_embeddings=True)
        LlavaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=False).save_pretrained(path)
