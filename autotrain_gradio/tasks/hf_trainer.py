"""THE transformers-Trainer path every Trainer-based task runs through.

A task reads its data, builds its datasets and calls `fit(cfg, ctx, load_model=..., train_dataset=..., ...)`.
`fit` does the rest, the same way for every task: TrainingArguments from the common config (precision decided
once, the optimizer from `optim.OPTIMIZERS`), our events (start / step / eval / checkpoint), resume from the
newest checkpoint, a checkpoint and a clean stop on SIGTERM, early stopping with the best evaluation exported,
the final evaluation, the model + processor in `output/<name>/model/`, `eval_results.json` in the run folder
(transformers' convention: `eval_`-prefixed metrics plus `epoch`), a model card, and the Hub upload.

Other Trainer families plug in through `trainer_class` / `args_class` (TRL's SFTTrainer + SFTConfig,
sentence-transformers' SentenceTransformerTrainer + its TrainingArguments: both subclass the transformers
ones), `extra_args` (their own TrainingArguments fields) and `trainer_kwargs` (their own Trainer arguments).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from transformers import (
    EarlyStoppingCallback,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from autotrain_gradio.config import TrainerConfig, config_digest
from autotrain_gradio.tasks.cards import append_to_card, eval_section
from autotrain_gradio.tasks.common import RunContext, StepClock, hub_base_model, push_to_hub, resolve_precision
from autotrain_gradio.tasks.distributed import (
    backend_args,
    check_resume,
    describe_backend,
    full_state_dict_for_export,
    stop_agreed,
)
from autotrain_gradio.tasks.optim import LIBRARY_DEFAULT, OPTIMIZERS, make_optimizer, trainer_optimizer

_TIMING = ("runtime", "samples_per_second", "steps_per_second", "epoch")


def eval_metrics(raw: dict[str, float]) -> dict[str, float]:
    """The Trainer's `eval_accuracy` -> `accuracy` etc.; its timing entries are dropped."""
    return {k.removeprefix("eval_"): round(float(v), 6) for k, v in raw.items()
            if k.startswith("eval_") and k.removeprefix("eval_") not in _TIMING}


class EventsCallback(TrainerCallback):
    """The Trainer's hooks as our events; a checkpoint every `checkpoint_every` steps and at the last step; on a
    stop request (SIGTERM): save a checkpoint, then stop."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.clock: StepClock | None = None
        self.it_s: float | None = None
        self.eta_s: float | None = None
        self.stopping = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.clock = StepClock(state.max_steps)
        self.ctx.extra["step"] = state.global_step
        self.ctx.events.start(total_steps=state.max_steps, step=state.global_step,
                              config_digest=config_digest(self.ctx.cfg))

    def on_step_end(self, args, state, control, **kwargs):
        self.ctx.extra["step"] = state.global_step
        self.it_s, self.eta_s = self.clock.tick(state.global_step)
        every = self.ctx.cfg.checkpoint_every
        if every and (state.global_step % every == 0 or state.global_step >= state.max_steps):
            control.should_save = True
        if stop_agreed(self.ctx) and not self.stopping:  # on every rank at the same step
            # The Trainer saves a resumable checkpoint right after this hook, then leaves its loop. Also on the
            # last step, so a cancelled run always leaves a checkpoint to resume from.
            self.stopping = True
            self.ctx.log(f"stop requested: saving a checkpoint at step {state.global_step} and stopping")
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        # Training logs carry 'loss'; eval logs ('eval_loss') and the final summary ('train_loss') do not.
        if logs and "loss" in logs:
            self.ctx.events.step(step=state.global_step, total=state.max_steps, epoch=state.epoch or 0.0,
                                 loss=logs["loss"], lr=logs.get("learning_rate"), it_s=self.it_s, eta_s=self.eta_s)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.ctx.events.eval(step=state.global_step, epoch=state.epoch or 0.0, metrics=eval_metrics(metrics or {}))

    def on_save(self, args, state, control, **kwargs):
        self.ctx.events.checkpoint(step=state.global_step,
                                   path=self.ctx.paths.checkpoints_dir / f"checkpoint-{state.global_step}")


def training_arguments(cfg: TrainerConfig, ctx: RunContext, evaluate: bool,
                       args_class: type[TrainingArguments] = TrainingArguments, **extra: Any) -> TrainingArguments:
    """The common config as `args_class` (TrainingArguments or a subclass); `extra` sets or overrides fields.
    Checkpoints go to output/<name>/checkpoints/."""
    precision = resolve_precision(cfg.mixed_precision)
    if precision != cfg.mixed_precision:
        ctx.log(f"mixed_precision={cfg.mixed_precision!r} -> {precision!r} on this device")
    early = cfg.early_stopping_patience and evaluate
    settings = dict(
        output_dir=str(ctx.paths.checkpoints_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps or cfg.warmup_ratio,  # a float below 1 is a fraction of the total steps
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not _cuda(),
        logging_strategy="steps",
        logging_steps=cfg.log_every,
        eval_strategy="epoch" if evaluate and (cfg.eval_every_epoch or early) else "no",
        # Periodic and stop checkpoints come from EventsCallback. With early stopping the Trainer also keeps each
        # new best evaluation as a checkpoint, which `fit` exports.
        save_strategy="best" if early else "no",
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        save_total_limit=cfg.keep_checkpoints,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        auto_find_batch_size=cfg.auto_find_batch_size,
    )
    optim = OPTIMIZERS[cfg.optimizer].trainer_optim
    if optim != LIBRARY_DEFAULT:  # the default: whatever args_class itself defaults to, as with the plain library
        settings["optim"] = optim or "adamw_torch"  # None: `fit` passes an instance
    return args_class(**{**settings, **extra})


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def token_weighted_loss(model: Any) -> bool:
    """Whether the model's own loss takes num_items_in_batch: its forward calls transformers' `loss_function`
    (causal LMs, masked LMs, VLMs) rather than a loss module of its own."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft model's own
    try:
        return "self.loss_function(" in inspect.getsource(type(base).forward)
    except (OSError, TypeError):
        return True  # source unavailable: leave transformers' choice


def head_kwargs(labels: list[str] | None) -> dict[str, Any]:
    """from_pretrained keyword arguments for a fresh output head: one logit per class in `labels`, or (None) one
    regression output named "target" (the model's loss is then MSE). A pretrained head of another size is dropped."""
    if labels is None:
        return dict(num_labels=1, problem_type="regression", id2label={0: "target"}, label2id={"target": 0},
                    ignore_mismatched_sizes=True)
    return dict(num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={name: i for i, name in enumerate(labels)}, ignore_mismatched_sizes=True)


@dataclass
class ModelCard:
    """What a task says in its model card; `fit` adds the front matter, the metrics table and the base model."""

    pipeline_tag: str
    summary: str  # a paragraph: what was trained on what (rows / images, classes)
    usage: str  # a Python snippet that loads the model from "path/to/model"
    library_name: str = "transformers"


def write_model_card(path: Path, cfg: TrainerConfig, card: ModelCard, metrics: dict[str, Any]) -> None:
    """README.md: front matter the Hub reads, what was trained, the final metrics, how to use it."""
    hub_id = hub_base_model(cfg.base_model)  # the Hub validates base_model as a repo id
    base_line = f"base_model: {hub_id}\n" if hub_id else ""
    rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items())
    path.write_text(f"""---
library_name: {card.library_name}
pipeline_tag: {card.pipeline_tag}
{base_line}tags: [autotrain-gradio, {cfg.task}]
---

# {cfg.name}

Fine-tuned from `{cfg.base_model}` with autotrain-gradio. {card.summary}

| metric | value |
|---|---|
{rows}

```python
{card.usage.strip()}
```
""", encoding="utf-8")


def newest_checkpoint(ctx: RunContext) -> str | None:
    """The checkpoint to resume from when the run was started with --resume (logged either way)."""
    if not ctx.resume:
        return None
    folder = ctx.paths.checkpoints_dir
    found = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    ctx.log(f"resuming from {found}" if found else f"nothing to resume in {folder}: starting from step 0",
            level="info" if found else "warning")
    return found


def fit(cfg: TrainerConfig, ctx: RunContext, *, load_model: Callable[[str], Any], model_source: str,
        train_dataset: Any, eval_dataset: Any | None, card: ModelCard,
        compute_metrics: Callable[[Any], dict[str, float]] | None = None, processing_class: Any | None = None,
        data_collator: Any | None = None, trainer_class: type[Trainer] = Trainer,
        args_class: type[TrainingArguments] = TrainingArguments, extra_args: dict[str, Any] | None = None,
        trainer_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, evaluate, save, describe and (optionally) push. Returns {"model": path, "metrics": {...}[, "hub"]},
    or {"checkpoint": path} when stopped by a signal.

    `load_model(path)` builds the model from `model_source` (the resolved base model), from the checkpoint a resumed
    run starts at, or from the best checkpoint to export: always through from_pretrained. transformers 5 writes
    checkpoints with the Hub's key names while the model in memory may use renamed ones, and the Trainer's own
    non-strict reload silently skips every renamed tensor; from_pretrained knows the renaming."""
    evaluate = eval_dataset is not None and len(eval_dataset) > 0
    if cfg.early_stopping_patience and not evaluate:  # AutoTrain's rule too: no validation data, no early stopping
        ctx.log("no validation data: early stopping is off and the last weights are exported")
        cfg = cfg.model_copy(update={"early_stopping_patience": 0})

    # --- where to start: the base model, or the newest checkpoint when resuming ----------------------------
    resume_from = newest_checkpoint(ctx)
    check_resume(resume_from, cfg)
    set_seed(cfg.seed)
    model = load_model(resume_from or model_source)

    # --- the trainer ---------------------------------------------------------------------------------------
    callbacks: list[TrainerCallback] = [EventsCallback(ctx)]
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience,
                                               early_stopping_threshold=cfg.early_stopping_threshold))
    own_optimizer = OPTIMIZERS[cfg.optimizer].trainer_optim is None
    args = training_arguments(cfg, ctx, evaluate, args_class, **backend_args(cfg, model), **(extra_args or {}))
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if evaluate else None,
        processing_class=processing_class,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        optimizers=(make_optimizer(cfg.optimizer, model.parameters(), cfg.learning_rate, cfg.weight_decay), None)
        if own_optimizer else (None, None),
        **(trainer_kwargs or {}),
    )

    # A torch implementation TrainingArguments.optim cannot name (foreach): the Trainer still builds it, with its
    # weight-decay groups. Set as an attribute: some subclasses (Seq2SeqTrainer) do not take the argument.
    trainer.optimizer_cls_and_kwargs = trainer_optimizer(cfg.optimizer, args) or trainer.optimizer_cls_and_kwargs

    # transformers takes any forward(**kwargs) for one whose loss honours num_items_in_batch (a token-weighted sum):
    # it then skips the division by gradient_accumulation and multiplies the loss by the process count. A model
    # whose loss is its own mean (BERT / T5 heads) would get gradient_accumulation x num_processes times its gradient.
    if not token_weighted_loss(trainer.model):
        trainer.model_accepts_loss_kwargs = False
    if shared := describe_backend(trainer, model):
        ctx.log(shared)

    # Without tqdm the Trainer prints every log dict to stdout; the events are our log.
    trainer.remove_callback(PrinterCallback)

    # --- train ---------------------------------------------------------------------------------------------
    result = trainer.train(resume_from_checkpoint=resume_from)
    ctx.extra["step"] = trainer.state.global_step
    ctx.extra.update(model=trainer.model, processor=processing_class)  # for in-process callers (a notebook)
    if ctx.stop_requested:  # the callback saved a checkpoint; partly trained weights do not go to model/
        return {"checkpoint": get_last_checkpoint(str(ctx.paths.checkpoints_dir))}
    best = trainer.state.best_model_checkpoint if cfg.early_stopping_patience else None
    if best:
        # Export the best evaluation, not the last (worse) weights; loaded the safe way, as above.
        trainer.model.load_state_dict(load_model(best).state_dict())
        ctx.log(f"exporting the best evaluation: step {trainer.state.best_global_step}, "
                f"eval loss {trainer.state.best_metric:.4f}")

    # --- final evaluation (unless the last epoch's is of these very weights) and export ---------------------
    metrics: dict[str, Any] = {"train_loss": round(float(result.training_loss), 6)}
    epoch = float(trainer.state.epoch or 0.0)
    if evaluate:
        # The evaluation of the exported weights: the best one's own (AutoTrain's rule: lowest eval loss, reported
        # with its epoch), the last epoch's when it is of these very weights, else a fresh one.
        evals = [e for e in trainer.state.log_history if "eval_loss" in e]
        at = trainer.state.best_global_step if best else trainer.state.global_step
        own = next((e for e in reversed(evals) if e.get("step") == at), None)
        final = eval_metrics(own or trainer.evaluate())
        epoch = float(own.get("epoch", epoch)) if own else epoch
        metrics.update(final)
        if ctx.is_main:  # transformers' convention: eval_-prefixed names, plus the epoch
            results = {"epoch": round(epoch, 4), "eval_samples": len(eval_dataset),
                       **{f"eval_{k}": v for k, v in final.items()}}
            (ctx.paths.output_dir / "eval_results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    model_dir = ctx.paths.model_dir
    full_state_dict_for_export(trainer)
    trainer.save_model(str(model_dir))  # weights, config (label names) and the processor / tokenizer
    if ctx.is_main:
        if best:
            card = replace(card, summary=f"{card.summary} Exported: the best evaluation by validation loss, epoch "
                           f"{epoch:g} (step {trainer.state.best_global_step}); early stopping patience "
                           f"{cfg.early_stopping_patience}, threshold {cfg.early_stopping_threshold}.")
        write_model_card(model_dir / "README.md", cfg, card, metrics)
        append_to_card(model_dir / "README.md", eval_section(ctx.paths.events, model_dir))
    ctx.log(f"model saved to {model_dir}: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    outputs: dict[str, Any] = {"model": str(model_dir), "metrics": metrics, "epoch": round(epoch, 4)}
    if best:
        outputs["best_step"] = trainer.state.best_global_step
    if cfg.push_to_hub and ctx.is_main:
        outputs["hub"] = push_to_hub(cfg, model_dir)  # token from HF_TOKEN only, scrubbed from errors
    return outputs
