"""Per-step time of our Flux LoRA training loop against a minimal hand-written diffusers + peft loop, same tiny
model and batch, measured in one run: repetitions interleaved (ours, reference, ours, ...), each in its own
subprocess so peak RSS is per side; per-step time is the median over a run's steps, then over repetitions; and
the ratio (target <= 1.10).

"Ours" is the real trainer process (`autotrain_gradio.train` on a config.toml, cached latents and text embeddings,
as a user runs it); its per-step time comes from the `step` events' timestamps after warm-up, so caching and model
loading are not counted. The reference gets the same shapes as ready tensors in memory.

    python bench/diffusion_step.py [--reps 3] [--steps 30] [--batch 2] [--resolution 64]
    python bench/diffusion_step.py --gpu   # full-size FLUX.1 transformer, random weights (needs CUDA, ~60 GB)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from interleave import interleave  # bench/interleave.py: python puts the script's folder on sys.path

FLUX_DEV = dict(attention_head_dim=128, guidance_embeds=True, in_channels=64, joint_attention_dim=4096,
                num_attention_heads=24, num_layers=19, num_single_layers=38, patch_size=1, pooled_projection_dim=768,
                axes_dims_rope=(16, 56, 56))
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "4090": 165.0}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _median_step(marks: list[float], warmup: int) -> float:
    """Median time between consecutive step ends after warm-up: robust to a burst of load from elsewhere."""
    return statistics.median(b - a for a, b in zip(marks[warmup - 1:-1], marks[warmup:], strict=True))


# --- the two sides, each run as a child process ---------------------------------------------------------------


def _config(args, work: Path, name: str):
    from autotrain_gradio.tasks.diffusion.config import DiffusionLoraConfig

    return DiffusionLoraConfig(
        name=name, base_model="tiny:flux", model_type="flux", data_dir=str(work / "data"),
        output_dir=str(work / "output" / name), resolution=args.resolution, bucket_step=8, batch_size=args.batch,
        max_steps=args.warmup + args.steps, lora_rank=args.rank, lora_alpha=args.rank, mixed_precision="no",
        gradient_checkpointing=False, max_sequence_length=32, checkpoint_every=0, sample_every=0, sample_prompts=[],
        export_formats=["diffusers"], memory_preflight="off", seed=0, learning_rate=1e-4)


def child_ours(args, work: Path) -> dict:
    from autotrain_gradio import train
    from autotrain_gradio.config import save_config

    cfg = _config(args, work, f"ours-{args.rep}")
    config_path = save_config(cfg, Path(cfg.output_dir) / "config.toml")
    code = train.main(["--config", str(config_path)])
    if code != 0:
        raise SystemExit(f"trainer exited {code}")
    events = [json.loads(line) for line in (Path(cfg.output_dir) / "log" / "events.jsonl").read_text().splitlines()]
    times = [e["t"] for e in events if e["type"] == "step"]
    return {"step_s": _median_step(times, args.warmup), "rss_mb": _rss_mb()}


def child_reference(args, work: Path) -> dict:
    """The smallest honest diffusers + peft Flux LoRA step: flow-matching loss on packed latents, AdamW."""
    from diffusers import FluxPipeline, FluxTransformer2DModel
    from peft import LoraConfig

    from autotrain_gradio.tasks.diffusion.families import FAMILIES
    from autotrain_gradio.tasks.diffusion.models import vae_scale_factor
    from autotrain_gradio.tasks.tiny import resolve_model

    torch.manual_seed(0)
    path = resolve_model("tiny:flux")
    model = FluxTransformer2DModel.from_pretrained(path, subfolder="transformer")
    model.requires_grad_(False)
    model.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.rank, init_lora_weights="gaussian",
                                 target_modules=list(FAMILIES["flux"].lora_targets)))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    side = args.resolution // vae_scale_factor(path)
    b, c = args.batch, model.config.in_channels // 4  # 2x2 packing: 4 latent channels per token feature
    latents = torch.randn(b, c, side, side)
    text = torch.randn(b, 32, model.config.joint_attention_dim)
    pooled = torch.randn(b, model.config.pooled_projection_dim)
    img_ids = FluxPipeline._prepare_latent_image_ids(b, side // 2, side // 2, "cpu", torch.float32)
    txt_ids = torch.zeros(text.shape[1], 3)
    model.train()
    marks = []
    for _ in range(args.warmup + args.steps):
        noise = torch.randn_like(latents)
        t = torch.sigmoid(torch.randn(b))
        noisy = (1 - t.view(b, 1, 1, 1)) * latents + t.view(b, 1, 1, 1) * noise
        pred = model(hidden_states=FluxPipeline._pack_latents(noisy, b, c, side, side), timestep=t,
                     guidance=torch.ones(b), pooled_projections=pooled, encoder_hidden_states=text, txt_ids=txt_ids,
                     img_ids=img_ids, return_dict=False)[0]
        loss = torch.nn.functional.mse_loss(pred, FluxPipeline._pack_latents(noise - latents, b, c, side, side))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        marks.append(time.perf_counter())
    return {"step_s": _median_step(marks, args.warmup), "rss_mb": _rss_mb()}


def _write_dataset(root: Path, n: int, size: int) -> None:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}
    for i in range(n):
        name, rgb = list(colours.items())[i % len(colours)]
        Image.new("RGB", (size, size), rgb).save(root / f"{i:03d}.png")
        (root / f"{i:03d}.txt").write_text(f"a {name} photo")


def run_cpu(args) -> None:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-diffusion-"))
    _write_dataset(work / "data", n=4 * args.batch, size=args.resolution)
    # Same thread count on both sides; more threads than free cores makes tiny steps spin, not compute.
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    interleave(__file__, ["--workdir", str(work), "--steps", str(args.steps), "--warmup", str(args.warmup),
                          "--batch", str(args.batch), "--resolution", str(args.resolution), "--rank", str(args.rank)],
               args.reps, env, f"tiny Flux LoRA rank {args.rank}, batch {args.batch}, {args.resolution} px, "
               f"{args.steps} steps x {args.reps} reps, {args.threads} thread(s) per side", target=1.10)


# --- GPU: full-size FLUX.1 transformer with random weights ----------------------------------------------------


def run_gpu(args) -> None:
    """s/step, peak GPU memory and MFU of our loss (loss.flux_loss) + backward + AdamW step on the FLUX.1
    transformer (random bf16 weights, LoRA rank 16 in fp32 on the trainer's default targets), batch 1, 512 and
    1024 px, gradient checkpointing off and on. MFU counts the model FLOPs of a step without recomputation
    (torch's FlopCounterMode on one un-checkpointed step), so checkpointing shows up as lower MFU."""
    from diffusers import FluxTransformer2DModel
    from peft import LoraConfig
    from torch.utils.flop_counter import FlopCounterMode

    from autotrain_gradio.tasks.diffusion import loss as losses
    from autotrain_gradio.tasks.diffusion.config import DiffusionLoraConfig
    from autotrain_gradio.tasks.diffusion.families import FAMILIES

    assert torch.cuda.is_available(), "--gpu needs CUDA"
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), 989.0)
    torch.set_default_dtype(torch.bfloat16)  # build the 12 B weights in bf16 directly (24 GB, not 48)
    with torch.device(device):
        model = FluxTransformer2DModel(**FLUX_DEV)
    torch.set_default_dtype(torch.float32)
    model.requires_grad_(False)
    model.add_adapter(LoraConfig(r=16, lora_alpha=16, init_lora_weights="gaussian",
                                 target_modules=list(FAMILIES["flux"].lora_targets)))
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    generator = torch.Generator(device).manual_seed(0)
    print(f"{name}: FLUX.1 transformer {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B params, "
          f"LoRA {sum(p.numel() for p in params) / 1e6:.1f} M, peak {peak} TFLOP/s bf16")

    def step(cfg, latents, cond):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = losses.flux_loss(model, cfg, latents, cond, generator, guidance_embeds=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for resolution in (512, 1024):
        cfg = DiffusionLoraConfig(model_type="flux", resolution=resolution, max_sequence_length=512)
        latents = torch.randn(1, 16, resolution // 8, resolution // 8, device=device)
        cond = {"prompt_embeds": torch.randn(1, 512, 4096, device=device, dtype=torch.bfloat16),
                "pooled_prompt_embeds": torch.randn(1, 768, device=device, dtype=torch.bfloat16)}
        model.disable_gradient_checkpointing()
        with FlopCounterMode(display=False) as counter:
            step(cfg, latents, cond)
        flops = counter.get_total_flops()
        for checkpointing in (False, True):
            if checkpointing:
                model.enable_gradient_checkpointing()
            else:
                model.disable_gradient_checkpointing()
            try:
                for _ in range(args.warmup):
                    step(cfg, latents, cond)
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(cfg, latents, cond)
                torch.cuda.synchronize()
                seconds = (time.perf_counter() - start) / args.steps
                memory = torch.cuda.max_memory_allocated() / 1024**3
                mfu = flops / seconds / (peak * 1e12)
                print(f"{resolution:5d} px  checkpointing {'on ' if checkpointing else 'off'}  {seconds:6.3f} s/step  "
                      f"peak {memory:5.1f} GiB  MFU {mfu * 100:5.1f}%  ({flops / 1e12:.1f} TFLOP/step)", flush=True)
            except torch.cuda.OutOfMemoryError:
                optimizer.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                print(f"{resolution:5d} px  checkpointing {'on ' if checkpointing else 'off'}  out of memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per side (OMP_NUM_THREADS)")
    parser.add_argument("--gpu", action="store_true", help="full-size FLUX.1 transformer on CUDA")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="bf16 dense peak for MFU (default: by name)")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--child", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--rep", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        result = (child_ours if args.child == "ours" else child_reference)(args, Path(args.workdir))
        print(json.dumps(result), flush=True)
    elif args.gpu:
        args.steps, args.warmup = min(args.steps, 10), min(args.warmup, 3)
        run_gpu(args)
    else:
        run_cpu(args)


if __name__ == "__main__":
    main()
