"""The whole pipeline on this CPU: `autotrain pipeline run ... --profile TinyFluxLORA --immediate` ends with a LoRA
file, events and a config in output/<name>/; a batch with one invalid folder trains the valid ones, exit 3."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from safetensors import safe_open

from autotrain_gradio.demo import make_sample_dataset
from autotrain_gradio.events import run_state


def test_cli_run_immediate_tiny_flux_lora(tmp_path):
    data = make_sample_dataset(tmp_path / "photos", count=8, size=32)
    ws = tmp_path / "ws"
    proc = subprocess.run(
        [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(ws), "pipeline", "run",
         "--dataset-path", str(data), "--profile", "TinyFluxLORA", "--immediate", "--set", "max_steps=6",
         "--set", "sample_every=0", "--set", "checkpoint_every=3"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = ws / "output" / "photos"
    assert (out / "config.toml").is_file()
    state = run_state(out / "log" / "events.jsonl")
    assert state.status == "completed" and state.step == 6 and state.total == 6
    assert len(state.losses) == 6
    lora = out / "model" / "pytorch_lora_weights.safetensors"
    with safe_open(str(lora), "pt") as f:
        keys = list(f.keys())
        meta = f.metadata() or {}
    assert keys and all("lora" in k for k in keys)
    assert any(p.suffix == ".png" for p in (out / "samples").iterdir()), "a sample is rendered at the end"
    assert "100.0% (6/6)" in proc.stdout  # the progress line reached the end
    lines = [json.loads(line) for line in (out / "log" / "events.jsonl").read_text().splitlines()]
    assert lines[-1]["type"] == "end" and lines[-1]["status"] == "completed"
    assert meta, "the LoRA carries its metadata"
    listed = subprocess.run([sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(ws), "train", "list"],
                            capture_output=True, text=True, timeout=60)
    row = [line for line in listed.stdout.splitlines() if "photos" in line]
    assert row and "completed" in row[0] and "100%" in row[0], listed.stdout  # foreground runs are jobs too


def test_batch_immediate_with_one_invalid_folder_is_partial(tmp_path):
    ws = tmp_path / "ws"
    for name in ("alpha", "beta"):
        make_sample_dataset(tmp_path / "sets" / name, count=2, size=32)
    (tmp_path / "sets" / "gamma").mkdir()
    (tmp_path / "sets" / "gamma" / "note.txt").write_text("no images here")
    proc = subprocess.run(
        [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(ws), "pipeline", "batch",
         "--datasets-dir", str(tmp_path / "sets"), "--profile", "TinyFluxLORA", "--immediate",
         "--set", "max_steps=2", "--set", "sample_every=0", "--set", "export_formats=[\"diffusers\"]"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Batch: 2/3 datasets ok" in proc.stdout
    assert f"no image files found in {tmp_path / 'sets' / 'gamma'}" in proc.stdout
    for name in ("alpha", "beta"):
        assert run_state(ws / "output" / name / "log" / "events.jsonl").status == "completed"
    assert not (ws / "output" / "gamma").exists()
