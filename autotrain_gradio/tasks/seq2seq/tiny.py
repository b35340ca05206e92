"""A tiny T5 built in code (`tiny:t5`): a seeded T5ForConditionalGeneration and a real unigram T5 tokenizer whose
vocabulary is built offline (whole English words, then single characters to fall back to), laid out like
google/flan-t5-base so AutoModelForSeq2SeqLM / AutoTokenizer load it."""

from __future__ import annotations

import string
from pathlib import Path

from autotrain_gradio.tasks.tiny import WORDS, seeded


def build_t5(path: Path) -> None:
    """d_model 64, 2 encoder and 2 decoder layers, 4 heads; pad 0 (also the decoder start), eos 1, unk 2."""
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

    chars = [c for c in string.printable if not c.isspace()]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + w, -1.0) for w in WORDS] + [(c, -5.0) for c in chars] + [("\u2581" + c, -4.0) for c in chars]
    tokenizer = T5TokenizerFast(vocab=list(dict(vocab).items()), extra_ids=0, model_max_length=512)
    with seeded(0):
        config = T5Config(vocab_size=len(tokenizer), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                          relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
        T5ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
