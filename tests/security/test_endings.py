"""Truthful endings: a trainer killed by a signal says so; a tabular study stopped by its time limit says how many
trials ran and why."""

from __future__ import annotations

import os
import re
import signal

from autotrain_gradio.events import read_events
from autotrain_gradio.jobs import JobStore
from tests.e2e.test_tabular import _in_process
from tests.security.conftest import call, wait_job


def test_kill_9_says_killed_by_signal_9(app, lora_runs):
    alice = app.session("alice")
    data = app.shared / "shapes"  # lora_runs made it
    kind, (out,) = call(alice, "start_job", str(data), "TinyFluxLORA", "long",
                        {"max_steps": 100_000, "sample_every": 0, "checkpoint_every": 0})
    assert kind == "complete" and out["ok"], out
    wait_job(alice, out["job_id"], ("running",))
    store = JobStore(app.root)
    try:
        job = store.get(out["job_id"])
    finally:
        store.close()
    os.kill(job.pid, signal.SIGKILL)
    status = wait_job(alice, job.id, ("failed", "completed", "cancelled"))
    assert (status["status"], status["error"]) == (
        "failed", "trainer killed by signal 9 (SIGKILL): something outside the app ended it (kill -9, or the "
                  f"out-of-memory killer); see {job.log_path}")


def test_a_study_stopped_by_its_time_limit_says_so(tmp_path):
    outputs, _ = _in_process(tmp_path, ["label"], model="logistic_regression", num_trials=500, time_limit=1)
    done = outputs["trials"]
    assert 1 <= done < 500
    said = (f"the study stopped at its time limit of 1 s after {done} of 500 trials (time_limit); raise time_limit to "
            "run them all")
    assert outputs["stopped"] == said
    events = read_events(tmp_path / "output" / "t" / "log" / "events.jsonl")
    assert any(e["type"] == "log" and e["level"] == "warning" and e["message"] == said for e in events)
    assert events[-1]["type"] != "end" or events[-1]["status"] == "completed"
    card = (tmp_path / "output" / "t" / "model" / "README.md").read_text()
    assert re.search(rf"tuned by Optuna over {done} trials", card)
