"""Experiment tracking through the one events writer: step and eval events reach TensorBoard (read back with
TensorBoard's own reader), other events do not, and a tracker whose package is missing is a config error naming
the pip command (trackio and wandb are not installed here; their path is the same API and has not run)."""

from __future__ import annotations

import importlib.util

import pytest
from pydantic import ValidationError

from autotrain_gradio.events import EventWriter, read_events
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig
from autotrain_gradio.tracking import metrics_of, open_tracker


def test_step_and_eval_events_are_logged_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard", reason="log_to=tensorboard needs: pip install tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = EventWriter(tmp_path / "events.jsonl",
                         tracker=open_tracker("tensorboard", "cats", tmp_path, {"learning_rate": 1e-3}))
    writer.emit("start", total_steps=2, step=0)
    writer.emit("step", step=1, total=2, loss=0.9, lr=1e-3, it_s=None)
    writer.emit("step", step=2, total=2, loss=0.4, lr=1e-3, it_s=5.0)
    writer.emit("eval", step=2, metrics={"accuracy": 0.75, "f1_macro": 0.7, "note": "text"})
    writer.emit("end", status="completed")
    writer.close()
    assert [e["type"] for e in read_events(tmp_path / "events.jsonl")] == ["start", "step", "step", "eval", "end"]

    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == ["eval/accuracy", "eval/f1_macro", "train/it_s", "train/loss",
                                             "train/lr"]
    assert [(s.step, round(s.value, 4)) for s in acc.Scalars("train/loss")] == [(1, 0.9), (2, 0.4)]
    assert [(s.step, s.value) for s in acc.Scalars("eval/accuracy")] == [(2, 0.75)]


def test_only_numbers_of_step_and_eval_events_are_tracked():
    assert metrics_of({"type": "log", "message": "x"}) == ({}, None)
    assert metrics_of({"type": "eval", "step": 3, "metrics": {"r2": 1, "ok": True}}) == ({"eval/r2": 1.0}, 3)


@pytest.mark.parametrize("tracker", ["wandb", "trackio"])
def test_a_tracker_that_is_not_installed_is_a_config_error_naming_the_pip_command(tracker):
    if importlib.util.find_spec(tracker) is not None:
        pytest.skip(f"{tracker} is installed here")
    with pytest.raises(ValidationError, match=f"log_to={tracker} needs the {tracker} package: pip install {tracker}"):
        ImageClassificationConfig(name="x", log_to=tracker)
    assert ImageClassificationConfig(name="x").log_to == "none"
