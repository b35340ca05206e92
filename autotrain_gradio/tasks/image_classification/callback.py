"""A TrainerCallback that turns the transformers Trainer's hooks into our event stream and honours SIGTERM."""

from __future__ import annotations

from transformers import TrainerCallback

from autotrain_gradio.config import config_digest
from autotrain_gradio.tasks.common import RunContext, StepClock


def eval_metrics(raw: dict[str, float]) -> dict[str, float]:
    """eval_accuracy -> accuracy etc.; the Trainer's timing entries are dropped."""
    drop = ("runtime", "samples_per_second", "steps_per_second", "epoch")
    return {k.removeprefix("eval_"): round(float(v), 6) for k, v in raw.items()
            if k.startswith("eval_") and k.removeprefix("eval_") not in drop}


class EventsCallback(TrainerCallback):
    """start / step / eval / checkpoint events; a checkpoint every `checkpoint_every` steps and at the last step;
    on a stop request: save a checkpoint, then stop."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.clock: StepClock | None = None
        self.it_s: float | None = None
        self.eta_s: float | None = None
        self.stopping = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.clock = StepClock(state.max_steps)
        self.ctx.extra["step"] = state.global_step
        self.ctx.events.emit("start", total_steps=state.max_steps, step=state.global_step,
                             digest=config_digest(self.ctx.cfg))

    def on_step_end(self, args, state, control, **kwargs):
        self.ctx.extra["step"] = state.global_step
        self.it_s, self.eta_s = self.clock.tick(state.global_step)
        every = self.ctx.cfg.checkpoint_every
        if every and (state.global_step % every == 0 or state.global_step >= state.max_steps):
            control.should_save = True
        if self.ctx.stop_requested and not self.stopping:
            # SIGTERM: the Trainer saves a resumable checkpoint right after this hook, then leaves its loop. Also on
            # the last step, so a cancelled run always leaves a checkpoint to resume from.
            self.stopping = True
            self.ctx.log(f"stop requested: saving a checkpoint at step {state.global_step} and stopping")
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        # Training logs carry 'loss'; eval logs ('eval_loss') and the final summary ('train_loss') do not.
        if logs and "loss" in logs:
            self.ctx.events.emit("step", step=state.global_step, total=state.max_steps,
                                 epoch=round(state.epoch or 0.0, 4), loss=round(float(logs["loss"]), 6),
                                 lr=logs.get("learning_rate"), it_s=self.it_s, eta_s=self.eta_s)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.ctx.events.emit("eval", step=state.global_step, epoch=round(state.epoch or 0.0, 4),
                             metrics=eval_metrics(metrics or {}))

    def on_save(self, args, state, control, **kwargs):
        path = self.ctx.paths.checkpoints_dir / f"checkpoint-{state.global_step}"
        self.ctx.events.emit("checkpoint", step=state.global_step, path=str(path))
