"""The image-classification trainer end to end: the real `python -m autotrain_gradio.train` subprocess on a toy set
of solid-colour images and the tiny ViT: SIGTERM -> checkpoint + exit 143 -> --resume completes (learns, loss falls,
model loads in a pipeline), and a single-class folder failing with exit 1."""

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

from autotrain_gradio.config import save_config
from autotrain_gradio.events import EventTailer, EventWriter, read_events, run_state
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig

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
                    lr_scheduler="constant", max_steps=30, seed=0,
                    early_stopping_patience=0)  # this module counts steps; early stopping would end runs early
    cfg = ImageClassificationConfig(**{**settings, **overrides})
    return save_config(cfg, Path(cfg.output_dir) / "config.toml")


def _env() -> dict[str, str]:
    # AUTOTRAIN_TINY_CACHE comes from the session fixture, so the tiny ViT is built once for all subprocesses.
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _train(config: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autotrain_gradio.train", "--config", str(config), *extra],
                          env=_env(), capture_output=True, text=True, timeout=300)


def _start_and_sigterm(config: Path, after_step: int) -> tuple[int, str]:
    """Start a run, send SIGTERM once a step event >= after_step is written; (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "autotrain_gradio.train", "--config", str(config)],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tailer, deadline = EventTailer(config.parent / "log" / "events.jsonl"), time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(e["type"] == "step" and e["step"] >= after_step for e in tailer.poll()):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr


def test_cancel_resume_and_export(tmp_path, toy_data):
    """One run through the life of a job (two trainer processes, to keep the suite fast): SIGTERM mid-run ->
    checkpoint + exit 143; --resume continues from it and completes; the classifier learned the toy set and the
    export loads like a hub model."""
    total = 100  # a couple of seconds of CPU steps: long enough that the signal lands mid-run
    config = _config(tmp_path, toy_data, max_steps=total, checkpoint_every=10, keep_checkpoints=2)
    out, events_path = config.parent, config.parent / "log" / "events.jsonl"

    # --- cancelled: a checkpoint at the step it stopped, nothing exported -------------------------------------
    code, stderr = _start_and_sigterm(config, after_step=3)
    assert code == 143, stderr[-3000:]
    state = run_state(events_path)
    assert state.status == "cancelled" and 3 <= state.step < total
    stopped_at = state.step
    checkpoint = out / "checkpoints" / f"checkpoint-{stopped_at}"
    assert (checkpoint / "trainer_state.json").is_file() and state.checkpoints[-1] == str(checkpoint)
    assert not (out / "model").exists()

    # --- resumed: picks up at that step and completes ---------------------------------------------------------
    resumed = _train(config, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    events = read_events(events_path)
    state = run_state(events_path)
    assert state.status == "completed" and state.step == state.total == total
    assert [(e["step"], e["total_steps"]) for e in events if e["type"] == "start"] == [(0, total), (stopped_at, total)]
    steps = [e["step"] for e in events if e["type"] == "step"]
    assert steps == list(range(1, stopped_at + 1)) + list(range(stopped_at + 1, total + 1))
    last_step = next(e for e in reversed(events) if e["type"] == "step")
    assert last_step["it_s"] > 0 and last_step["eta_s"] == 0 and last_step["lr"] == pytest.approx(3e-3)
    first_losses = [loss for _, loss in state.losses[:3]]
    last_losses = [loss for _, loss in state.losses[-3:]]
    assert max(last_losses) < 0.5 * min(first_losses), state.losses
    evals = [e for e in events if e["type"] == "eval"]
    assert evals and set(evals[-1]["metrics"]) == {"loss", "accuracy", "f1_macro", "precision_macro", "recall_macro"}
    # checkpoint_every=10 with keep_checkpoints=2: only the two newest survive.
    assert [e["step"] for e in events if e["type"] == "checkpoint"][-2:] == [total - 10, total]
    assert {p.name for p in (out / "checkpoints").iterdir()} == {f"checkpoint-{total - 10}", f"checkpoint-{total}"}

    end = events[-1]
    assert end["type"] == "end" and end["outputs"]["model"] == str(out / "model")
    assert end["outputs"]["metrics"]["accuracy"] > 0.9
    card = (out / "model" / "README.md").read_text()
    assert "Classes (3): blue, green, red" in card and "| accuracy |" in card

    # --- the export loads like a hub classifier and gets the toy set right -------------------------------------
    from transformers import AutoModelForImageClassification, pipeline

    model = AutoModelForImageClassification.from_pretrained(out / "model")
    assert model.config.id2label == {0: "blue", 1: "green", 2: "red"}
    classify = pipeline("image-classification", model=str(out / "model"))
    images = sorted(toy_data.rglob("*.png"))
    correct = sum(classify(Image.open(p))[0]["label"] == p.parent.name for p in images)
    assert correct / len(images) > 0.9


def test_single_class_folder_fails_with_a_clear_message(tmp_path):
    data = _toy_set(tmp_path / "one", {"red": COLOURS["red"]}, per_class=3)
    config = _config(tmp_path, data)
    proc = _train(config)
    assert proc.returncode == 1
    expected = f"{data} has one class (red); a classifier needs at least 2 class sub-folders with images"
    assert expected in proc.stderr
    end = read_events(config.parent / "log" / "events.jsonl")[-1]
    assert end["type"] == "end" and end["status"] == "failed"
    assert end["error"].startswith(f"DataError: {expected}")


def test_autotrain_train_and_valid_folders_pass_validate_and_train(tmp_path):
    """AutoTrain's layout (train/<class>/, valid/<class>/): the reader validate uses is the trainer's, so the folder
    validate accepts is the one the trainer learns from, with the given validation images."""
    from autotrain_gradio.pipeline import run_pipeline

    data = tmp_path / "pets"
    _toy_set(data / "train", {"red": COLOURS["red"], "blue": COLOURS["blue"]}, per_class=5)
    _toy_set(data / "valid", {"red": COLOURS["red"], "blue": COLOURS["blue"]}, per_class=2)
    ws = tmp_path / "ws"
    result = run_pipeline(dataset_path=data, profile="TinyImageClassification", workspace=ws, immediate=True,
                          max_steps=2, epochs=1, quiet=True)
    assert result, result.errors
    assert result.phases[0].message == "14 images in 2 classes: blue (7), red (7); 4 of them from valid/ for validation"
    assert sorted(p.name for p in (ws / "input" / "pets").iterdir()) == [".autotrain-manifest.json", "train", "valid"]
    events = read_events(ws / "output" / "pets" / "log" / "events.jsonl")
    assert "10 training / 4 validation images, 2 classes: blue, red" in [e.get("message") for e in events]
    assert events[-1]["status"] == "completed" and (ws / "output" / "pets" / "model" / "config.json").is_file()


def _train_in_process(cfg: ImageClassificationConfig, resume: bool = False) -> dict:
    from autotrain_gradio.tasks.common import RunContext
    from autotrain_gradio.tasks.image_classification.train import train
    from autotrain_gradio.workspace import run_paths

    paths = run_paths(cfg.output_dir)
    events = EventWriter(paths.events)
    try:
        return train(cfg, RunContext(cfg=cfg, paths=paths, events=events, resume=resume))
    finally:
        events.close()


def test_resume_restores_every_weight_exactly(tmp_path, toy_data):
    """20 steps + resume to 30 ends on the same weights as 30 straight steps. transformers 5 reloads checkpoints
    non-strictly under renamed keys; without loading through from_pretrained the ViT encoder silently reset."""
    from safetensors.torch import load_file

    base = dict(name="toy", base_model="tiny:vit", data_dir=str(toy_data), batch_size=8, learning_rate=3e-3,
                lr_scheduler="constant", seed=0, checkpoint_every=10, eval_every_epoch=False)
    straight = ImageClassificationConfig(**base, max_steps=30, output_dir=str(tmp_path / "output" / "straight"))
    _train_in_process(straight)
    split = ImageClassificationConfig(**base, max_steps=20, output_dir=str(tmp_path / "output" / "split"))
    _train_in_process(split)
    _train_in_process(split.model_copy(update={"max_steps": 30}), resume=True)

    a = load_file(Path(straight.output_dir) / "model" / "model.safetensors")
    b = load_file(Path(split.output_dir) / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max() < 1e-5, key
    starts = [e for e in read_events(Path(split.output_dir) / "log" / "events.jsonl") if e["type"] == "start"]
    assert [s["step"] for s in starts] == [0, 20]


def test_early_stopping_exports_the_best_evaluation(tmp_path, toy_data):
    # A learning rate this high makes the validation loss jump after the first epoch: patience 1 stops there.
    cfg = ImageClassificationConfig(name="toy", base_model="tiny:vit", data_dir=str(toy_data), batch_size=8,
                                    learning_rate=0.3, epochs=30, gradient_accumulation=2, warmup_ratio=0.1,
                                    lr_scheduler="linear", early_stopping_patience=1, seed=0,
                                    output_dir=str(tmp_path / "output" / "es"))
    out = _train_in_process(cfg)
    events = read_events(Path(cfg.output_dir) / "log" / "events.jsonl")
    evals = [e["metrics"]["loss"] for e in events if e["type"] == "eval"]
    state = run_state(Path(cfg.output_dir) / "log" / "events.jsonl")
    assert state.step < state.total  # stopped early
    assert out["metrics"]["loss"] == pytest.approx(min(evals[:-1]), abs=1e-5)  # the final eval is of the best


def test_push_without_a_token_fails_after_saving_and_says_what_to_do(tmp_path, toy_data, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    cfg = ImageClassificationConfig(name="toy", base_model="tiny:vit", data_dir=str(toy_data), batch_size=8,
                                    max_steps=2, push_to_hub=True, output_dir=str(tmp_path / "output" / "push"))
    with pytest.raises(RuntimeError, match="push_to_hub is on but HF_TOKEN is not set"):
        _train_in_process(cfg)
    assert (Path(cfg.output_dir) / "model" / "model.safetensors").is_file()  # the local export is kept
