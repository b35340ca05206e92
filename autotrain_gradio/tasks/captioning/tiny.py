"""A tiny BLIP captioner built in code (`tiny:captioner`).

BLIP because transformers ships it natively under AutoModelForImageTextToText with a processor that builds offline
(a BertTokenizer from a word list, the PIL image processor): the same classes and `generate` path as the default
captioner Salesforce/blip-image-captioning-large, so the test covers the code real runs take."""

from __future__ import annotations

from pathlib import Path

from autotrain_gradio.tasks.tiny import seeded

_WORDS = ["a", "photo", "of", "the", "cat", "dog", "person", "red", "blue", "green", "small", "large", "on", "in",
          "with", "and", "painting", "drawing", "sitting", "standing", "tree", "house", "sky", "car"]


def build_blip(path: Path) -> None:
    """A seeded BlipForConditionalGeneration (32 px, patch 8, hidden 32, 2 layers) and its BlipProcessor."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
        BlipProcessor,
    )

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS, *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, bos_token="[CLS]", eos_token="[SEP]")
    with seeded():
        config = BlipConfig(
            vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 64,
                           "num_hidden_layers": 2, "num_attention_heads": 2},
            text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64,
                         "num_hidden_layers": 2, "num_attention_heads": 2, "encoder_hidden_size": 32,
                         "max_position_embeddings": 64, "pad_token_id": 0, "bos_token_id": 2, "sep_token_id": 3,
                         "eos_token_id": 3},
            projection_dim=32)
        BlipForConditionalGeneration(config).save_pretrained(path)
    image_processor = BlipImageProcessorPil(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
