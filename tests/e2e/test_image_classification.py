"""The image-classification trainer end to end: the real `python -m autotrain_gradio.train` subprocess on a toy set
of solid-colour images and the tiny ViT. Covers a completed run (learns, loss falls, model loads in a pipeline),
SIGTERM -> checkpoint + exit 143 -> --resume finishes, and a single-class folder failing with exit 1."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.config import ImageClassificationConfig, save_config
from autotrain_gradio.events import EventTailer, read_events, run_state

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _toy_set(root: Path, colours: dict[str, tuple[int, int, int]], per_class: int = 8) -> Path:
    """32 px solid-colour images with a little jitter, one folder per class."""
    rng = random.Random(0)
    for name, rgb in colours.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            jittered = tuple(min(255, max(0, c + rng.randint(-25, 25))) for c in rgb)
            Image.new("RGB", (32, 32), jittered).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    return _toy_set(tmp_path_factory.mktemp("toy") / "colours", COLOURS)


def _config(tmp_path: Path, data_dir: Path, **overrides) -> Path:
    settings = dict(name="toy", base_model="tiny:vit", data_dir=str(data_dir),
                    output_dir=str(tmp_path / "output" / "toy"), batch_size=8, learning_rate=3e-3,
                    lr_scheduler="constant", max_steps=30, seed=0)
    cfg = ImageClassificationConfig(**{**settings, **overrides})
    return save_config(cfg, Path(cfg.output_dir) / "config.toml")


def _env() -> dict[str, str]:
    # AUTOTRAIN_TINY_CACHE comes from the session fixture, so the tiny ViT is built once for all subprocesses.
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _train(config: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autotrain_gradio.train", "--config", str(config), *extra],
                          env=_env(), capture_output=True, text=True, timeout=300)


def test_trains_to_high_accuracy_and_exports_a_loadable_model(tmp_path, toy_data):
    config = _config(tmp_path, toy_data, checkpoint_every=10, keep_checkpoints=2)
    proc = _train(config)
    assert proc.returncode == 0, proc.stderr[-3000:]

    out = config.parent
    events = read_events(out / "log" / "events.jsonl")
    state = run_state(out / "log" / "events.jsonl")
    assert state.status == "completed" and state.step == state.total == 30
    first, last = state.losses[0][1], state.losses[-1][1]
    assert last < first * 0.5, state.losses
    start = next(e for e in events if e["type"] == "start")
    assert start["total_steps"] == 30 and start["step"] == 0
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 31))
    assert steps[-1]["it_s"] > 0 and steps[-1]["eta_s"] == 0 and steps[-1]["lr"] == pytest.approx(3e-3)
    evals = [e for e in events if e["type"] == "eval"]
    assert evals and set(evals[-1]["metrics"]) == {"loss", "accuracy", "f1_macro"}
    # keep_checkpoints=2: only the two newest of checkpoint-10/20/30 survive.
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [10, 20, 30]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-20", "checkpoint-30"]

    end = events[-1]
    assert end["type"] == "end" and end["outputs"]["model"] == str(out / "model")
    assert end["outputs"]["metrics"]["accuracy"] > 0.9
    card = (out / "model" / "README.md").read_text()
    assert "Classes (3): blue, green, red" in card and "| accuracy |" in card

    # The export loads like a hub classifier and gets the toy set right.
    from transformers import AutoModelForImageClassification, pipeline

    model = AutoModelForImageClassification.from_pretrained(out / "model")
    assert model.config.id2label == {0: "blue", 1: "green", 2: "red"}
    classify = pipeline("image-classification", model=str(out / "model"))
    images = sorted(toy_data.rglob("*.png"))
    correct = sum(classify(Image.open(p))[0]["label"] == p.parent.name for p in images)
    assert correct / len(images) > 0.9


def test_sigterm_saves_a_checkpoint_and_resume_finishes(tmp_path, toy_data):
    # Long enough (a few seconds on CPU) that the signal lands mid-run.
    config = _config(tmp_path, toy_data, max_steps=400, log_every=1, eval_every_epoch=False)
    events_path = config.parent / "log" / "events.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "autotrain_gradio.train", "--config", str(config)],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tailer, deadline = EventTailer(events_path), time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(e["type"] == "step" and e["step"] >= 3 for e in tailer.poll()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]

    state = run_state(events_path)
    assert state.status == "cancelled" and 3 <= state.step < 400
    stopped_at = state.step
    checkpoint = config.parent / "checkpoints" / f"checkpoint-{stopped_at}"
    assert (checkpoint / "trainer_state.json").is_file() and state.checkpoints == [str(checkpoint)]
    assert not (config.parent / "model").exists()  # a cancelled run exports nothing

    resumed = _train(config, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    events = read_events(events_path)
    starts = [e for e in events if e["type"] == "start"]
    assert [s["step"] for s in starts] == [0, stopped_at]  # the second run picked up where the first stopped
    assert events[-1]["type"] == "end" and events[-1]["status"] == "completed" and events[-1]["step"] == 400
    assert (config.parent / "model" / "model.safetensors").is_file()


def test_single_class_folder_fails_with_a_clear_message(tmp_path):
    data = _toy_set(tmp_path / "one", {"red": COLOURS["red"]}, per_class=3)
    config = _config(tmp_path, data)
    proc = _train(config)
    assert proc.returncode == 1
    expected = "image classification needs at least 2 class folders with images"
    assert expected in proc.stderr
    end = read_events(config.parent / "log" / "events.jsonl")[-1]
    assert end["type"] == "end" and end["status"] == "failed"
    assert end["error"].startswith(f"ValueError: {expected} in {data}; found 1 (red)")
