"""AutoTrain's result rule: with early stopping on, the exported model is the best evaluation (lowest validation
loss; patience and threshold as AutoTrain's), and eval_results.json, the model card and the `end` event report that
checkpoint's epoch and metrics, not the last epoch's."""

from __future__ import annotations

import csv
import json

from autotrain_gradio.events import EventWriter, read_events
from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig
from autotrain_gradio.workspace import run_paths


def test_the_best_checkpoint_is_exported_and_reported_with_its_epoch(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for split, n in (("train", 16), ("valid", 8)):
        with open(data / f"{split}.csv", "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([["text", "target"]] + [[f"{'good' if i % 2 else 'bad'} film {i}",
                                                               "pos" if i % 2 else "neg"] for i in range(n)])
    # A learning rate this high makes the validation loss jump about: patience 1 stops after the first miss.
    cfg = TextClassificationConfig(name="es", base_model="tiny:bert", data_dir=str(data), batch_size=8,
                                   learning_rate=0.5, epochs=12, lr_scheduler="constant", max_seq_length=16,
                                   early_stopping_patience=1, seed=0, output_dir=str(tmp_path / "out"))
    from autotrain_gradio.tasks.text_classification.train import train

    paths = run_paths(cfg.output_dir)
    events = EventWriter(paths.events)
    try:
        outputs = train(cfg, RunContext(cfg=cfg, paths=paths, events=events))
    finally:
        events.close()
    evals = [e for e in read_events(paths.events) if e["type"] == "eval"]
    best = min(evals, key=lambda e: e["metrics"]["loss"])
    assert evals[-1]["epoch"] > best["epoch"]  # it went on past the best, then stopped early
    assert evals[-1]["epoch"] < cfg.epochs
    results = json.loads((paths.output_dir / "eval_results.json").read_text())
    assert results["epoch"] == round(best["epoch"], 4) and results["eval_loss"] == best["metrics"]["loss"]
    assert outputs["epoch"] == results["epoch"] and outputs["metrics"]["loss"] == best["metrics"]["loss"]
    assert outputs["best_step"] == best["step"]
    card = (paths.model_dir / "README.md").read_text()
    assert f"the best evaluation by validation loss, epoch {best['epoch']:g} (step {best['step']})" in card
