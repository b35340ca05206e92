"""The trainer's GPU code paths, run on the CPU with AUTOTRAIN_EMULATE_GPU=1 (see tasks/diffusion/emulation.py):
bf16 / fp16 autocast with the fp16 GradScaler, NF4 (bitsandbytes' CPU backend) and float8 (torchao) bases; every
shipped GPU profile on its tiny model, each with samples, checkpoints, a resume and an export; two ranks on
quantized bases, and their cancel; the VAE encode inside the fp16 step. What only a real GPU tells (peak memory
per phase, float8 speed, NCCL) is not measured here."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from test_diffusion_train import _env, make_config, of_type, run_here

from autotrain_gradio.events import read_events
from autotrain_gradio.jobs.launch import signal_group, trainer_command, trainer_env
from autotrain_gradio.profiles import get_profile, list_profiles
from autotrain_gradio.tasks.tiny import resolve_model

STORED_AS = {"none": "Parameter", "nf4": "Params4bit", "float8": "Float8Tensor"}
# What a tiny run changes in a profile: the model, the size, the step counts, the swapped blocks (of 3).
TINY = {"base_model", "model_type", "resolution", "max_steps", "batch_size", "warmup_steps", "warmup_ratio",
        "sample_every", "sample_steps", "checkpoint_every", "keep_checkpoints", "repeats", "max_sequence_length",
        "blocks_to_swap"}


def _gpu_profiles() -> dict[str, str]:
    """Every shipped GPU diffusion profile -> the first one whose tiny run is the same (FluxLORA-16GB differs
    from FluxLORA-12GB in its batch size alone); only the first of each is run."""
    first: dict[tuple, str] = {}
    same: dict[str, str] = {}
    for name, profile in sorted(list_profiles().items()):
        if profile.task.startswith("diffusion") and profile.config.get("mixed_precision", "no") != "no":
            kept = {k: v for k, v in profile.config.items() if k not in TINY}
            key = (profile.task, repr(sorted(kept.items())), bool(profile.config.get("blocks_to_swap")))
            same[name] = first.setdefault(key, name)
    return same


GPU_PROFILES = _gpu_profiles()
# Every distinct GPU profile as shipped; then the precision / base combinations no profile ships, on the family's
# LoRA profile. The resume half runs once per path: bf16 and fp16 LoRA, NF4, float8, a full fine-tune.
OTHER = {"bf16": "fp16", "fp16": "bf16"}
VARIANTS = {"FluxLORA": ["fp16", "float8"], "SDXL-LoRA": ["fp16", "nf4", "float8"],
            "SD15-LoRA": ["bf16", "nf4", "float8"]}
CASES = [(name, "") for name, first in GPU_PROFILES.items() if first == name]
CASES += [(name, v) for name, vs in VARIANTS.items() for v in vs]
RESUMED = {("FluxLORA", ""), ("SD15-LoRA", ""), ("FluxLORA-12GB", ""), ("SDXL-LoRA", "float8"), ("SDXL", "")}


@pytest.fixture
def emulate_gpu(monkeypatch):
    monkeypatch.setenv("AUTOTRAIN_EMULATE_GPU", "1")


def setup_line(events: list[dict]) -> str:
    return next(e["message"] for e in of_type(events, "log") if "trained parameters" in e.get("message", ""))


def from_profile(tmp_path: Path, name: str, **overrides):
    """A tiny run with the shipped profile's settings (optimizer, schedule, precision, quantization, offloading)."""
    profile = get_profile(name)
    settings = {k: v for k, v in profile.config.items() if k not in TINY}
    if profile.config.get("blocks_to_swap"):
        settings["blocks_to_swap"] = 2  # streams one double- and the one single-stream block of the tiny Flux
    return make_config(tmp_path, profile.config["model_type"], full=profile.task == "diffusion-full",
                       **{**settings, **overrides})


def test_every_gpu_profile_is_in_the_matrix():
    assert {"FluxLORA", "Flux", "SDXL-LoRA", "SDXL", "SD15-LoRA"} <= {name for name, _ in CASES}
    assert all((first, "") in CASES for first in GPU_PROFILES.values())
    assert set(CASES) >= RESUMED


@pytest.mark.parametrize("name, variant", CASES, ids=["-".join(filter(None, c)) for c in CASES])
def test_profile_trains_samples_resumes_and_exports_as_on_a_gpu(tmp_path, emulate_gpu, name, variant):
    precision = get_profile(name).config["mixed_precision"]
    quant = get_profile(name).config.get("quantize_base", "none")
    if variant in OTHER:
        precision = variant
    elif variant:
        quant = variant
    cfg = from_profile(tmp_path, name, mixed_precision=precision, quantize_base=quant, max_steps=3,
                       checkpoint_every=1, keep_checkpoints=3, sample_every=2, sample_prompts=["a photo of red"],
                       sample_steps=2)
    rc, events = run_here(cfg)
    assert rc == 0, events[-1]
    line = setup_line(events)
    assert f"stored as {STORED_AS[quant]} " in line and f"mixed precision {precision}" in line, line
    # Samples during training and after the export: rendered in the frozen dtype, real images (a NaN in fp16
    # would give a blank one).
    samples = of_type(events, "sample")
    assert [e["step"] for e in samples] == [2, 3]
    for event in samples:
        pixels = np.asarray(Image.open(event["paths"][0]), dtype=np.float32)
        assert pixels.shape == (32, 32, 3) and pixels.std() > 0
    assert all(Path(path).exists() for path in events[-1]["outputs"].values())
    if cfg.task == "diffusion-lora":
        assert load_file(events[-1]["outputs"]["diffusers"])
    checkpoints = Path(cfg.output_dir) / "checkpoints"
    assert (checkpoints / "step-000002" / "scaler.pt").is_file() == (precision == "fp16")
    if (name, variant) not in RESUMED:
        return  # resumed through the same path by another case

    # Resume from step 2 (no samples this time): step 3 is the uninterrupted run's step 3, bit for bit.
    last = checkpoints / "step-000003"
    trained = load_file(last / "denoiser.safetensors")
    shutil.rmtree(last)
    (Path(cfg.output_dir) / "sample_prompts.txt").write_text("")
    rc, events = run_here(cfg, "--resume")
    assert rc == 0, events[-1]
    assert of_type(events, "start")[-1]["step"] == 2 and events[-1]["step"] == 3
    again = load_file(last / "denoiser.safetensors")
    assert again.keys() == trained.keys()
    assert all(torch.equal(again[k], trained[k]) for k in trained)


def test_fp16_resume_restores_the_loss_scaler(tmp_path, emulate_gpu):
    """The GradScaler's state (scale, steps since the last overflow) is checkpointed and restored: a resumed step 2
    leaves the same scaler state as the uninterrupted one."""
    cfg = make_config(tmp_path, "sd15", mixed_precision="fp16", max_steps=2, checkpoint_every=1)
    scaler_file = Path(cfg.output_dir) / "checkpoints" / "step-000002" / "scaler.pt"
    rc, events = run_here(cfg)
    assert rc == 0, events[-1]
    first = torch.load(scaler_file, weights_only=True)
    shutil.rmtree(scaler_file.parent)
    rc, events = run_here(cfg, "--resume")
    assert rc == 0 and of_type(events, "start")[-1]["step"] == 1, events[-1]
    again = torch.load(scaler_file, weights_only=True)
    assert first["_growth_tracker"] == 2 and again == first


def test_vae_encodes_outside_autocast():
    """Latents encoded inside the fp16 training step (when they are not cached) are the fp32 ones the cache holds."""
    from autotrain_gradio.tasks.diffusion.models import encode_images, load_vae
    from autotrain_gradio.tasks.tiny import resolve_model

    vae = load_vae(resolve_model("tiny:sdxl"))
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        plain = encode_images(vae, pixels)
        with torch.autocast("cpu", dtype=torch.float16):
            in_step = encode_images(vae, pixels)
    assert in_step.dtype == torch.float32 and torch.equal(in_step, plain)


@pytest.mark.slow
def test_two_ranks_on_a_float8_base(tmp_path):
    """DDP wraps only the trained LoRA weights: the frozen quantized base is neither broadcast (torchao's float8
    weights cannot be) nor copied. (Two ranks on an NF4 base: the cancel test below.)"""
    quant = "float8"
    cfg = make_config(tmp_path, "flux", mixed_precision="bf16", quantize_base=quant, max_steps=2, batch_size=1,
                      checkpoint_every=2)
    cmd = trainer_command(Path(cfg.output_dir) / "config.toml", num_processes=2)
    proc = subprocess.run(cmd, env={**_env(), "AUTOTRAIN_EMULATE_GPU": "1"}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    events = read_events(Path(cfg.output_dir) / "log" / "events.jsonl")
    assert "2 process(es)" in setup_line(events) and STORED_AS[quant] in setup_line(events)
    assert [e["step"] for e in of_type(events, "step")] == [1, 2]
    ckpt = Path(cfg.output_dir) / "checkpoints" / "step-000002"
    assert {p.name for p in ckpt.glob("rng-*.pt")} == {"rng-0.pt", "rng-1.pt"}
    assert Path(events[-1]["outputs"]["diffusers"]).is_file()


@pytest.mark.slow
def test_cancel_of_two_ranks_keeps_the_checkpoint(tmp_path, emulate_gpu, monkeypatch):
    """A cancel signals the launcher's process group, as the job queue does; the launcher passes SIGTERM on to the
    ranks and waits while they write the checkpoint. TORCH_ELASTIC_SHUTDOWN_TIMEOUT=0 here stands for a launcher
    whose wait (30 s by default) is shorter than the checkpoint (10-48 GB for a full fine-tune): the job's
    environment must override it, or the ranks are killed before any checkpoint. Two ranks on an NF4 base."""
    monkeypatch.setenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = make_config(tmp_path, "sd15", mixed_precision="bf16", quantize_base="nf4", max_steps=100_000,
                      batch_size=1)
    config = Path(cfg.output_dir) / "config.toml"
    resolve_model("tiny:sd15")  # built once here, not by both ranks at once
    proc = subprocess.Popen(trainer_command(config, num_processes=2), env=trainer_env(None), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    events_file = Path(cfg.output_dir) / "log" / "events.jsonl"
    deadline = time.time() + 240
    while not any(e["type"] == "step" and e["step"] >= 2 for e in read_events(events_file)):
        assert proc.poll() is None and time.time() < deadline, proc.communicate(timeout=30)[0][-3000:]
        time.sleep(0.2)
    assert signal_group(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=240)
    events = read_events(events_file)
    assert events[-1]["type"] == "end" and events[-1]["status"] == "cancelled", out[-3000:]
    assert "Params4bit" in setup_line(events) and "2 process(es)" in setup_line(events)
    ckpt = Path(of_type(events, "checkpoint")[-1]["path"])
    assert ckpt.name == f"step-{events[-1]['step']:06d}"
    assert {p.name for p in ckpt.glob("rng-*.pt")} == {"rng-0.pt", "rng-1.pt"}
    assert (ckpt / "denoiser.safetensors").is_file()
