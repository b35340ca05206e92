"""The three Trainer tasks from a table, end to end through the CLI on their tiny models (`autotrain pipeline run
... --column-mapping ... --immediate`): each learns a learnable toy set (held-out metric clearly beats chance / the
mean predictor), writes the final metrics under AutoTrain's names into the last eval event and eval_results.json,
and exports a model that loads with its transformers Auto class."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.events import read_events, run_state

POSITIVE = ["good", "great", "excellent", "wonderful", "amazing", "loved", "fantastic", "happy"]
NEUTRAL = ["fine", "common", "plain", "usual", "simple"]
NEGATIVE = ["bad", "terrible", "awful", "boring", "poor", "hated", "worst", "sad"]


def _run(tmp_path: Path, data: Path, profile: str, mapping: str, *settings: str) -> tuple[Path, list[dict]]:
    ws = tmp_path / "ws"
    sets = [arg for s in ("max_steps=40", "learning_rate=5e-3", "lr_scheduler=constant", *settings)
            for arg in ("--set", s)]
    proc = subprocess.run(
        [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(ws), "pipeline", "run", "--dataset-path",
         str(data), "--profile", profile, "--column-mapping", mapping, "--immediate", *sets],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = ws / "output" / data.stem
    events = read_events(out / "log" / "events.jsonl")
    state = run_state(out / "log" / "events.jsonl")
    assert state.status == "completed" and state.step == state.total == 40
    first, last = [loss for _, loss in state.losses[:3]], [loss for _, loss in state.losses[-3:]]
    assert max(last) < min(first), state.losses
    # The final metrics: the last eval event, eval_results.json (transformers' eval_ names) and the end event agree.
    final = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    results = json.loads((out / "eval_results.json").read_text())
    assert results == {"epoch": results["epoch"], "eval_samples": results["eval_samples"],
                       **{f"eval_{k}": v for k, v in final.items()}}
    assert events[-1]["outputs"]["metrics"] == {"train_loss": events[-1]["outputs"]["metrics"]["train_loss"], **final}
    return out, events


def _table(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def test_text_classification_learns_sentiment(tmp_path):
    rng = random.Random(0)
    rows = [[" ".join(rng.choices(POSITIVE if i % 2 else NEGATIVE, k=3)), "pos" if i % 2 else "neg"]
            for i in range(60)]
    data = _table(tmp_path / "reviews.csv", ["review", "label"], rows)
    out, events = _run(tmp_path, data, "TinyTextClassification", "text_column=review,target_column=label")
    final = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    assert set(final) == {"loss", "accuracy", "f1_macro", "precision_macro", "recall_macro"}
    assert final["accuracy"] > 0.8 and final["f1_macro"] > 0.8  # chance: 0.5

    from transformers import pipeline

    classify = pipeline("text-classification", model=str(out / "model"))
    assert [r["label"] for r in classify(["great wonderful amazing", "awful worst terrible"])] == ["pos", "neg"]
    assert "Classes (2): neg, pos" in (out / "model" / "README.md").read_text()


def test_text_regression_learns_a_score(tmp_path):
    rng = random.Random(1)
    levels = {0.0: NEGATIVE, 0.5: NEUTRAL, 1.0: POSITIVE}
    rows = []
    for i in range(60):
        y = [0.0, 0.5, 1.0][i % 3]
        rows.append([" ".join(rng.choices(levels[y], k=3)), round(y + rng.uniform(-0.05, 0.05), 3)])
    data = _table(tmp_path / "scores.csv", ["sentence", "score"], rows)
    out, events = _run(tmp_path, data, "TinyTextRegression", "text_column=sentence,target_column=score")
    final = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    assert set(final) == {"loss", "mse", "mae", "r2", "explained_variance"}
    assert final["r2"] > 0.5  # the mean predictor scores ~0

    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(out / "model")
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"


def test_image_regression_learns_brightness_from_metadata_jsonl(tmp_path):
    rng = random.Random(0)
    root = tmp_path / "bright"
    (root / "img").mkdir(parents=True)
    lines = []
    for i in range(40):
        target = rng.random()
        level = int(30 + 200 * target)
        Image.new("RGB", (32, 32), (level, level, level)).save(root / "img" / f"{i}.png")
        lines.append(json.dumps({"file_name": f"img/{i}.png", "brightness": round(target, 4)}))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    out, events = _run(tmp_path, root, "TinyImageRegression", "target_column=brightness", "learning_rate=2e-3",
                       "lr_scheduler=linear")
    final = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    assert set(final) == {"loss", "mse", "mae", "r2", "explained_variance"}
    assert final["r2"] > 0.5  # the mean predictor scores ~0
    prepared = tmp_path / "ws" / "input" / "bright"
    assert (prepared / "metadata.jsonl").is_file() and len(list((prepared / "img").iterdir())) == 40

    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(out / "model")
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"


@pytest.mark.parametrize("metadata, expected", [
    ('{"file_name": "missing.png", "target": 1.0}\n', "image file in 'file_name' not found at row 1"),
    ('{"file_name": "a.png", "target": "high"}\n', "column 'target' (target_column) must be numeric"),
])
def test_image_regression_refuses_bad_metadata_before_training(tmp_path, metadata, expected):
    from autotrain_gradio.tasks.formats import DataError
    from autotrain_gradio.tasks.image_regression.config import ImageRegressionConfig
    from autotrain_gradio.tasks.image_regression.data import load

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "metadata.jsonl").write_text(metadata)
    with pytest.raises(DataError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load(tmp_path, ImageRegressionConfig())
