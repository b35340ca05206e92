"""The memory preflight's estimate beside every published peak-memory figure we can cite, on the shipped public
component configs (meta device: no weights, no GPU, no network), with the ratio estimate / published.

Two kinds of rows:
- "measured": someone ran this setup and reported its peak; the goal is a ratio within 0.85-1.15. The estimate
  compared is the phase the source measured (the training step: the sources encode text before training, or in
  another process), plus our fixed overhead, plus the CUDA context where the figure is a process total as
  nvidia-smi shows it (SimpleTuner's "9090M") rather than torch's peak allocation (the HF blog's script).
- "tier": a tool says a setup fits a card of N GB; the estimate must be at most the memory such a card has free
  (N GiB less ~0.5 GiB for the CUDA context). Our own FluxLORA-* tier profiles are checked the same way, whole run.

    python bench/preflight_vs_published.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autotrain_gradio.profiles import get_profile  # noqa: E402
from autotrain_gradio.tasks.diffusion.config import DiffusionFullConfig, DiffusionLoraConfig  # noqa: E402
from autotrain_gradio.tasks.diffusion.preflight import GIB, OVERHEAD, estimate_memory  # noqa: E402

FLUX, SDXL = "black-forest-labs/FLUX.1-dev", "stabilityai/stable-diffusion-xl-base-1.0"
CONTEXT = int(0.5 * GIB)  # what the CUDA context (and a desktop) take before a run starts
ATTENTION = ["to_k", "to_q", "to_v", "to_out.0"]
ALL_ATTENTION = ATTENTION + ["add_k_proj", "add_q_proj", "add_v_proj", "to_add_out"]


def flux_lora(**kw) -> DiffusionLoraConfig:
    settings = dict(base_model=FLUX, model_type="flux", mixed_precision="bf16", gradient_checkpointing=True,
                    batch_size=1, max_sequence_length=512, text_encoder_device="cpu")
    return DiffusionLoraConfig(**{**settings, **kw})


# (source, setup, config, published GiB, kind: measured-torch | measured-smi | tier). "GB" in the sources is read
# as GiB (torch and nvidia-smi report binary units).
ROWS = [
    ("HF blog flux-qlora (2025)", "NF4, rank 4 attn, 512x768, AdamW8bit",
     flux_lora(quantize_base="nf4", lora_rank=4, lora_target_modules=ATTENTION, resolution=624,
               optimizer="adamw8bit"), 9.0, "measured-torch"),
    ("HF blog flux-qlora (2025)", "bf16, rank 4 attn, 512x768, AdamW8bit",
     flux_lora(lora_rank=4, lora_target_modules=ATTENTION, resolution=624, optimizer="adamw8bit"), 26.0,
     "measured-torch"),
    ("SimpleTuner FLUX quickstart", "NF4, rank 16, 512 px, 8-bit optimizer (9090 MiB)",
     flux_lora(quantize_base="nf4", lora_rank=16, lora_target_modules=ALL_ATTENTION, resolution=512,
               optimizer="adamw8bit"), 9090 / 1024, "measured-smi"),
    ("SimpleTuner FLUX quickstart", "bf16 base, rank 16, 1024 px ('a bit more than 30G')",
     flux_lora(lora_rank=16, lora_target_modules=ALL_ATTENTION, resolution=1024, optimizer="adamw8bit"),
     30.0, "measured-smi"),
    ("SimpleTuner FLUX quickstart", "int8 base (as float8: 1 byte), rank 16, 1024 px ('a bit more than 18G')",
     flux_lora(quantize_base="float8", lora_rank=16, lora_target_modules=ALL_ATTENTION, resolution=1024,
               optimizer="adamw8bit"), 18.0, "measured-smi"),
    ("SimpleTuner README", "Flux NF4 LoRA fits a 3080 10G (512 px)",
     flux_lora(quantize_base="nf4", lora_rank=16, lora_target_modules=ALL_ATTENTION, resolution=512,
               optimizer="adamw8bit"), 10.0, "tier"),
    ("SimpleTuner FLUX quickstart", "NF4 at 1024 px 'requires >= 12G'",
     flux_lora(quantize_base="nf4", lora_rank=16, lora_target_modules=ALL_ATTENTION, resolution=1024,
               optimizer="adamw8bit"), 12.0, "tier"),
    ("SimpleTuner README", "Flux int8 LoRA fits a 16G card (1024 px)",
     flux_lora(quantize_base="float8", lora_rank=16, lora_target_modules=ALL_ATTENTION, resolution=1024,
               optimizer="adamw8bit"), 16.0, "tier"),
    ("SimpleTuner README", "SDXL LoRA at 1024 px fits a 4080 12G",
     DiffusionLoraConfig(base_model=SDXL, model_type="sdxl", mixed_precision="bf16", resolution=1024,
                         lora_rank=16, optimizer="adamw8bit", text_encoder_device="cpu"), 12.0, "tier"),
    ("kohya sd-scripts flux docs", "12 GB: blocks_to_swap 16 + AdamW8bit (fp8 base; here nf4)",
     flux_lora(quantize_base="nf4", blocks_to_swap=16, lora_rank=16, resolution=1024, optimizer="adamw8bit"),
     12.0, "tier"),
    ("kohya sd-scripts flux docs", "8 GB: blocks_to_swap 28 (fp8 base; here nf4)",
     flux_lora(quantize_base="nf4", blocks_to_swap=28, lora_rank=16, resolution=1024, optimizer="adamw8bit"),
     8.0, "tier"),
]


def main() -> int:
    print(f"{'source':30} {'setup':70} {'ours GiB':>9} {'published':>9} {'ratio':>6}  verdict")
    worst = 0.0
    for source, setup, cfg, published, kind in ROWS:
        est = estimate_memory(cfg, cfg.base_model)
        if kind.startswith("measured"):
            ours = (est.training + OVERHEAD + (CONTEXT if kind == "measured-smi" else 0)) / GIB
            ratio = ours / published
            worst = max(worst, abs(ratio - 1))
            verdict = "ok" if abs(ratio - 1) <= 0.15 else "OFF"
        else:
            ours = est.total / GIB
            ratio = ours / published
            over = est.total - (published * GIB - CONTEXT)
            verdict = "fits" if over <= 0 else f"over the free memory by {over / GIB:.1f} GiB"
        print(f"{source:30} {setup:70} {ours:9.2f} {published:9.2f} {ratio:6.2f}  {verdict}")
    print(f"\nworst deviation on measured rows: {worst:.0%} (goal <= 15%)\n")
    print(f"{'our profile':22} {'estimate GiB':>12} {'tier free GiB':>13}  verdict")
    for tier in (24, 16, 12, 8):
        cfg = get_profile(f"FluxLORA-{tier}GB").build()
        est = estimate_memory(cfg, cfg.base_model)
        free = tier * GIB - CONTEXT
        print(f"{'FluxLORA-' + str(tier) + 'GB':22} {est.total / GIB:12.2f} {free / GIB:13.2f}  "
              f"{'fits' if est.total <= free else 'DOES NOT FIT'}  ({est.describe()})")
    full = get_profile("SDXL-FullTE").build()
    print(f"{'SDXL-FullTE':22} {estimate_memory(full, full.base_model).total / GIB:12.2f}")
    flux_full = DiffusionFullConfig(base_model=FLUX, model_type="flux", mixed_precision="bf16", resolution=1024,
                                    optimizer="adafactor")
    print(f"{'Flux full (adafactor)':22} {estimate_memory(flux_full, FLUX).total / GIB:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
