"""The diffusion training loop: Flux / SDXL / SD1.5, LoRA or full fine-tune, one process or DDP.

Reads top to bottom: processes and precision, preflight, data and the latent / text cache, the model, optimizer
and schedule, resume, the loop (micro-batches, optimizer step, events, checkpoints, samples, stop), the export.
What each family does differently is a row of `families.py`; the pieces live beside this file: `setup.py` (processes,
what is trained), `caching.py` (the cache phase), `loss.py` (the objective), `checkpoint.py`, `sampling.py`,
`export.py`. `train(cfg, ctx)` is called by `autotrain_gradio.train`, which writes the `end` event around it.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path

import torch

from autotrain_gradio.config import config_digest
from autotrain_gradio.tasks.common import RunContext, StepClock, push_to_hub
from autotrain_gradio.tasks.diffusion import caching, checkpoint, models, setup
from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.data import Cache, DiffusionDataset, epoch_batches, micro_batches, scan
from autotrain_gradio.tasks.diffusion.families import family
from autotrain_gradio.tasks.diffusion.loss import training_loss
from autotrain_gradio.tasks.diffusion.sampling import read_prompts, sample_during_run
from autotrain_gradio.tasks.diffusion.setup import make_optimizer
from autotrain_gradio.tasks.tiny import resolve_model

__all__ = ["make_optimizer", "read_prompts", "train"]


def train(cfg: DiffusionConfig, ctx: RunContext) -> dict:
    """Train, checkpoint, sample and export as cfg says; returns {format: path} of the written model files."""
    from accelerate.utils import set_seed
    from diffusers.optimization import get_scheduler

    from autotrain_gradio.tasks.diffusion.preflight import preflight

    # --- processes, device, precision -------------------------------------------------------------------
    run = setup.start_processes(cfg, ctx)
    accelerator, device, frozen_dtype = run.accelerator, run.device, run.frozen_dtype
    rank, world, is_main, events = accelerator.process_index, accelerator.num_processes, \
        accelerator.is_main_process, ctx.events
    lora = cfg.task == "diffusion-lora"
    train_te = not lora and cfg.train_text_encoder

    # --- preflight: before any weight is read -----------------------------------------------------------
    model_path = resolve_model(cfg.base_model)
    models.check_model_path(model_path)
    # Decided once for all ranks, on the least free memory of any GPU, so that 'adjust' cannot give ranks
    # different settings (they would then wait for each other forever).
    free = setup.least_free_memory(device, world) if torch.cuda.is_available() else None
    cfg = preflight(cfg, model_path, device, log_fn=ctx.log, free=free)
    quant = models.quantization_config(cfg, frozen_dtype)  # after the preflight, which may switch it on
    side = models.vae_scale_factor(model_path) * family(cfg.model_type).latent_packing

    # --- data and the cache: the VAE and text encoders run once, on rank 0, then are freed --------------
    items = scan(cfg, side_multiple=side)
    cache = Cache(cfg, ctx.paths.output_dir / "cache", text_dtype=str(frozen_dtype).removeprefix("torch."))
    cached_latents, cached_text = cfg.cache_latents, cfg.cache_text_embeddings and not train_te
    encoders = caching.Encoders(cfg, model_path, device, torch.float32 if train_te else frozen_dtype, train_te,
                                caching.text_encoder_placement(cfg, train_te, cached_text))
    if is_main:
        caching.fill_cache(ctx, items, cache, encoders, cached_latents, cached_text)
    accelerator.wait_for_everyone()
    encoders.keep_only(vae=not cached_latents, text=not cached_text)  # what the loop itself must run
    events.emit("log", level="info", message="encoder forward calls while caching", epoch=0, **encoders.since({}))

    dataset = DiffusionDataset(items, cache, cached_latents, cached_text)
    micro_per_epoch = len(epoch_batches(items, cfg, 0, rank, world))
    ga = cfg.gradient_accumulation
    total = cfg.max_steps or math.ceil(cfg.epochs * micro_per_epoch / ga)

    # --- the model: LoRA on a frozen base, or every weight trained ----------------------------------------
    set_seed(cfg.seed)  # here, after anything (a tiny-model build, caching) that may have drawn random numbers
    ctx.log(f"loading the {cfg.model_type} {family(cfg.model_type).denoiser_folder} from {cfg.base_model}")
    denoiser = models.load_denoiser(cfg, model_path, frozen_dtype if lora else torch.float32, quant)
    guidance_embeds = bool(getattr(denoiser.config, "guidance_embeds", False))
    noise_scheduler = models.load_noise_scheduler(cfg, model_path)
    trained, groups = setup.trainable(cfg, ctx, denoiser, encoders.encoders if train_te else None, device)
    ctx.log(setup.describe(cfg, denoiser, groups, total, micro_per_epoch, run))

    # --- optimizer and schedule ---------------------------------------------------------------------------
    optimizer = make_optimizer(cfg, groups)
    warmup = cfg.warmup_steps or round(cfg.warmup_ratio * total)
    lr_scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total)
    trained, optimizer = setup.prepare(accelerator, trained, optimizer)
    denoiser = trained["denoiser"]
    if train_te:  # the loop encodes with the prepared (DDP-wrapped) encoders
        encoders.encoders = [trained[f"text_encoder_{i}"] for i in range(len(encoders.encoders))]
    params = [p for g in groups for p in g["params"]]
    generator = torch.Generator(device).manual_seed(cfg.seed * 1000 + rank)  # noise and timesteps

    # --- resume ----------------------------------------------------------------------------------------
    saver = checkpoint.Checkpointer(accelerator, ctx.paths.checkpoints_dir, trained, lora, optimizer, lr_scheduler,
                                    generator, cfg.keep_checkpoints, {"total_steps": total,
                                                                      "digest": config_digest(cfg)}, events)
    step = ctx.extra["step"] = saver.resume(ctx)
    events.start(total_steps=total, step=step, config_digest=config_digest(cfg))

    # --- the loop ----------------------------------------------------------------------------------------
    clock = StepClock(total)
    stream = micro_batches(items, cfg, dataset, step * ga, micro_per_epoch, rank, world)
    # What the VAE and text encoders ran during each epoch (counted by hooks): 0 once their outputs are cached.
    epoch_seen, calls_at_epoch = (step * ga) // micro_per_epoch, dict(encoders.calls)
    while step < total:
        losses = []
        for micro in range(ga):
            epoch, batch = next(stream)
            if epoch != epoch_seen:
                events.emit("log", level="info", message=f"epoch {epoch_seen + 1} done", epoch=epoch_seen + 1,
                            **encoders.since(calls_at_epoch))
                epoch_seen, calls_at_epoch = epoch, dict(encoders.calls)
            sync = micro == ga - 1  # DDP all-reduces gradients only on the last micro-batch
            with nullcontext() if sync else accelerator.no_sync(denoiser), accelerator.autocast():
                latents, cond = encoders.inputs(batch, frozen_dtype)
                loss = training_loss(denoiser, cfg, noise_scheduler, latents, cond, generator, batch, guidance_embeds)
                accelerator.backward(loss / ga)
            losses.append(loss.detach())
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        lr = lr_scheduler.get_last_lr()[0]  # the rate this step used; the schedule moves on below
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step = ctx.extra["step"] = step + 1

        loss_value = accelerator.reduce(torch.stack(losses).mean(), reduction="mean").item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"loss is {loss_value} at step {step}: lower learning_rate, or use bf16 "
                                     "instead of fp16")
        if step % cfg.log_every == 0 or step == total:
            it_s, eta_s = clock.tick(step)
            events.step(step=step, total=total, epoch=step * ga / micro_per_epoch, loss=loss_value, lr=lr,
                        it_s=it_s, eta_s=eta_s)

        stop = ctx.stop_requested
        if world > 1:  # every rank must agree to stop, or the others would wait forever in the next all-reduce
            stop = accelerator.reduce(torch.tensor(float(stop), device=device), reduction="sum").item() > 0
        if stop:
            ctx.stop_requested = True
            return {"checkpoint": str(saver.save(step))}
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            saver.save(step)
        if cfg.sample_every and step % cfg.sample_every == 0 and step < total:
            sample_during_run(accelerator, cfg, ctx, model_path, denoiser, step, frozen_dtype)

    # --- export: the final model, samples, the Hub -------------------------------------------------------
    events.emit("log", level="info", message=f"epoch {epoch_seen + 1} done", epoch=epoch_seen + 1,
                **encoders.since(calls_at_epoch))
    accelerator.wait_for_everyone()
    outputs: dict = {}
    if is_main:
        from autotrain_gradio.tasks.diffusion import export

        model = accelerator.unwrap_model(denoiser)
        if lora:
            outputs = export.save_lora(cfg, model, ctx.paths.model_dir, step)
        else:
            trained_te = [accelerator.unwrap_model(e) for e in encoders.encoders] if train_te else None
            outputs = export.save_full(cfg, model, trained_te, ctx.paths.model_dir, step)
        ctx.log(f"model written to {ctx.paths.model_dir}")
    if not cfg.push_to_hub:  # every rank: a stop from here on ends the run completed, without the final samples
        ctx.extra["exported"] = outputs
    accelerator.wait_for_everyone()
    sample_during_run(accelerator, cfg, ctx, model_path, denoiser, step, frozen_dtype)  # ends with a barrier
    if is_main and outputs.get("card"):  # the final samples go into the model card
        from autotrain_gradio.tasks.cards import append_to_card, samples_section

        append_to_card(Path(outputs["card"]), samples_section(ctx.paths.events, ctx.paths.model_dir))
    if is_main and cfg.push_to_hub:  # an upload of 24-48 GB that no other rank waits for
        outputs["hub"] = push_to_hub(cfg, ctx.paths.model_dir)
    # In-process callers (a notebook, the Python API) get the trained modules without reloading them.
    ctx.extra["model"] = ctx.extra["denoiser"] = accelerator.unwrap_model(denoiser)
    return outputs
