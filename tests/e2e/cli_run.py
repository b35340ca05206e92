"""Running a table task end to end the way a person does: `autotrain pipeline run --immediate` in a subprocess on a
tiny model, then reading what the run left (events, eval_results.json, the model folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from autotrain_gradio.events import read_events


def run_cli(workspace: Path, dataset: Path, profile: str, mapping: str = "", *sets: str,
            name: str = "toy") -> tuple[subprocess.CompletedProcess, Path]:
    """`autotrain pipeline run --immediate`; returns the finished process and output/<name>."""
    args = [sys.executable, "-m", "autotrain_gradio.cli", "pipeline", "run", "--dataset-path", str(dataset),
            "--profile", profile, "--workspace", str(workspace), "--dataset-name", name, "--immediate"]
    if mapping:
        args += ["--column-mapping", mapping]
    for item in sets:
        args += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    return proc, workspace / "output" / name


def finished(proc: subprocess.CompletedProcess, out: Path) -> dict[str, Any]:
    """Assert the run completed and wrote eval_results.json; its metrics (eval_-prefixed) plus the events."""
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    events = read_events(out / "log" / "events.jsonl")
    assert events[-1]["type"] == "end" and events[-1]["status"] == "completed", events[-1]
    results = json.loads((out / "eval_results.json").read_text())
    final = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    assert {f"eval_{k}": v for k, v in final.items()}.items() <= results.items()  # the same numbers in both
    losses = [e["loss"] for e in events if e["type"] == "step"]
    assert len(losses) >= 4 and min(losses[-2:]) < losses[0], losses  # loss fell
    return results
