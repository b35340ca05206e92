"""Seq2seq on the shared Trainer path with transformers' Seq2SeqTrainer: inputs and targets tokenized (targets as
`labels`, padding ignored by the loss), optional LoRA adapters (int8 base on CUDA), generation at evaluation scored
with ROUGE (rouge-score) and the mean generated length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
)

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit
from autotrain_gradio.tasks.seq2seq.config import Seq2SeqConfig
from autotrain_gradio.tasks.seq2seq.data import Pair, load
from autotrain_gradio.tasks.tiny import resolve_model

ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class PairDataset:
    """(input, target) pairs as {"input_ids", "attention_mask", "labels"}; padding is the collator's."""

    def __init__(self, pairs: list[Pair], tokenizer: Any, max_length: int, max_target_length: int):
        self.pairs, self.tokenizer = pairs, tokenizer
        self.max_length, self.max_target_length = max_length, max_target_length

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        text, target = self.pairs[index]
        encoded = self.tokenizer(text, text_target=target, truncation=True, max_length=self.max_length)
        encoded["labels"] = encoded["labels"][:self.max_target_length]
        return dict(encoded)


def rouge_metrics(tokenizer: Any):
    """compute_metrics on generated ids: ROUGE-1/2/L/Lsum F-measures in percent (rougeLsum splits sentences on
    newlines, as the summarisation scripts do) and the mean generated length in tokens."""
    from rouge_score import rouge_scorer, scoring

    scorer = rouge_scorer.RougeScorer(list(ROUGE), use_stemmer=True)

    def compute(pred: Any) -> dict[str, float]:
        generated = np.asarray(pred.predictions)
        generated = np.where(generated < 0, tokenizer.pad_token_id, generated)  # the Trainer pads with -100
        labels = np.asarray(pred.label_ids)
        labels = np.where(labels < 0, tokenizer.pad_token_id, labels)
        guesses = tokenizer.batch_decode(generated, skip_special_tokens=True)
        truths = tokenizer.batch_decode(labels, skip_special_tokens=True)
        total = scoring.BootstrapAggregator()
        for guess, truth in zip(guesses, truths, strict=True):
            guess, truth = guess.strip(), truth.strip()
            total.add_scores(scorer.score("\n".join(truth.split(". ")), "\n".join(guess.split(". "))))
        summary = total.aggregate()
        scores = {k: 100.0 * float(summary[k].mid.fmeasure) for k in ROUGE}
        scores["gen_len"] = float(np.mean([np.count_nonzero(g != tokenizer.pad_token_id) for g in generated]))
        return scores

    return compute


def _loader(cfg: Seq2SeqConfig, base: str):
    """load_model(path): the full model, or with peft the base (8-bit on request) plus LoRA adapters, fresh from
    `base` or read back from a checkpoint folder that holds adapters."""

    def load_model(path: str):
        if not cfg.peft:
            return AutoModelForSeq2SeqLM.from_pretrained(path)
        from peft import LoraConfig, PeftModel, TaskType, get_peft_model, prepare_model_for_kbit_training

        quantized = {}
        if cfg.quantization == "int8":
            from transformers import BitsAndBytesConfig

            quantized = {"quantization_config": BitsAndBytesConfig(load_in_8bit=True), "device_map": {"": 0}}
        model = AutoModelForSeq2SeqLM.from_pretrained(base, **quantized)
        if quantized:
            model = prepare_model_for_kbit_training(model)
        if (Path(path) / "adapter_config.json").exists():
            return PeftModel.from_pretrained(model, path, is_trainable=True)
        modules = cfg.target_modules if cfg.target_modules == "all-linear" else [
            m.strip() for m in cfg.target_modules.split(",") if m.strip()]
        lora = LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                          lora_dropout=cfg.lora_dropout, target_modules=modules)
        return get_peft_model(model, lora)

    return load_model


def train(cfg: Seq2SeqConfig, ctx: RunContext) -> dict[str, Any]:
    """Fine-tune an encoder-decoder on the prepared table; returns fit's outputs."""
    data = load(cfg.data_dir, cfg)  # also refuses int8 where no GPU is visible
    ctx.log(data.summary())
    source = resolve_model(cfg.base_model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    load_model = _loader(cfg, source)

    def dataset(pairs: list[Pair]) -> PairDataset:
        return PairDataset(pairs, tokenizer, cfg.max_seq_length, cfg.max_target_length)

    usage = """from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

model = AutoModelForSeq2SeqLM.from_pretrained("path/to/model")  # LoRA adapters load onto their base (peft)
tokenizer = AutoTokenizer.from_pretrained("path/to/model")
ids = model.generate(**tokenizer("Your input text", return_tensors="pt"), max_new_tokens=64)
print(tokenizer.decode(ids[0], skip_special_tokens=True))"""
    how = "LoRA adapters (peft)" if cfg.peft else "a full fine-tune"
    card = ModelCard("text2text-generation", f"{how.capitalize()} on {len(data.train)} pairs "
                     f"({len(data.valid)} held out).", usage)
    generation = {"predict_with_generate": True, "generation_max_length": cfg.max_target_length,
                  "generation_num_beams": cfg.num_beams}
    return fit(cfg, ctx, load_model=load_model, model_source=source, train_dataset=dataset(data.train),
               eval_dataset=dataset(data.valid), card=card, compute_metrics=rouge_metrics(tokenizer),
               processing_class=tokenizer, data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
               trainer_class=Seq2SeqTrainer, args_class=Seq2SeqTrainingArguments, extra_args=generation)
