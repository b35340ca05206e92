"""A tiny BERT built in code (`tiny:bert`): a seeded BertForSequenceClassification and a real WordPiece tokenizer
whose vocabulary is built offline, laid out like google-bert/bert-base-uncased so the Auto classes load it.

The vocabulary holds every printable ASCII character, alone and as a `##` continuation, so any English text
encodes without [UNK] (a rare word becomes characters), plus common English words and suffixes so most words
are one or two tokens."""

from __future__ import annotations

import string
from pathlib import Path

from autotrain_gradio.tasks.tiny import WORDS, seeded

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SUFFIXES = ["s", "es", "ed", "ing", "ly", "er", "est", "ion", "ment", "ness", "able", "ful", "less"]


def vocabulary() -> dict[str, int]:
    """token -> id: special tokens, single characters, their ## continuations, suffixes, then words."""
    chars = [c for c in string.printable if not c.isspace() and not c.isupper()]
    tokens = SPECIAL + chars + [f"##{c}" for c in chars] + [f"##{s}" for s in SUFFIXES] + WORDS
    return {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}


def build_bert(path: Path, num_labels: int = 2) -> None:
    """A seeded BertForSequenceClassification (hidden 32, 2 layers, 2 heads, 512 positions) and its uncased
    WordPiece tokenizer, saved to `path`."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    tokenizer = BertTokenizer(vocab=vocabulary(), do_lower_case=True, model_max_length=512)
    with seeded(0):
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=512, num_labels=num_labels,
                            pad_token_id=tokenizer.pad_token_id)
        BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
