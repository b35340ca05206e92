"""The diffusion trainer end to end on tiny models: `python -m autotrain_gradio.train` as a real subprocess (and
once in-process), reading only what it leaves behind: events.jsonl, checkpoints, model files, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from autotrain_gradio.config import save_config
from autotrain_gradio.events import read_events
from autotrain_gradio.jobs.launch import trainer_command
from autotrain_gradio.tasks.diffusion.config import DiffusionFullConfig, DiffusionLoraConfig
from autotrain_gradio.tasks.tiny import resolve_model

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220), "yellow": (230, 220, 20)}


def toy_data(folder: Path) -> Path:
    """Solid-colour 32 px images captioned with their colour: learnable in a few dozen steps."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (32, 32), rgb).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text(f"a photo of {name}")
    return folder


def make_config(tmp: Path, kind: str, full: bool = False, name: str = "toy", wide: bool = False, **overrides):
    """A tiny run config written to output/<name>/config.toml, as the pipeline would write it. `wide` adds a 2:1
    image, which gets a bucket (and batches) of its own."""
    data = toy_data(tmp / "input" / name)
    if wide:
        Image.new("RGB", (96, 48), (250, 250, 250)).save(data / "wide.png")
        (data / "wide.txt").write_text("a photo of white")
    settings = dict(name=name, base_model=f"tiny:{kind}", model_type=kind, data_dir=str(data),
                    output_dir=str(tmp / "output" / name), resolution=32, bucket_step=16, batch_size=2, max_steps=4,
                    learning_rate=1e-3, warmup_steps=1, mixed_precision="no", gradient_checkpointing=False)
    if kind == "flux":
        settings.update(max_sequence_length=16)  # a Flux-only setting: SDXL / SD1.5 refuse it
    if not full:
        settings.update(lora_rank=4, lora_alpha=4.0)
    settings.update(overrides)
    cfg = (DiffusionFullConfig if full else DiffusionLoraConfig)(**settings)
    save_config(cfg, Path(cfg.output_dir) / "config.toml")
    return cfg


def _env() -> dict:
    # One thread per process: the tiny models are latency-bound and 2 shared cores thrash with more.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start(cfg, *extra: str, launcher: list[str] | None = None) -> subprocess.Popen:
    cmd = (launcher or [sys.executable]) + ["-m", "autotrain_gradio.train", "--config",
                                            str(Path(cfg.output_dir) / "config.toml"), *extra]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run(cfg, *extra: str, launcher: list[str] | None = None, timeout: int = 240) -> tuple[int, list[dict], str]:
    proc = start(cfg, *extra, launcher=launcher)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, read_events(Path(cfg.output_dir) / "log" / "events.jsonl"), out


def run_here(cfg, *extra: str) -> tuple[int, list[dict]]:
    """The same harness (`autotrain_gradio.train.main`) in this process, as an in-process launch does: no
    interpreter start-up per run. Its signal handlers and torch's thread count are put back afterwards."""
    from autotrain_gradio.train import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(["--config", str(Path(cfg.output_dir) / "config.toml"), *extra])
    finally:
        torch.set_num_threads(threads)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return rc, read_events(Path(cfg.output_dir) / "log" / "events.jsonl")


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


def wait_for(cfg, proc: subprocess.Popen, pred, timeout: float = 180) -> list[dict]:
    """Poll the events file until pred(events) holds; fail if the trainer exits first."""
    path, deadline = Path(cfg.output_dir) / "log" / "events.jsonl", time.time() + timeout
    while time.time() < deadline:
        events = read_events(path)
        if pred(events):
            return events
        assert proc.poll() is None, f"trainer exited early ({proc.returncode}):\n{proc.stdout.read()[-3000:]}"
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("timed out waiting for the trainer")


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --- each family and mode trains end to end ---------------------------------------------------------------


def test_flux_lora_learns_toy_set_and_never_reruns_encoders(tmp_path):
    cfg = make_config(tmp_path, "flux", max_steps=60, learning_rate=3e-3, checkpoint_every=20, keep_checkpoints=2,
                      trigger_word="sks", sample_prompts=["a photo of {trigger}"], sample_steps=2, sample_every=30)
    rc, events, out = run(cfg)
    assert rc == 0, out[-3000:]
    assert events[-1]["type"] == "end" and events[-1]["status"] == "completed"
    assert of_type(events, "start")[0]["total_steps"] == 60

    losses = [e["loss"] for e in of_type(events, "step")]
    assert len(losses) == 60
    assert mean(losses[-8:]) < 0.8 * mean(losses[:8]), losses  # measured: ~1.6 -> ~1.0

    # The cache run encoded every image and caption once (hooks count real forward calls) ...
    cache_log = next(e for e in of_type(events, "log") if e.get("epoch") == 0)
    assert cache_log["vae_calls"] == 4 and cache_log["text_encoder_calls"] >= 2 * 4
    # ... and from then on, epoch 2 included, neither the VAE nor a text encoder ran again.
    epochs = {e["epoch"]: e for e in of_type(events, "log") if e.get("epoch")}
    assert {1, 2, 3} <= set(epochs)
    assert all(e["vae_calls"] == 0 and e["text_encoder_calls"] == 0 for e in epochs.values())

    ckpts = sorted(p.name for p in (Path(cfg.output_dir) / "checkpoints").iterdir())
    assert ckpts == ["step-000040", "step-000060"]  # keep_checkpoints=2 pruned step 20
    assert [e["step"] for e in of_type(events, "checkpoint")] == [20, 40, 60]
    samples = of_type(events, "sample")
    assert [e["step"] for e in samples] == [30, 60]
    assert samples[-1]["prompts"] == ["a photo of sks"] and all(Path(e["paths"][0]).is_file() for e in samples)
    outputs = events[-1]["outputs"]
    assert Path(outputs["diffusers"]).is_file() and Path(outputs["kohya"]).is_file()
    # The trigger word is prepended to every caption that went into the text cache.
    assert len(list((Path(cfg.output_dir) / "cache" / "text").glob("*.safetensors"))) == 4


def test_text_encoder_calls_are_counted_when_not_cached(tmp_path):
    """The counter is real: an SD1.5 full fine-tune that trains its text encoder (so nothing text is cached) and
    does not cache latents reports the VAE and text-encoder calls of every epoch; the saved UNet and text
    encoder load with from_pretrained and differ from the base."""
    cfg = make_config(tmp_path, "sd15", full=True, train_text_encoder=True, text_encoder_lr=5e-4,
                      cache_latents=False, max_steps=4, batch_size=2)
    rc, events = run_here(cfg)
    assert rc == 0, events[-1]
    epochs = [e for e in of_type(events, "log") if e.get("epoch")]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(e["vae_calls"] == 2 and e["text_encoder_calls"] == 2 for e in epochs)  # 2 batches per epoch

    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    base = resolve_model("tiny:sd15")
    model_dir = Path(cfg.output_dir) / "model"
    for cls, folder in ((UNet2DConditionModel, "unet"), (CLIPTextModel, "text_encoder")):
        trained = cls.from_pretrained(model_dir, subfolder=folder)
        original = cls.from_pretrained(base, subfolder=folder)
        changed = [not torch.equal(a, b) for a, b in zip(trained.parameters(), original.parameters(), strict=True)]
        assert sum(changed) > 0.5 * len(changed), folder


@pytest.mark.parametrize("kind", ["sdxl", "sd15"])
def test_unet_lora_trains(tmp_path, kind):
    cfg = make_config(tmp_path, kind, max_steps=6, noise_offset=0.05, gradient_checkpointing=True, wide=True)
    rc, events = run_here(cfg)
    assert rc == 0, events[-1]
    assert [e["step"] for e in of_type(events, "step")] == [1, 2, 3, 4, 5, 6]  # 3 batches an epoch: 2 square, 1 wide
    shapes = {tuple(t.shape) for t in map(lambda f: load_file(f)["latents"],
                                          (Path(cfg.output_dir) / "cache" / "latents").iterdir())}
    assert shapes == {(4, 16, 16), (4, 8, 24)}  # 32x32 px, and the 2:1 image in a 48x16 bucket (not a square crop)
    files = events[-1]["outputs"]
    state = load_file(files["diffusers"])
    assert state and all(torch.isfinite(v).all() for v in state.values())
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in state.items())  # B starts at 0


@pytest.mark.parametrize("kind", ["flux", "sdxl"])
def test_full_fine_tune_saves_loadable_model(tmp_path, kind):
    cfg = make_config(tmp_path, kind, full=True, max_steps=3, optimizer="adafactor")
    rc, events = run_here(cfg)
    assert rc == 0, events[-1]
    from diffusers import FluxTransformer2DModel, UNet2DConditionModel

    cls, folder = (FluxTransformer2DModel, "transformer") if kind == "flux" else (UNet2DConditionModel, "unet")
    trained = cls.from_pretrained(Path(cfg.output_dir) / "model", subfolder=folder)
    original = cls.from_pretrained(resolve_model(f"tiny:{kind}"), subfolder=folder)
    diffs = [not torch.equal(a, b) for a, b in zip(trained.parameters(), original.parameters(), strict=True)]
    assert sum(diffs) > 0.5 * len(diffs)


def test_options_dora_shift_sampling_accumulation_and_schedule(tmp_path):
    cfg = make_config(tmp_path, "flux", max_steps=4, use_dora=True, timestep_sampling="shift",
                      gradient_checkpointing=True, gradient_accumulation=2, batch_size=1, lr_scheduler="cosine",
                      warmup_steps=2, learning_rate=1e-3, wide=True)
    rc, events = run_here(cfg)
    assert rc == 0, events[-1]
    steps = of_type(events, "step")
    assert [e["epoch"] for e in steps] == [0.4, 0.8, 1.2, 1.6]  # 5 batches an epoch, 2 per optimizer step
    lrs = [e["lr"] for e in steps]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1e-3) and lrs[3] < lrs[2]  # 2 warmup steps, then cosine
    state = load_file(events[-1]["outputs"]["diffusers"])
    assert any("magnitude" in k for k in state)  # DoRA's magnitude vectors were trained and exported


def test_streamed_text_encoders_and_swapped_blocks_train_the_same(tmp_path):
    """text_encoder_device='offload' (and 'cpu') fill the same text cache as the default, and blocks_to_swap with
    gradient checkpointing gives the same loss curve and samples: on CPU the streamed weights are real placeholders
    between uses (tests/unit/test_offload.py), so a wrong schedule would fail here, not pass."""
    runs = {}
    for name, extra in {"default": {}, "streamed": {"text_encoder_device": "offload", "blocks_to_swap": 4,
                                                    "gradient_checkpointing": True},
                        "cpu_text": {"text_encoder_device": "cpu"}}.items():
        cfg = make_config(tmp_path, "flux", name=name, max_steps=4, sample_prompts=["a photo of red"],
                          sample_steps=2, **extra)
        rc, events = run_here(cfg)
        assert rc == 0, events[-1]
        text = {p.name: load_file(p) for p in (Path(cfg.output_dir) / "cache" / "text").iterdir()}
        runs[name] = ([e["loss"] for e in of_type(events, "step")], text, of_type(events, "sample")[-1]["paths"])
    losses, text, samples = runs["default"]
    assert len(losses) == 4 and len(text) == 4
    for name in ("streamed", "cpu_text"):
        other_losses, other_text, other_samples = runs[name]
        assert other_losses == pytest.approx(losses, rel=1e-5, abs=1e-6), name
        assert other_text.keys() == text.keys()
        for key, tensors in text.items():
            for k, v in tensors.items():
                torch.testing.assert_close(other_text[key][k], v, rtol=1e-5, atol=1e-6)
        assert Path(other_samples[0]).is_file()


def test_v_prediction_comes_from_the_scheduler_config(tmp_path):
    """A UNet model whose scheduler says v_prediction trains on the velocity target, with nothing else to set."""
    import json
    import shutil

    from autotrain_gradio.tasks.diffusion.models import load_noise_scheduler

    model = tmp_path / "sd15-v"
    shutil.copytree(resolve_model("tiny:sd15"), model)
    sched = model / "scheduler" / "scheduler_config.json"
    sched.write_text(json.dumps({**json.loads(sched.read_text()), "prediction_type": "v_prediction"}))
    cfg = make_config(tmp_path, "sd15", base_model=str(model), max_steps=2)
    assert load_noise_scheduler(cfg, str(model)).config.prediction_type == "v_prediction"
    rc, events = run_here(cfg)
    assert rc == 0, events[-1]
    assert all(e["loss"] > 0 for e in of_type(events, "step"))


def test_lora_in_process_changes_adapter_only(tmp_path):
    """Run in this process (as the Python API does): LoRA weights moved, every base weight is bit-identical."""
    from autotrain_gradio.events import EventWriter
    from autotrain_gradio.tasks.common import RunContext
    from autotrain_gradio.tasks.diffusion.train import train
    from autotrain_gradio.workspace import run_paths

    cfg = make_config(tmp_path, "flux", max_steps=3, learning_rate=1e-2)
    paths = run_paths(cfg.output_dir)
    ctx = RunContext(cfg=cfg, paths=paths, events=EventWriter(paths.events))
    train(cfg, ctx)
    ctx.events.close()
    from diffusers import FluxTransformer2DModel

    base = dict(FluxTransformer2DModel.from_pretrained(resolve_model("tiny:flux"), subfolder="transformer")
                .named_parameters())
    lora_b, frozen = 0, 0
    for name, p in ctx.extra["denoiser"].named_parameters():
        if "lora_" in name:
            assert p.requires_grad
            lora_b += int(name.endswith("lora_B.default.weight") and p.abs().sum().item() > 0)
        else:
            assert not p.requires_grad
            assert torch.equal(p, base[name.replace(".base_layer", "")]), name
            frozen += 1
    assert lora_b > 0 and frozen == len(base)


# --- resume, cancel, failure, DDP ----------------------------------------------------------------------------


def test_kill_9_then_resume_matches_uninterrupted_run(tmp_path):
    common = dict(max_steps=80, checkpoint_every=5, keep_checkpoints=3, batch_size=1, caption_dropout=0.3,
                  lora_dropout=0.1, learning_rate=2e-3)
    ref = make_config(tmp_path / "a", "flux", **common)
    killed = make_config(tmp_path / "b", "flux", **common)

    proc = start(killed)
    wait_for(killed, proc, lambda ev: any(e["type"] == "step" and e["step"] >= 12 for e in ev))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    events = read_events(Path(killed.output_dir) / "log" / "events.jsonl")
    assert not of_type(events, "end")
    last_ckpt = max(e["step"] for e in of_type(events, "checkpoint"))
    assert last_ckpt < 80

    rc, events, out = run(killed, "--resume")
    assert rc == 0, out[-3000:]
    resumed_start = of_type(events, "start")[-1]
    assert resumed_start["step"] == last_ckpt  # nothing before the last checkpoint is lost
    assert events[-1]["status"] == "completed" and events[-1]["step"] == 80

    rc, ref_events = run_here(ref)  # same thread count (1) as the subprocesses, so the same float results
    assert rc == 0, ref_events[-1]
    a = load_file(Path(ref.output_dir) / "checkpoints" / "step-000080" / "denoiser.safetensors")
    b = load_file(Path(killed.output_dir) / "checkpoints" / "step-000080" / "denoiser.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    # the losses after the resume point are the uninterrupted run's losses
    ref_loss = {e["step"]: e["loss"] for e in of_type(ref_events, "step")}
    after = [e for e in of_type(events, "step") if e["step"] > last_ckpt and e["t"] >= resumed_start["t"]]
    assert after and all(abs(e["loss"] - ref_loss[e["step"]]) < 1e-4 for e in after)


def test_sigterm_checkpoints_and_exits_143(tmp_path):
    cfg = make_config(tmp_path, "flux", max_steps=100_000)
    proc = start(cfg)
    wait_for(cfg, proc, lambda ev: any(e["type"] == "step" and e["step"] >= 3 for e in ev))
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out[-3000:]
    events = read_events(Path(cfg.output_dir) / "log" / "events.jsonl")
    end = events[-1]
    assert end["type"] == "end" and end["status"] == "cancelled"
    ckpt = of_type(events, "checkpoint")[-1]
    assert ckpt["step"] == end["step"] >= 3
    assert (Path(ckpt["path"]) / "denoiser.safetensors").is_file()


def test_bad_model_path_fails_with_reason(tmp_path):
    missing = tmp_path / "no-such-model"
    cfg = make_config(tmp_path, "flux", base_model=str(missing))
    rc, events = run_here(cfg)
    assert rc == 1
    end = events[-1]
    assert end["type"] == "end" and end["status"] == "failed"
    assert str(missing) in end["error"]


@pytest.mark.parametrize("settings, expected", [
    (dict(quantize_base="nf4"), "quantize_base='nf4' needs a CUDA GPU"),
    (dict(optimizer="prodigy"), "pip install prodigyopt"),
])
def test_settings_that_cannot_run_here_fail_with_what_to_do(tmp_path, settings, expected):
    if "prodigy" in str(settings) and __import__("importlib").util.find_spec("prodigyopt"):
        pytest.skip("prodigyopt is installed")
    cfg = make_config(tmp_path, "flux", **settings)
    rc, events = run_here(cfg)
    assert rc == 1 and events[-1]["status"] == "failed"
    assert expected in events[-1]["error"]
    assert not of_type(events, "step")


def test_two_process_ddp_on_cpu(tmp_path):
    cfg = make_config(tmp_path, "flux", max_steps=3, batch_size=1, checkpoint_every=3)
    # The launcher the job queue uses for 2 processes (torchrun on a CPU, accelerate launch on GPUs).
    cmd = trainer_command(Path(cfg.output_dir) / "config.toml", num_processes=2)
    proc = subprocess.run(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    rc, events, out = proc.returncode, read_events(Path(cfg.output_dir) / "log" / "events.jsonl"), proc.stdout
    assert rc == 0, out[-3000:]
    assert "2 process(es)" in " ".join(e.get("message", "") for e in of_type(events, "log"))
    assert len(of_type(events, "start")) == 1 and len(of_type(events, "end")) == 1  # rank 0 alone writes events
    assert [e["step"] for e in of_type(events, "step")] == [1, 2, 3]
    ckpt = Path(cfg.output_dir) / "checkpoints" / "step-000003"
    assert {p.name for p in ckpt.glob("rng-*.pt")} == {"rng-0.pt", "rng-1.pt"}
    model_files = sorted(p.name for p in (Path(cfg.output_dir) / "model").glob("*.safetensors"))
    assert model_files == ["pytorch_lora_weights.safetensors", "toy.safetensors"]
