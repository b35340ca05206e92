"""The training run proper, once the data folder has been checked: model -> training arguments -> train (or
resume) -> final evaluation -> save the model, processor and a model card into output/<name>/model/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    EarlyStoppingCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from autotrain_gradio.tasks.common import RunContext, hub_base_model
from autotrain_gradio.tasks.image_classification.callback import EventsCallback, eval_metrics
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig
from autotrain_gradio.tasks.image_classification.data import ClassificationData, ImageFolderDataset, load_folder
from autotrain_gradio.tiny import resolve_model

# Our optimizer names -> the Trainer's `optim` names. prodigy is not built into transformers: handled below.
OPTIMIZERS = {"adamw": "adamw_torch", "adamw8bit": "adamw_bnb_8bit", "adafactor": "adafactor"}


def compute_metrics(pred) -> dict[str, float]:
    """Accuracy and macro F1 (mean over the classes present in labels or predictions)."""
    logits, labels = pred.predictions, pred.label_ids
    preds = np.asarray(logits).argmax(-1)
    f1s = []
    for c in np.union1d(labels, preds):
        tp = np.sum((preds == c) & (labels == c))
        denom = np.sum(preds == c) + np.sum(labels == c)
        f1s.append(2 * tp / denom if denom else 0.0)
    return {"accuracy": float(np.mean(preds == labels)), "f1_macro": float(np.mean(f1s))}


def training_arguments(cfg: ImageClassificationConfig, ctx: RunContext, evaluate: bool) -> TrainingArguments:
    """The config mapped onto TrainingArguments; checkpoints go to output/<name>/checkpoints/."""
    cuda = torch.cuda.is_available()
    precision = cfg.mixed_precision if cuda else "no"
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        precision = "fp16"  # e.g. a T4 in Colab: half precision without bf16
    eval_strategy = "epoch" if evaluate and (cfg.eval_every_epoch or cfg.early_stopping_patience) else "no"
    return TrainingArguments(
        output_dir=str(ctx.paths.checkpoints_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        # A float below 1 is read as a fraction of the total steps.
        warmup_steps=cfg.warmup_steps or cfg.warmup_ratio,
        optim=OPTIMIZERS.get(cfg.optimizer, "adamw_torch"),
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        logging_strategy="steps",
        logging_steps=cfg.log_every,
        eval_strategy=eval_strategy,
        # Periodic and stop checkpoints come from EventsCallback. With early stopping the Trainer also keeps each
        # new best evaluation as a checkpoint; `fit` exports that one (Trainer's load_best_model_at_end would
        # load it with the non-strict reload described in `fit`).
        save_strategy="best" if cfg.early_stopping_patience else "no",
        metric_for_best_model="eval_loss" if cfg.early_stopping_patience else None,
        greater_is_better=False if cfg.early_stopping_patience else None,
        save_total_limit=cfg.keep_checkpoints,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )


def _prodigy(model: torch.nn.Module, cfg: ImageClassificationConfig) -> torch.optim.Optimizer:
    try:
        from prodigyopt import Prodigy
    except ImportError:
        raise ValueError("optimizer 'prodigy' needs the prodigyopt package: pip install prodigyopt "
                         "(or set optimizer='adamw')") from None
    return Prodigy(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def write_model_card(path: Path, cfg: ImageClassificationConfig, data: ClassificationData,
                     metrics: dict[str, Any]) -> None:
    """A short README.md: what was trained on what, the final metrics, and how to use it."""
    hub_id = hub_base_model(cfg.base_model)  # the Hub validates base_model as a repo id
    base_line = f"base_model: {hub_id}\n" if hub_id else ""
    rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items())
    path.write_text(f"""---
library_name: transformers
pipeline_tag: image-classification
{base_line}tags: [autotrain-gradio, image-classification]
---

# {cfg.name}

Image classifier fine-tuned from `{cfg.base_model}` with autotrain-gradio on {len(data.train)} training and
{len(data.valid)} validation images.

Classes ({len(data.labels)}): {", ".join(data.labels)}

| metric | value |
|---|---|
{rows}

```python
from transformers import pipeline

classify = pipeline("image-classification", model="path/to/model")
print(classify("image.jpg"))
```
""", encoding="utf-8")


def fit(cfg: ImageClassificationConfig, ctx: RunContext, data: ClassificationData) -> dict[str, Any]:
    """Train, evaluate and save an image classifier on checked data; returns {"model": path, "metrics": {...}},
    or {"checkpoint": path} when stopped early by a signal."""
    # --- where to start: the base model, or the newest checkpoint when resuming -------------------------------
    source = resolve_model(cfg.base_model)
    resume_from = None
    if ctx.resume:
        resume_from = get_last_checkpoint(str(ctx.paths.checkpoints_dir)) if ctx.paths.checkpoints_dir.is_dir() \
            else None
        ctx.log(f"resuming from {resume_from}" if resume_from else
                f"nothing to resume in {ctx.paths.checkpoints_dir}: starting from step 0",
                level="info" if resume_from else "warning")

    # --- model: a fresh head sized to our classes (ignore_mismatched_sizes drops the pretrained one) ---------
    # Weights always come through from_pretrained. transformers 5 writes checkpoints with the Hub's key names
    # (vit.encoder.layer.*) while the model in memory uses renamed ones (vit.layers.*), and Trainer reloads a
    # checkpoint with a non-strict load_state_dict that silently skips every renamed tensor. from_pretrained
    # knows the renaming; the Trainer's own reload then only rewrites the tensors whose names match, with the
    # same values (it logs the others as missing keys).
    set_seed(cfg.seed)
    processor = AutoImageProcessor.from_pretrained(source)
    model = AutoModelForImageClassification.from_pretrained(
        resume_from or source, num_labels=len(data.labels), label2id=data.label2id, id2label=data.id2label,
        ignore_mismatched_sizes=True)

    # --- trainer -------------------------------------------------------------------------------------------
    callbacks = [EventsCallback(ctx)]
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=training_arguments(cfg, ctx, evaluate=bool(data.valid)),
        train_dataset=ImageFolderDataset(data.train, processor),
        eval_dataset=ImageFolderDataset(data.valid, processor) if data.valid else None,
        processing_class=processor,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        optimizers=(_prodigy(model, cfg), None) if cfg.optimizer == "prodigy" else (None, None),
    )

    # --- train ---------------------------------------------------------------------------------------------
    result = trainer.train(resume_from_checkpoint=resume_from)
    ctx.extra["step"] = trainer.state.global_step
    if ctx.stop_requested:
        # The callback saved a checkpoint; the partly trained weights do not go to model/.
        return {"checkpoint": get_last_checkpoint(str(ctx.paths.checkpoints_dir))}
    best = trainer.state.best_model_checkpoint
    if cfg.early_stopping_patience and best:
        # Export the best evaluation, not the last (worse) weights; loaded the safe way, as above.
        trainer.model.load_state_dict(AutoModelForImageClassification.from_pretrained(best).state_dict())
        ctx.log(f"exporting the best evaluation: step {trainer.state.best_global_step}, "
                f"eval loss {trainer.state.best_metric:.4f}")

    # --- final evaluation and export -----------------------------------------------------------------------
    metrics: dict[str, Any] = {"train_loss": round(float(result.training_loss), 6)}
    if data.valid:
        metrics.update(eval_metrics(trainer.evaluate()))
    model_dir = ctx.paths.model_dir
    trainer.save_model(str(model_dir))  # weights, config (with label names) and the image processor
    if ctx.is_main:
        write_model_card(model_dir / "README.md", cfg, data, metrics)
    ctx.log(f"model saved to {model_dir}: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    outputs: dict[str, Any] = {"model": str(model_dir), "metrics": metrics}
    if cfg.push_to_hub and ctx.is_main:
        # One upload path for every task (token from HF_TOKEN only, scrubbed from errors).
        from autotrain_gradio.tasks.common import push_to_hub

        outputs["hub"] = push_to_hub(cfg, model_dir)
    return outputs


def train(cfg: ImageClassificationConfig, ctx: RunContext) -> dict[str, Any]:
    """Train, evaluate and save an image classifier; returns {"model": path, "metrics": {...}}, or
    {"checkpoint": path} when stopped early by a signal."""
    data = load_folder(cfg.data_dir, cfg.valid_split, cfg.seed)
    if cfg.early_stopping_patience and not data.valid:
        raise ValueError("early_stopping_patience needs validation images: set valid_split > 0 or add a valid/ "
                         "folder")
    ctx.log(f"{len(data.train)} training / {len(data.valid)} validation images, {len(data.labels)} classes: "
            f"{', '.join(data.labels)}")
    return fit(cfg, ctx, data)
