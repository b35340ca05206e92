"""The diffusion training loop: Flux / SDXL / SD1.5, LoRA or full fine-tune, one process or DDP.

Reads top to bottom: processes and precision, preflight, data and the latent / text cache, the model, optimizer
and schedule, resume, the loop (micro-batches, optimizer step, events, checkpoints, samples, stop), the export.
`train(cfg, ctx)` is called by `autotrain_gradio.train`, which writes the `end` event around it.
"""

from __future__ import annotations

import gc
import math
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import torch

from autotrain_gradio.config import config_digest
from autotrain_gradio.tasks import optim
from autotrain_gradio.tasks.common import RunContext, StepClock, push_to_hub, resolve_precision
from autotrain_gradio.tasks.diffusion import checkpoint, emulation, models, offload
from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.data import (
    Cache,
    DiffusionDataset,
    captions_to_encode,
    collate,
    epoch_batches,
    pixels,
    scan,
)
from autotrain_gradio.tasks.diffusion.sampling import expand_prompt
from autotrain_gradio.tasks.tiny import resolve_model

# Other ranks wait while rank 0 alone downloads and runs the text encoders (T5-XXL) to fill the cache, renders
# samples or writes a 24-48 GB checkpoint; torch's default of 10 minutes would end the run in the middle of that.
PROCESS_GROUP_TIMEOUT = timedelta(hours=3)


def make_optimizer(cfg: DiffusionConfig, groups: list[dict]) -> torch.optim.Optimizer:
    """cfg.optimizer from the one table (tasks.optim); a missing optional package fails here, before any step,
    with the pip line."""
    return optim.make_optimizer(cfg.optimizer, groups, cfg.learning_rate, cfg.weight_decay)


def least_free_memory(device: torch.device, world: int) -> int:
    """Free bytes of this rank's GPU, or the smallest over all ranks when there are several."""
    free = torch.tensor(torch.cuda.mem_get_info(device)[0], device=device, dtype=torch.int64)
    if world > 1:
        torch.distributed.all_reduce(free, op=torch.distributed.ReduceOp.MIN)
    return int(free.item())


def read_prompts(cfg: DiffusionConfig, prompts_file: Path) -> list[str]:
    """sample_prompts.txt (one per line) when present, else the config's; {trigger} filled in."""
    lines = prompts_file.read_text(encoding="utf-8").splitlines() if prompts_file.is_file() else cfg.sample_prompts
    return [expand_prompt(p, cfg.trigger_word).strip(" ,") for p in lines if p.strip()]


def train(cfg: DiffusionConfig, ctx: RunContext) -> dict:
    """Train, checkpoint, sample and export as cfg says; returns {format: path} of the written model files."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs, set_seed

    from autotrain_gradio.tasks.diffusion.preflight import preflight

    # --- processes, device, precision -------------------------------------------------------------------
    cuda = torch.cuda.is_available()
    # The configured precision is kept on a CPU only by tests, to run the GPU paths there (emulation.py).
    precision = cfg.mixed_precision if emulation.enabled() else resolve_precision(cfg.mixed_precision)
    # Only a trained SDXL first text encoder has weights off the loss path (its last layer: SDXL reads the
    # penultimate one), which DDP must be told about. Gradients live in DDP's buckets, not in a second copy
    # (+9.6 GiB for a full SDXL fine-tune, +44 GiB for Flux).
    ddp = DistributedDataParallelKwargs(find_unused_parameters=cfg.task == "diffusion-full" and cfg.train_text_encoder,
                                        gradient_as_bucket_view=True)
    # A notebook may run several trainings in one process, and accelerate keeps the first one's precision in a
    # process-wide singleton that refuses a different one: forget it (the process group, in PartialState, stays).
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(mixed_precision=precision, cpu=not cuda,
                              kwargs_handlers=[ddp, InitProcessGroupKwargs(timeout=PROCESS_GROUP_TIMEOUT)])
    if emulation.enabled():
        emulation.keep_fp16(accelerator)
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    is_main, events = accelerator.is_main_process, ctx.events
    if precision != cfg.mixed_precision:
        ctx.log(f"mixed_precision={cfg.mixed_precision!r} -> {precision!r} on this device")
    lora = cfg.task == "diffusion-lora"
    train_te = not lora and cfg.train_text_encoder
    if train_te and cfg.model_type == "flux":
        raise ValueError("train_text_encoder is for sdxl / sd15; a Flux full fine-tune trains the transformer only")
    # Frozen weights (and cached embeddings) run in the low precision; trained weights stay fp32 (below).
    frozen_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)

    # --- preflight: before any weight is read -----------------------------------------------------------
    model_path = resolve_model(cfg.base_model)
    models.check_model_path(model_path)
    # Decided once for all ranks, on the least free memory of any GPU, so that 'adjust' cannot give ranks
    # different settings (they would then wait for each other forever).
    cfg = preflight(cfg, model_path, device, log_fn=ctx.log, free=least_free_memory(device, world) if cuda else None)
    quant = models.quantization_config(cfg, frozen_dtype)  # after the preflight, which may switch it on
    side = models.vae_scale_factor(model_path) * (2 if cfg.model_type == "flux" else 1)

    # --- data and the cache: the VAE and text encoders run once, on rank 0, then are freed --------------
    items = scan(cfg, side_multiple=side)
    cache = Cache(cfg, ctx.paths.output_dir / "cache", text_dtype=str(frozen_dtype).removeprefix("torch."))
    cached_latents, cached_text = cfg.cache_latents, cfg.cache_text_embeddings and not train_te
    calls: dict[str, int] = {}  # forward calls of the VAE / text encoders, counted by hooks
    # Where frozen text encoders run (the preflight resolved 'auto' on a GPU); the loop's own encoding needs them
    # on the device, or streamed to it.
    te_placement = {"auto": "gpu"}.get(cfg.text_encoder_device, cfg.text_encoder_device)
    if train_te:
        te_placement = "gpu"
    elif te_placement == "cpu" and not cached_text:
        te_placement = "offload"
    vae = tokenizers = encoders = None

    def load_encoders(need_vae: bool, need_text: bool) -> None:
        nonlocal vae, tokenizers, encoders
        if need_vae and vae is None:
            vae = models.load_vae(model_path).to(device).requires_grad_(False)
            models.count_forward_calls({"vae": vae.encoder}, calls)
        if need_text and encoders is None:
            te_dtype = torch.float32 if train_te else frozen_dtype
            tokenizers, encoders = models.load_text_encoders(cfg, model_path, te_dtype)
            encoders = [e.requires_grad_(train_te) for e in encoders]
            offload.place_text_encoders(encoders, te_placement, device)
            models.count_forward_calls({f"text_encoder_{i}": e for i, e in enumerate(encoders)}, calls)

    if is_main:
        todo_latents = [it for it in items if cached_latents and not cache.latent_path(it).is_file()]
        todo_text = [c for c in captions_to_encode(items, cfg.caption_dropout)
                     if cached_text and not cache.text_path(c).is_file()]
        if todo_latents or todo_text:
            ctx.log(f"loading the VAE / text encoders to cache {len(todo_latents)} images and {len(todo_text)} "
                    "captions (once; later runs reuse the cache)")
        load_encoders(bool(todo_latents), bool(todo_text))
        with torch.no_grad():
            shown = time.monotonic()
            for i, item in enumerate(todo_latents, 1):
                cache.write(cache.latent_path(item), {"latents": models.encode_images(vae, pixels(item)[None])[0]})
                if time.monotonic() - shown > 5:  # a monitor shows this while no step exists yet
                    ctx.log(f"caching latents {i}/{len(todo_latents)}")
                    shown = time.monotonic()
            for caption in todo_text:
                out = models.encode_prompts(cfg.model_type, tokenizers, encoders, [caption], cfg.max_sequence_length)
                cache.write(cache.text_path(caption), {k: v[0] for k, v in out.items()})
        ctx.log(f"cache ready: {len(todo_latents)} latents and {len(todo_text)} captions encoded, "
                f"{len(items) - len(todo_latents) if cached_latents else 0} latents reused")
    accelerator.wait_for_everyone()
    # Keep only what the loop itself must run; drop the rest so its memory is free for training.
    if cached_latents:
        vae = None
    if cached_text:
        tokenizers = encoders = None
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    load_encoders(not cached_latents, not cached_text)
    events.emit("log", level="info", message="encoder forward calls while caching", epoch=0,
                vae_calls=calls.get("vae", 0), text_encoder_calls=sum(v for k, v in calls.items() if k != "vae"))

    dataset = DiffusionDataset(items, cache, cached_latents, cached_text)
    micro_per_epoch = len(epoch_batches(items, cfg, 0, rank, world))
    ga = cfg.gradient_accumulation
    total = cfg.max_steps or math.ceil(cfg.epochs * micro_per_epoch / ga)

    # --- the model: LoRA on a frozen base, or every weight trained ----------------------------------------
    set_seed(cfg.seed)  # here, after anything (a tiny-model build, caching) that may have drawn random numbers
    ctx.log(f"loading the {cfg.model_type} {models.DENOISER_FOLDER[cfg.model_type]} from {cfg.base_model}")
    denoiser = models.load_denoiser(cfg, model_path, frozen_dtype if lora else torch.float32, quant)
    guidance_embeds = bool(getattr(denoiser.config, "guidance_embeds", False))
    noise_scheduler = models.load_noise_scheduler(cfg, model_path)
    if lora:
        from peft import LoraConfig

        denoiser.requires_grad_(False)
        denoiser.add_adapter(LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                        target_modules=cfg.lora_target_modules or models.LORA_TARGETS[cfg.model_type],
                                        init_lora_weights="gaussian", use_dora=cfg.use_dora))
        for p in denoiser.parameters():  # the adapter trains in fp32 even on a bf16 base
            if p.requires_grad:
                p.data = p.data.float()
    if cfg.blocks_to_swap:  # frozen weights of N blocks stay in CPU memory, streamed in for forward and backward
        swap = offload.LayerStreamer(offload.flux_blocks_to_swap(denoiser, cfg.blocks_to_swap), device, train=True)
        ctx.log(f"block swapping: {len(swap.layers)} blocks, {swap.streamed_bytes() / 2**30:.2f} GiB in CPU memory")
    if cfg.gradient_checkpointing:
        denoiser.enable_gradient_checkpointing()
        if train_te:
            for e in encoders:
                e.gradient_checkpointing_enable()
    denoiser.train()
    trained = {"denoiser": denoiser}
    groups = [{"params": [p for p in denoiser.parameters() if p.requires_grad], "lr": cfg.learning_rate}]
    if train_te:
        for i, e in enumerate(encoders):
            e.train()
            trained[f"text_encoder_{i}"] = e
        groups.append({"params": [p for e in encoders for p in e.parameters()],
                       "lr": cfg.text_encoder_lr or cfg.learning_rate})
    n_trained = sum(p.numel() for g in groups for p in g["params"])
    n_total = sum(p.numel() for p in denoiser.parameters())
    base = next(p for n, p in denoiser.named_parameters() if n.endswith("weight") and p.ndim == 2 and "lora_" not in n)
    ctx.log(f"{cfg.model_type} {'LoRA' if lora else 'full'}: {n_trained:,} trained parameters of {n_total:,}; "
            f"{total} steps, {micro_per_epoch} batches per epoch per process, {world} process(es); "
            f"linear weights stored as {type(base).__name__} {str(base.dtype).removeprefix('torch.')}, "
            f"mixed precision {precision}")

    # --- optimizer and schedule ---------------------------------------------------------------------------
    from diffusers.optimization import get_scheduler

    optimizer = make_optimizer(cfg, groups)
    warmup = cfg.warmup_steps or round(cfg.warmup_ratio * total)
    lr_scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total)
    if world > 1:
        # DDP broadcasts every parameter from rank 0 when it wraps a model: for a LoRA that copies the frozen base
        # (24 GB for Flux) for nothing, and torchao's float8 weights cannot be broadcast at all. Sync trained ones.
        from torch.nn.parallel import DistributedDataParallel

        for module in trained.values():
            frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, frozen)
    prepared = accelerator.prepare(*trained.values(), optimizer)  # the schedule is stepped by hand, once a step
    trained, optimizer = dict(zip(trained, prepared[:-1], strict=True)), prepared[-1]
    denoiser = trained["denoiser"]
    if train_te:
        encoders = [trained[f"text_encoder_{i}"] for i in range(len(encoders))]
    params = [p for g in groups for p in g["params"]]
    generator = torch.Generator(device).manual_seed(cfg.seed * 1000 + rank)  # noise and timesteps

    # --- resume ----------------------------------------------------------------------------------------
    step = 0
    found = checkpoint.newest(ctx.paths.checkpoints_dir) if ctx.resume else None
    if found is not None:
        step = checkpoint.load(accelerator, found, trained, lora, optimizer, lr_scheduler, generator)
        ctx.log(f"resumed from {found.name} (step {step})")
    elif ctx.resume:
        ctx.log("resume asked but no checkpoint found: starting from step 0", level="warning")
    ctx.extra["step"] = step
    events.start(total_steps=total, step=step, config_digest=config_digest(cfg))

    def save_checkpoint() -> Path:
        path = checkpoint.save(accelerator, ctx.paths.checkpoints_dir, step, trained, lora, optimizer, lr_scheduler,
                               generator, cfg.keep_checkpoints, {"total_steps": total, "digest": config_digest(cfg)})
        events.checkpoint(step=step, path=path)
        return path

    def render(prompts: list[str]) -> None:
        if is_main and prompts:
            from autotrain_gradio.tasks.diffusion.sampling import render_samples

            model = accelerator.unwrap_model(denoiser)
            model.eval()
            with torch.no_grad():
                paths = render_samples(cfg, model_path, model, prompts, step, ctx.paths.samples_dir, device,
                                       frozen_dtype)
            model.train()
            events.sample(step=step, paths=paths, prompts=prompts)
        accelerator.wait_for_everyone()

    def micro_batches(start: int):
        """(epoch, batch) from micro-batch number `start` on, across epochs; the order depends on seed only."""
        epoch, offset = divmod(start, micro_per_epoch)
        while True:
            order = epoch_batches(items, cfg, epoch, rank, world)[offset:]
            loader = torch.utils.data.DataLoader(dataset, batch_sampler=order, collate_fn=collate,
                                                 num_workers=cfg.dataloader_workers,
                                                 generator=torch.Generator())  # leaves the global RNG alone
            for batch in loader:
                yield epoch, batch
            epoch, offset = epoch + 1, 0

    # --- the loop ----------------------------------------------------------------------------------------
    clock, stream = StepClock(total), micro_batches(step * ga)
    epoch_seen, calls_at_epoch = (step * ga) // micro_per_epoch, dict(calls)

    def report_epoch(epoch: int) -> None:
        """What the VAE and text encoders ran during an epoch (counted by hooks): 0 once their outputs are cached."""
        since = {k: v - calls_at_epoch.get(k, 0) for k, v in calls.items()}
        events.emit("log", level="info", message=f"epoch {epoch + 1} done", epoch=epoch + 1,
                    vae_calls=since.get("vae", 0), text_encoder_calls=sum(v for k, v in since.items() if k != "vae"))

    while step < total:
        losses = []
        for micro in range(ga):
            epoch, batch = next(stream)
            if epoch != epoch_seen:
                report_epoch(epoch_seen)
                epoch_seen, calls_at_epoch = epoch, dict(calls)
            sync = micro == ga - 1  # DDP all-reduces gradients only on the last micro-batch
            with nullcontext() if sync else accelerator.no_sync(denoiser), accelerator.autocast():
                with torch.set_grad_enabled(train_te):
                    if "latents" in batch:
                        latents = batch["latents"].to(device)
                    else:  # encode_images leaves autocast: the SDXL VAE overflows in fp16
                        with torch.no_grad():
                            latents = models.encode_images(vae, batch["pixels"])
                    if "prompt_embeds" in batch:
                        cond = {k: batch[k].to(device, frozen_dtype) for k in batch if k.endswith("prompt_embeds")}
                    else:
                        cond = models.encode_prompts(cfg.model_type, tokenizers, encoders, batch["caption"],
                                                     cfg.max_sequence_length)
                latents = latents.float()
                if cfg.model_type == "flux":
                    loss = models.flux_loss(denoiser, cfg, latents, cond, generator, guidance_embeds)
                else:
                    loss = models.unet_loss(denoiser, cfg, noise_scheduler, latents, cond, generator, batch)
                accelerator.backward(loss / ga)
            losses.append(loss.detach())
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        lr = lr_scheduler.get_last_lr()[0]  # the rate this step used; the schedule moves on below
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        ctx.extra["step"] = step

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
            return {"checkpoint": str(save_checkpoint())}
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            save_checkpoint()
        if cfg.sample_every and step % cfg.sample_every == 0 and step < total:
            render(read_prompts(cfg, ctx.paths.sample_prompts))

    # --- export: the final model, samples, the Hub -------------------------------------------------------
    report_epoch(epoch_seen)
    accelerator.wait_for_everyone()
    outputs: dict = {}
    if is_main:
        from autotrain_gradio.tasks.diffusion import export

        model = accelerator.unwrap_model(denoiser)
        if lora:
            outputs = export.save_lora(cfg, model, ctx.paths.model_dir, step)
        else:
            trained_te = [accelerator.unwrap_model(e) for e in encoders] if train_te else None
            outputs = export.save_full(cfg, model, trained_te, ctx.paths.model_dir, step)
        ctx.log(f"model written to {ctx.paths.model_dir}")
    if not cfg.push_to_hub:  # every rank: a stop from here on ends the run completed, without the final samples
        ctx.extra["exported"] = outputs
    accelerator.wait_for_everyone()
    render(read_prompts(cfg, ctx.paths.sample_prompts))  # ends with the last barrier: the other ranks are done
    if is_main and outputs.get("card"):  # the final samples go into the model card
        from autotrain_gradio.tasks.cards import append_to_card, samples_section

        append_to_card(Path(outputs["card"]), samples_section(ctx.paths.events, ctx.paths.model_dir))
    if is_main and cfg.push_to_hub:  # an upload of 24-48 GB that no other rank waits for
        outputs["hub"] = push_to_hub(cfg, ctx.paths.model_dir)
    # In-process callers (a notebook, the Python API) get the trained modules without reloading them.
    ctx.extra["model"] = ctx.extra["denoiser"] = accelerator.unwrap_model(denoiser)
    return outputs
