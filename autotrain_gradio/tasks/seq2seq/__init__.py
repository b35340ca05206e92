"""Sequence to sequence (summarisation, translation, rewriting): an encoder-decoder such as T5 on text -> target
pairs, optionally with LoRA; generation at evaluation, scored with ROUGE."""
