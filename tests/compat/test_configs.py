"""AutoTrain Advanced 0.8.36's 36 example configs (its repository's configs/ folder) run here unchanged except for
the model and the data: in tests/compat/configs/ each has `base_model: ${AT_MODEL}` and `data.path: ${AT_DATA}`
(AutoTrain's own `${VAR}` substitution), every other key as AutoTrain wrote it. Each goes through validate and plan
(`autotrain pipeline run --config FILE.yml --dry-run`) on tiny local data in the layout it expects; a few train for
two steps (`autotrain --config FILE.yml`, as AutoTrain users run them).

The only refusals are the documented ones: int4 / int8 quantization (QLoRA, bitsandbytes) on a machine without
CUDA, as in AutoTrain, which fails there too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from autotrain_gradio.cli import main
from autotrain_gradio.compat.tasks import resolve_task
from autotrain_gradio.config import tomllib
from autotrain_gradio.gpus import visible_gpus
from tests.compat.autotrain_data import make_data, tiny_model

CONFIGS = sorted((Path(__file__).parent / "configs").rglob("*.yml"))
QLORA_ON_CPU = "needs a CUDA GPU (bitsandbytes)"


def _setup(path: Path, tmp_path: Path, monkeypatch) -> dict:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    task, _ = resolve_task(config["task"])
    monkeypatch.setenv("AT_MODEL", tiny_model(task))
    monkeypatch.setenv("AT_DATA", str(make_data(config, tmp_path / "data")))
    monkeypatch.setenv("HF_USERNAME", "tester")
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    return config


def expected_refusal(config: dict) -> str | None:
    params = config.get("params") or {}
    if params.get("unsloth"):  # the rule: one clear line rather than a silent fallback
        return "unsloth=true: Unsloth's patched kernels are not used here"
    quantized = params.get("quantization") in ("int4", "int8")
    return QLORA_ON_CPU if quantized and not visible_gpus() else None




def test_all_36_are_here():
    assert len(CONFIGS) == 36


@pytest.mark.parametrize("path", CONFIGS, ids=[f"{p.parent.name}/{p.stem}" for p in CONFIGS])
def test_config_validates_and_plans_unchanged(path, tmp_path, monkeypatch, capsys):
    config = _setup(path, tmp_path, monkeypatch)
    code = main(["--workspace", str(tmp_path / "ws"), "pipeline", "run", "--config", str(path), "--dry-run"])
    out, err = capsys.readouterr()
    refusal = expected_refusal(config)
    if refusal:
        assert code == 2 and refusal in out + err, out + err
        return
    assert code == 0, out + err
    assert "dry run, nothing written" in out
    assert not (tmp_path / "ws" / "output").exists()
    planned = tomllib.loads(out.split(" ---\n", 1)[1])  # the config.toml the run would write
    params = config["params"]
    assert planned["name"] == config["project_name"] and planned["task"] == resolve_task(config["task"])[0]
    assert planned["learning_rate"] == float(params["lr"]) and planned["lr_scheduler"] == params["scheduler"]
    for key in ("epochs", "batch_size", "gradient_accumulation"):
        assert planned[key] == params[key]
    assert planned["log_to"] == config["log"] and planned["push_to_hub"] == config["hub"]["push_to_hub"]
    assert planned["hub_repo_id"] == f"tester/{config['project_name']}"
    for key, column in config["data"]["column_mapping"].items():
        assert planned.get(key, column) == column


def test_autotrain_config_trains_as_autotrain_runs_it(tmp_path, monkeypatch, capsys):
    """`autotrain --config FILE.yml` queues the run and follows it to the end (two steps here)."""
    config = _setup(Path(__file__).parent / "configs" / "text_classification" / "local_dataset.yml", tmp_path,
                    monkeypatch)
    config["params"].update(max_steps=2, max_seq_length=32)  # tiny: two steps (our own key beside AutoTrain's)
    config["hub"]["push_to_hub"] = False
    path = tmp_path / "short.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    ws = tmp_path / "ws"
    code = main(["--workspace", str(ws), "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, out[-3000:] + err[-3000:]
    run = ws / "output" / config["project_name"]
    end = [json.loads(line) for line in (run / "log" / "events.jsonl").read_text().splitlines()][-1]
    assert end["type"] == "end" and end["status"] == "completed"
    assert (run / "model" / "config.json").is_file() and (run / "log" / "tensorboard").is_dir()  # log: tensorboard
