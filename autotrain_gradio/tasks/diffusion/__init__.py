"""Diffusion: Flux / SDXL / SD1.5, LoRA or full fine-tune (config, data, train, tiny and the loop's helpers)."""
