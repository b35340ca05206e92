"""The pieces every trainer shares: the optimizer table, the typed event writers, the metrics."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from autotrain_gradio.config import CommonConfig
from autotrain_gradio.events import EventWriter, NullWriter, read_events
from autotrain_gradio.tasks.metrics import regression_metrics
from autotrain_gradio.tasks.optim import OPTIMIZERS, check_available


def test_the_config_offers_exactly_the_optimizers_of_the_table():
    assert typing.get_args(CommonConfig.model_fields["optimizer"].annotation) == tuple(OPTIMIZERS)


@pytest.mark.parametrize("name", [n for n, o in OPTIMIZERS.items() if o.package])
def test_an_optimizer_whose_package_is_missing_names_the_install(name):
    package = OPTIMIZERS[name].package
    if __import__("importlib").util.find_spec(package):
        pytest.skip(f"{package} is installed")
    with pytest.raises(ImportError, match=f"optimizer='{name}' needs {package}: pip install {package}"):
        check_available(name)


def test_typed_events_write_the_same_fields_in_every_loop(tmp_path):
    writer = EventWriter(tmp_path / "events.jsonl")
    writer.start(total_steps=10, step=0, config_digest="abc")
    writer.step(step=1, total=10, epoch=0.123456, loss=np.float32(0.5), lr=1e-3, it_s=None, eta_s=None)
    writer.eval(step=1, epoch=1, metrics={"accuracy": 1.0})
    writer.checkpoint(step=1, path=tmp_path / "checkpoint-1")
    writer.sample(step=1, paths=[tmp_path / "a.png"], prompts=["a"])
    writer.close()
    events = [{k: v for k, v in e.items() if k != "t"} for e in read_events(tmp_path / "events.jsonl")]
    assert events == [
        {"type": "start", "total_steps": 10, "step": 0, "config_digest": "abc"},
        {"type": "step", "step": 1, "total": 10, "epoch": 0.1235, "loss": 0.5, "lr": 1e-3, "it_s": None,
         "eta_s": None},
        {"type": "eval", "step": 1, "epoch": 1.0, "metrics": {"accuracy": 1.0}},
        {"type": "checkpoint", "step": 1, "path": str(tmp_path / "checkpoint-1")},
        {"type": "sample", "step": 1, "paths": [str(tmp_path / "a.png")], "prompts": ["a"]},
    ]
    assert NullWriter().eval(step=1, epoch=0, metrics={})["type"] == "eval"


def test_regression_metrics_are_sklearns():
    from transformers import EvalPrediction

    labels = np.array([1.0, 2.0, 3.0, 4.0])
    preds = np.array([[1.5], [2.0], [2.5], [4.0]])
    metrics = regression_metrics(EvalPrediction(predictions=preds, label_ids=labels))
    assert metrics == pytest.approx({"mse": 0.125, "mae": 0.25, "r2": 1 - 0.5 / 5.0, "explained_variance": 0.9})
