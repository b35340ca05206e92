"""A tiny Llama-style chat model built in code (`tiny:llm`): byte-level tokenizer with a ChatML template."""

from __future__ import annotations

from pathlib import Path

from autotrain_gradio.tasks.llm.data import CHAT_TEMPLATES
from autotrain_gradio.tasks.tiny import seeded

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_llm(path: Path) -> None:
    """A seeded LlamaForCausalLM (hidden 64, 2 layers, 4 heads / 2 KV heads) and a byte-level BPE tokenizer with no
    merges (every byte one token, so any text encodes) plus ChatML specials and chat template, saved the way Hub
    chat models are so AutoModelForCausalLM / AutoTokenizer load them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(byte_chars))}
    for token in SPECIALS:
        vocab[token] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(SPECIALS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        bos_token=None, model_max_length=512, chat_template=CHAT_TEMPLATES["chatml"])
    tokenizer.save_pretrained(path)
    eos, pad = vocab["<|im_end|>"], vocab["<|endoftext|>"]
    with seeded():
        # initializer_range 0.25 (not 0.02): a LoRA leaves the tied embeddings and the final norm as they are, and
        # with 0.02 their logits stay too flat for the loss to fall far on a toy set.
        config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                             initializer_range=0.25, tie_word_embeddings=True, eos_token_id=eos, pad_token_id=pad,
                             bos_token_id=None)
        LlamaForCausalLM(config).save_pretrained(path)
    GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=False).save_pretrained(path)
