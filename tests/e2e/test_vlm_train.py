"""The vlm task through the CLI on TinyVLM: a colour question about 32 px images is learned (eval loss falls), the
output (a LoRA adapter on the language model + the processor) loads with AutoModelForImageTextToText and answers
held-out images; a metadata row naming a missing image is refused with its exact message."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.cli import main
from autotrain_gradio.events import read_events

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _dataset(root: Path, per_colour: int = 4) -> Path:
    rng = random.Random(0)
    rows = []
    for split in ("train", "valid"):
        folder = root / split
        folder.mkdir(parents=True)
        for i in range(per_colour if split == "train" else 1):
            for name, rgb in COLOURS.items():
                file = f"{name}{i}.png"
                Image.new("RGB", (32, 32), tuple(min(255, max(0, c + rng.randint(-20, 20))) for c in rgb)).save(
                    folder / file)
                rows.append({"image": file, "prompt": "What colour is it?", "text": name})
        (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        rows = []
    return root


@pytest.mark.slow
def test_tiny_vlm_learns_and_its_output_loads(tmp_path):
    data = _dataset(tmp_path / "colours")
    ws = tmp_path / "ws"
    proc = subprocess.run(
        [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(ws), "pipeline", "run", "--dataset-path",
         str(data), "--profile", "TinyVLM", "--immediate", "--set", "max_steps=12"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = ws / "output" / "colours"
    losses = [e["metrics"]["loss"] for e in read_events(out / "log" / "events.jsonl") if e["type"] == "eval"]
    assert losses[-1] < 0.3 * losses[0], losses

    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(out / "model")
    processor = AutoProcessor.from_pretrained(out / "model")
    assert any("lora" in name for name, _ in model.named_parameters())
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is it?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    right = 0
    for name in COLOURS:
        inputs = processor(images=[Image.open(data / "valid" / f"{name}0.png")], text=[text], return_tensors="pt")
        ids = model.generate(**inputs, max_new_tokens=6, do_sample=False)[0][inputs["input_ids"].shape[1]:]
        right += processor.decode(ids, skip_special_tokens=True).strip() == name
    assert right >= 2, right


def test_a_missing_image_is_refused(tmp_path, capsys):
    data = _dataset(tmp_path / "colours")
    (data / "train" / "red0.png").unlink()
    ws = tmp_path / "ws"
    ws.mkdir()
    code = main(["--workspace", str(ws), "pipeline", "prepare", "--dataset-path", str(data), "--profile", "TinyVLM"])
    assert code == 2
    assert (f"{data / 'train' / 'metadata.jsonl'}: 1 image file in 'image' not found at row 1 (e.g. "
            f"{data / 'train' / 'red0.png'}); file names are relative to the metadata file's folder"
            in capsys.readouterr().out)
    assert list(ws.iterdir()) == []
