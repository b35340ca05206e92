"""parallel_trials: Optuna trials in two worker processes sharing the study file. A study stopped by SIGTERM to its
process group (what a cancel sends) mid-study, then resumed, ends with exactly num_trials counted trials, none
repeated, one step event each, and the best of them as the model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna

from autotrain_gradio.config import save_config
from autotrain_gradio.events import EventTailer, read_events, run_state
from autotrain_gradio.tasks.tabular.config import TabularConfig
from autotrain_gradio.tasks.tabular.parallel import TrialState
from tests.toy_tables import toy_rows, write_csv

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_two_parallel_workers_stop_and_resume_to_exactly_num_trials(tmp_path):
    total = 40  # enough that the cut lands mid-study on an idle machine too (step events reach the file in batches)
    write_csv(tmp_path / "input" / "t" / "train.csv", toy_rows(2000), ["label"])  # trials long enough to cut
    cfg = TabularConfig(name="t", data_dir=str(tmp_path / "input" / "t"), output_dir=str(tmp_path / "output" / "t"),
                        target_columns=["label"], id_column="id", num_trials=total, n_jobs=1, parallel_trials=2)
    config = save_config(cfg, Path(cfg.output_dir) / "config.toml")
    events_path = Path(cfg.output_dir) / "log" / "events.jsonl"
    command = [sys.executable, "-m", "autotrain_gradio.train", "--config", str(config)]
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    tailer, deadline = EventTailer(events_path), time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if any(e["type"] == "step" for e in tailer.poll()):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)  # the trainer and both workers, as a cancel does
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 143, stderr[-2000:]
    stopped = read_events(events_path)[-1]
    assert stopped["status"] == "cancelled" and 1 <= stopped["step"] < total, stopped
    assert (Path(cfg.output_dir) / "model" / "model.joblib").is_file()  # the best so far is kept

    resumed = subprocess.run([*command, "--resume"], env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert run_state(events_path).status == "completed"
    steps = [e["step"] for e in read_events(events_path) if e["type"] == "step"]
    assert steps == list(range(1, total + 1))  # each counted trial reported once, the resumed run going on
    study = optuna.load_study(study_name="autotrain", storage=f"sqlite:///{cfg.output_dir}/study.db")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == total  # exactly num_trials: the cut ones failed without counting
    assert all(t.state == TrialState.FAIL and "error" not in t.user_attrs for t in study.trials if t not in complete)
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == total  # none repeated
    timed = [t for t in study.trials if t.datetime_complete is not None]
    assert any(a.user_attrs["worker"] != b.user_attrs["worker"] and a.datetime_start < b.datetime_complete
               and b.datetime_start < a.datetime_complete for a in timed for b in timed)  # two at a time
    best = json.loads((Path(cfg.output_dir) / "model" / "eval_results.json").read_text())
    assert best["trial"] == study.best_trial.number
    assert (Path(cfg.output_dir) / "model" / "model.joblib").is_file()
    assert not (Path(cfg.output_dir) / "model" / "trials").exists()
