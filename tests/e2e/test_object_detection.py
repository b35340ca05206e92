"""Object detection through the CLI on the tiny YOLOS (no timm, no torchvision): an image folder with COCO boxes in
metadata.jsonl trains end to end, the final eval event and eval_results.json carry COCO mAP, the Jobs tab gets the
validation images with their predicted boxes drawn, and the model loads with AutoModelForObjectDetection. Bad
inputs (a missing file_name, a negative size, a box outside its image, an unknown category): the exact one-line
refusal, exit 2, nothing written."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from autotrain_gradio.events import read_events
from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_pipeline
from tests.e2e.cli_run import finished, run_cli

FILL = {"red": (220, 30, 30), "blue": (30, 40, 220)}


def toy_folder(root: Path, n: int, seed: int) -> Path:
    """64 px grey images, each with one 32 px red or blue square on the left or the right: where and which."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        image = Image.new("RGB", (64, 64), (200, 200, 200))
        colour, x, y = rng.choice(list(FILL)), rng.choice([2, 30]), rng.randint(14, 18)
        ImageDraw.Draw(image).rectangle([x, y, x + 31, y + 31], fill=FILL[colour])
        image.save(root / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "objects": {"bbox": [[x, y, 32, 32]], "category": [colour]}})
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def test_detector_trains_reports_map_and_draws_boxes(tmp_path):
    data = tmp_path / "data"
    toy_folder(data / "train", 48, seed=0)
    toy_folder(data / "valid", 12, seed=1)
    proc, out = run_cli(tmp_path / "ws", data, "TinyObjectDetection", "", "max_steps=30", "eval_every_epoch=false",
                        "sample_images=2")
    results = finished(proc, out)  # completed, loss fell, the eval event and eval_results.json agree
    assert {"eval_map", "eval_map_50", "eval_map_75"} <= results.keys()
    assert all(0.0 <= results[k] <= 1.0 for k in ("eval_map", "eval_map_50", "eval_map_75"))
    samples = [e for e in read_events(out / "log" / "events.jsonl") if e["type"] == "sample"]
    assert len(samples) == 1 and len(samples[0]["paths"]) == 2
    assert all(Image.open(p).size == (64, 64) for p in samples[0]["paths"])
    assert samples[0]["prompts"][0].startswith("0.png: ")

    import torch
    from transformers import AutoImageProcessor, AutoModelForObjectDetection

    model = AutoModelForObjectDetection.from_pretrained(out / "model").eval()
    assert set(model.config.id2label.values()) == {"blue", "red"}
    processor = AutoImageProcessor.from_pretrained(out / "model")
    image = Image.open(data / "valid" / "0.png").convert("RGB")
    with torch.no_grad():
        outputs = model(**processor(images=image, return_tensors="pt"))
    found = processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=[(64, 64)])[0]
    assert len(found["boxes"]) == model.config.num_detection_tokens and np.isfinite(found["boxes"].numpy()).all()


@pytest.mark.slow
def test_detector_learns_where_and_which(tmp_path):
    """A few hundred steps (a DETR-style detector learns its boxes late): held-out mAP@50 well above what any
    detector that has not learned where the square is can score. A fixed box in the middle overlaps either square
    with IoU 0.39, under COCO's lowest threshold: chance is 0."""
    data = tmp_path / "data"
    toy_folder(data / "train", 64, seed=0)
    toy_folder(data / "valid", 16, seed=1)
    proc, out = run_cli(tmp_path / "ws", data, "TinyObjectDetection", "", "max_steps=300", "eval_every_epoch=false",
                        "weight_decay=0", "sample_images=0")
    results = finished(proc, out)
    assert results["eval_map_50"] > 0.4 and results["eval_map"] > 0.3, results


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[2].update(file_name="gone.png"),
     "1 image file in 'file_name' not found at row 3 (e.g. {root}/gone.png); file names are relative to the "
     "metadata file's folder"),
    (lambda rows: rows[1]["objects"].update(bbox=[[10, 10, -4, 8]]),
     "row 2: box 1 [10, 10, -4, 8] has a negative or zero size (width -4, height 8); boxes are COCO [x, y, width, "
     "height] with width and height above 0"),
    (lambda rows: rows[0]["objects"].update(bbox=[[40, 10, 30, 20]]),
     "row 1: box 1 [40, 10, 30, 20] lies outside the 64x64 image 0.png; boxes are COCO [x, y, width, height] in "
     "pixels of that image"),
])
def test_bad_boxes_and_files_are_one_line(tmp_path, change, message):
    root = toy_folder(tmp_path / "data", 4, seed=0)
    rows = [json.loads(line) for line in (root / "metadata.jsonl").read_text().splitlines()]
    change(rows)
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ws = tmp_path / "ws"
    result = run_pipeline(root, "TinyObjectDetection", workspace=str(ws), quiet=True, mode="prepare")
    assert result.exit_code == EXIT_BAD_INPUT and not ws.exists()
    assert result.errors == [f"{root / 'metadata.jsonl'}: " + message.format(root=root)]


def test_unknown_validation_category_is_one_line(tmp_path):
    data = tmp_path / "data"
    toy_folder(data / "train", 4, seed=0)
    valid = toy_folder(data / "valid", 2, seed=1)
    rows = [json.loads(line) for line in (valid / "metadata.jsonl").read_text().splitlines()]
    rows[1]["objects"]["category"] = ["truck"]
    (valid / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run_pipeline(data, "TinyObjectDetection", workspace=str(tmp_path / "ws"), quiet=True, mode="prepare")
    trained = sorted({json.loads(line)["objects"]["category"][0]
                      for line in (data / "train" / "metadata.jsonl").read_text().splitlines()})
    assert result.errors == [f"{valid / 'metadata.jsonl'}: row 2: category 'truck' never occurs in the training rows "
                             f"(they have {', '.join(trained)}); add training images with it or fix the name"]


def test_coco_map_scores_perfect_and_wrong_detections():
    from autotrain_gradio.tasks.object_detection.train import coco_map

    ground = [(np.array([[2.0, 14, 32, 32]]), np.array([0])), (np.array([[30.0, 16, 32, 32]]), np.array([1]))]
    perfect = [(b, np.ones(1), c) for b, c in ground]
    assert coco_map(ground, perfect, 2) == pytest.approx({"map": 1.0, "map_50": 1.0, "map_75": 1.0})
    wrong_class = [(b, np.ones(1), 1 - c) for b, c in ground]
    assert coco_map(ground, wrong_class, 2) == {"map": 0.0, "map_50": 0.0, "map_75": 0.0}
    # Shifted by 10 px: IoU 0.52 passes only the first of COCO's ten IoU thresholds (.50, .55, ..., .95).
    shifted = [(b + np.array([10.0, 0, 0, 0]), np.ones(1), c) for b, c in ground]
    assert coco_map(ground, shifted, 2) == pytest.approx({"map": 0.1, "map_50": 1.0, "map_75": 0.0})
