"""The job queue end to end with real processes: submitters, the detached worker, and the real trainer
(`python -m autotrain_gradio.train`) on the tiny ViT.

Covers: 20 jobs from 4 processes each run once within max-concurrent; cancel -> checkpoint -> resume finishes;
kill -9 of the worker mid-run -> restart re-attaches the live trainer, fails the vanished one and keeps the queue
order; a failing job ends `failed` with the trainer's error and `train monitor` exits 1; the CLI table and logs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autotrain_gradio.cli import main as cli_main
from autotrain_gradio.config import save_config
from autotrain_gradio.events import read_events
from autotrain_gradio.jobs import JobError, JobStore, cancel, ensure_worker, resume, submit, worker_pid
from autotrain_gradio.jobs.follow import monitor_job
from autotrain_gradio.jobs.launch import run_foreground
from autotrain_gradio.jobs.pids import pid_alive
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    # Workers and trainers inherit this: two shared cores, several processes at once.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _config(ws: Path, name: str, data_dir: Path, **overrides) -> Path:
    settings = dict(name=name, base_model="tiny:vit", data_dir=str(data_dir), output_dir=str(ws / "output" / name),
                    batch_size=2, max_steps=20, learning_rate=1e-3, lr_scheduler="constant", seed=0,
                    eval_every_epoch=False, valid_split=0.0)
    cfg = ImageClassificationConfig(**{**settings, **overrides})
    return save_config(cfg, Path(cfg.output_dir) / "config.toml")


def _fast_fail_config(ws: Path, name: str) -> Path:
    """A valid config whose trainer fails within a second, before torch loads: its events.jsonl is a folder, so
    the harness cannot open its event stream (a real trainer crash, with no `end` event)."""
    config = _config(ws, name, ws / "nothing")
    (config.parent / "log" / "events.jsonl").mkdir(parents=True)
    return config


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _jobs(ws: Path):
    store = JobStore(ws)
    try:
        return store.list()
    finally:
        store.close()


def _all_done(ws: Path, n: int):
    jobs = _jobs(ws)
    return jobs if len(jobs) == n and all(j.done for j in jobs) else None


def _max_overlap(jobs) -> int:
    marks = sorted([(j.started, 1) for j in jobs] + [(j.finished, -1) for j in jobs], key=lambda m: (m[0], m[1]))
    running = peak = 0
    for _, delta in marks:
        running += delta
        peak = max(peak, running)
    return peak


@pytest.fixture
def workspace(tmp_path):
    yield tmp_path
    # Leave nothing behind: a worker that outlives the test, or trainers of a failed assertion.
    for job in _jobs(tmp_path):
        if job.status == "running" and pid_alive(job.pid, job.pid_start):
            os.killpg(job.pid, signal.SIGKILL)
    pid = worker_pid(tmp_path)
    if pid:
        os.kill(pid, signal.SIGKILL)


SUBMITTER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from autotrain_gradio.jobs import submit
    ws, who, go = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    time.sleep(max(0.0, go - time.time()))  # all four submit at the same moment
    for i in range(5):
        name = f"{who}-{i}"
        submit(ws, name=name, profile="TinyImageClassification", config_path=ws / "output" / name / "config.toml",
               max_concurrent=3)
""")


def test_twenty_jobs_from_four_processes_each_run_once_within_max_concurrent(workspace):
    ws = workspace
    names = [f"p{p}-{i}" for p in range(4) for i in range(5)]
    for name in names:
        _fast_fail_config(ws, name)
    go = time.time() + 3.0
    submitters = [subprocess.Popen([sys.executable, "-c", SUBMITTER, str(ws), f"p{p}", str(go)]) for p in range(4)]
    assert [s.wait(timeout=60) for s in submitters] == [0, 0, 0, 0]

    jobs = _wait(lambda: _all_done(ws, 20), 150, "20 jobs to finish")
    assert sorted(j.name for j in jobs) == sorted(names)
    for job in jobs:
        # Each ran, exactly once, and failed with the trainer's own error text.
        assert job.status == "failed" and job.exit_code == 1, job
        assert "IsADirectoryError" in job.error and "events.jsonl" in job.error, job.error
        assert job.log_path.read_text().count("Traceback (most recent call last)") == 1
        assert job.started is not None and job.finished >= job.started
    peak = _max_overlap(jobs)
    assert 2 <= peak <= 3, peak
    # One worker launched every job once (a second worker, had one started, would find the lock held).
    worker_log = (ws / "logs" / "worker.log").read_text()
    for job in jobs:
        assert worker_log.count(f"started job {job.id} ") == 1
    _wait(lambda: worker_pid(ws) is None, 20, "the idle worker to exit")


def test_cancel_writes_a_checkpoint_and_resume_finishes(workspace, toy_data):
    ws = workspace
    tracked = importlib.util.find_spec("tensorboard") is not None
    config = _config(ws, "long", toy_data, max_steps=600,  # the cancel lands mid-run when idle too
                      log_to="tensorboard" if tracked else "none")
    job = submit(ws, name="long", profile="TinyImageClassification", config_path=config)
    _wait(lambda: JobStore(ws).get(job.id).last_step >= 3, 120, "the trainer's first steps")

    done = cancel(ws, job.id)
    assert done.status == "cancelled" and done.error == ""  # ended by itself, not killed after the grace period
    assert done.exit_code in (143, None)  # None: `cancel` saw the trainer gone before the worker reaped it
    checkpoints = list((config.parent / "checkpoints").glob("checkpoint-*"))
    assert checkpoints, "the trainer writes a checkpoint when cancelled"
    stopped_at = done.last_step
    assert 3 <= stopped_at < 600

    again = resume(ws, job.id)
    assert again.status == "queued" and again.resume
    with open(os.devnull, "w") as sink:
        assert monitor_job(ws, job.id, sink, interval=0.5) == 0
    final = JobStore(ws).get(job.id)
    assert final.status == "completed" and final.last_step == final.total_steps == 600
    events = read_events(final.events_path)
    resumed_start = [e for e in events if e["type"] == "start"][-1]
    assert resumed_start["step"] >= stopped_at - 1  # continued from the checkpoint, not from step 0
    assert (config.parent / "model" / "config.json").is_file()
    if tracked:  # the tracker saw both runs' step events: the loss curve goes on across the resume
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        steps = []
        for run in sorted((config.parent / "log" / "tensorboard").glob("events.out.tfevents.*")):
            acc = EventAccumulator(str(run))
            acc.Reload()
            steps += [s.step for s in acc.Scalars("train/loss")]
        assert steps[0] == 1 and steps[-1] == 600 and stopped_at in steps


def test_worker_killed_mid_run_restart_reattaches_fails_the_vanished_and_keeps_order(workspace, toy_data):
    ws = workspace
    survivor = submit(ws, name="survivor", profile="p", config_path=_config(ws, "survivor", toy_data, max_steps=120),
                      max_concurrent=2)
    victim = submit(ws, name="victim", profile="p", config_path=_config(ws, "victim", toy_data, max_steps=2000),
                    max_concurrent=2)
    waiting = [submit(ws, name=f"later{i}", profile="p", config_path=_fast_fail_config(ws, f"later{i}"),
                      max_concurrent=2) for i in range(2)]
    store = JobStore(ws)
    _wait(lambda: all(store.get(j.id).last_step >= 1 for j in (survivor, victim)), 120, "both trainers stepping")
    worker = worker_pid(ws)
    victim_pid = store.get(victim.id).pid
    os.kill(worker, signal.SIGKILL)
    os.killpg(victim_pid, signal.SIGKILL)
    _wait(lambda: worker_pid(ws) is None and not pid_alive(victim_pid), 10, "worker and victim to die")
    assert store.get(survivor.id).status == "running" and pid_alive(store.get(survivor.id).pid)
    assert [j.status for j in store.queued()] == ["queued", "queued"]

    assert ensure_worker(ws) is not None
    _wait(lambda: _all_done(ws, 4), 150, "every job to end")
    jobs = {j.id: j for j in store.list()}
    assert jobs[survivor.id].status == "completed" and jobs[survivor.id].last_step == 120
    assert jobs[victim.id].status == "failed"
    assert jobs[victim.id].error == f"trainer process disappeared (pid {victim_pid})"
    first, second = (jobs[j.id] for j in waiting)
    assert first.started < second.started  # queue order kept across the restart
    log = (ws / "logs" / "worker.log").read_text()
    assert f"re-attached to job {survivor.id} " in log
    store.close()


def test_failing_job_is_failed_with_the_trainer_error_and_monitor_exits_nonzero(workspace, toy_data, capsys):
    ws = workspace
    config = _config(ws, "broken", toy_data, base_model=str(ws / "no-such-model"))
    job = submit(ws, name="broken", profile="TinyImageClassification", config_path=config)
    assert cli_main(["--workspace", str(ws), "train", "monitor", "--job", str(job.id), "--interval", "0.5"]) == 1
    out = capsys.readouterr().out
    final = JobStore(ws).get(job.id)
    end = [e for e in read_events(final.events_path) if e["type"] == "end"][-1]
    assert final.status == "failed" and final.exit_code == 1
    assert final.error == end["error"] and "no-such-model" in final.error
    assert f"❌ broken: failed: {final.error}" in out

    assert cli_main(["--workspace", str(ws), "train", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "NAME", "PROFILE", "STATUS", "PROGRESS", "GPU", "STARTED", "DURATION"]
    assert table[1].split()[:4] == [str(job.id), "broken", "TinyImageClassification", "failed"]
    assert cli_main(["--workspace", str(ws), "train", "logs", "--job", str(job.id), "--tail", "1"]) == 0
    assert "error: training failed:" in capsys.readouterr().out
    assert cli_main(["--workspace", str(ws), "train", "resume", "--job", "999"]) == 2


def test_run_foreground_returns_the_trainer_exit_code_and_keeps_its_output(tmp_path):
    config = _fast_fail_config(tmp_path, "fg")
    out = io.StringIO()
    assert run_foreground(config, stream=out, interval=0.2) == 1
    log = config.parent / "log" / "train.log"
    assert "IsADirectoryError" in log.read_text()
    assert out.getvalue().splitlines()[-1] == f"❌ fg: failed: see {log} (exit code 1)"


def test_a_dead_worker_is_revived_by_train_list_and_no_job_stays_stuck(workspace, toy_data, capsys):
    ws = workspace
    victim = submit(ws, name="victim", profile="p", config_path=_config(ws, "victim", toy_data, max_steps=2000))
    store = JobStore(ws)
    _wait(lambda: store.get(victim.id).pid, 60, "the first trainer to start")
    later = submit(ws, name="later", profile="p", config_path=_fast_fail_config(ws, "later"))  # the worker is busy
    worker, trainer = worker_pid(ws), store.get(victim.id).pid
    os.kill(worker, signal.SIGKILL)
    os.killpg(trainer, signal.SIGKILL)
    _wait(lambda: worker_pid(ws) is None and not pid_alive(trainer), 10, "worker and trainer to die")
    assert [j.status for j in store.list()] == ["running", "queued"]  # what nobody would fix before

    assert cli_main(["--workspace", str(ws), "train", "list"]) == 0
    rows = [line.split()[:4] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows[0] == [str(victim.id), "victim", "p", "failed"]
    assert store.get(victim.id).error == f"trainer process disappeared (pid {trainer})"
    _wait(lambda: store.get(later.id).done, 60, "the queued job to run (only a revived worker would run it)")
    assert store.get(later.id).status == "failed" and "IsADirectoryError" in store.get(later.id).error
    store.close()


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


TOKEN_SUBMITTER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from autotrain_gradio.jobs import submit
    ws, name = Path(sys.argv[1]), sys.argv[2]
    print(submit(ws, name=name, profile="p", config_path=ws / "output" / name / "config.toml", max_concurrent=3).id)
""")


def test_each_trainer_sees_only_its_submitters_token(workspace, toy_data, monkeypatch):
    ws = workspace
    monkeypatch.setenv("HF_TOKEN", "hf_worker_owner_token")  # the worker starts with this one: no trainer gets it
    ensure_worker(ws)
    tokens = {"alice": "hf_alice_token_1", "bob": "hf_bob_token_2", "anon": ""}
    ids = {}
    for who, token in tokens.items():
        _config(ws, who, toy_data, max_steps=2000)
        env = {**os.environ, "HF_TOKEN": token}
        out = subprocess.run([sys.executable, "-c", TOKEN_SUBMITTER, str(ws), who], env=env, capture_output=True,
                             text=True, timeout=60, check=True).stdout
        ids[who] = int(out.split()[-1])
    store = JobStore(ws)
    pids = _wait(lambda: [store.get(i).pid for i in ids.values()] if all(store.get(i).pid for i in ids.values())
                 else None, 60, "three trainers to start")
    seen = {who: _environ(pid).get("HF_TOKEN") for who, pid in zip(ids, pids, strict=True)}
    assert seen == {"alice": "hf_alice_token_1", "bob": "hf_bob_token_2", "anon": None}
    for job_id in ids.values():
        cancel(ws, job_id, grace=3)
    stored = b"".join(p.read_bytes() for p in ws.rglob("*") if p.is_file())
    assert not any(t.encode() in stored for t in ("hf_alice_token_1", "hf_bob_token_2", "hf_worker_owner_token"))
    store.close()


def test_cancel_while_loading_ends_at_once_and_resume_starts_from_step_zero(workspace, toy_data):
    ws = workspace
    config = _config(ws, "early", toy_data, max_steps=4)
    job = submit(ws, name="early", profile="TinyImageClassification", config_path=config)
    store = JobStore(ws)
    # The trainer's first event comes before it imports torch and builds the model: cancel right then.
    _wait(lambda: store.get(job.id).pid and read_events(config.parent / "log" / "events.jsonl"), 60,
          "the trainer's first event")
    done = cancel(ws, job.id, grace=30)
    assert (done.status, done.exit_code) == ("cancelled", 143), done
    assert done.error == "cancelled before training (nothing to keep); resume starts it from step 0"
    assert done.last_step == 0 and not (config.parent / "checkpoints").exists()
    resume(ws, job.id)
    with open(os.devnull, "w") as sink:
        assert monitor_job(ws, job.id, sink, interval=0.5) == 0
    final = store.get(job.id)
    assert final.status == "completed" and final.last_step == 4
    starts = [e for e in read_events(final.events_path) if e["type"] == "start"]
    assert [e["step"] for e in starts] == [0]  # the cancelled run never started training
    with pytest.raises(JobError, match=f"job {job.id} early is completed: nothing to resume"):
        resume(ws, job.id)
    store.close()


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs to fill up; skipped where this process may not mount one (not root, no CAP_SYS_ADMIN)."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip() or made.returncode}")
    try:
        yield mount
    finally:
        for job in _jobs(mount):
            if job.status == "running" and pid_alive(job.pid, job.pid_start):
                os.killpg(job.pid, signal.SIGKILL)
        pid = worker_pid(mount)
        if pid:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_fails_the_job_with_the_reason_and_the_worker_lives_on(small_disk, toy_data):
    ws = small_disk
    job = submit(ws, name="full", profile="p", config_path=_config(ws, "full", toy_data, max_steps=5000))
    store = JobStore(ws)
    _wait(lambda: store.get(job.id).last_step >= 2, 120, "the trainer's first steps")
    worker = worker_pid(ws)
    with open(ws / "filler", "wb", buffering=0) as fh:  # the trainer's next events, the worker's log: no room
        for chunk in (1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * chunk)
    done = _wait(lambda: store.get(job.id).done and store.get(job.id), 120, "the job to end")
    assert done.status == "failed" and done.exit_code == 1, done
    assert f"the disk holding {done.output_dir} is full" in done.error
    # The worker that launched it, its own writes failing, freed its reserve and recorded the end itself.
    log = (ws / "logs" / "worker.log").read_text()
    assert f"worker {worker}: the disk is full: released the worker's reserve" in log
    assert f"worker {worker}: job {job.id} full: failed: trainer exited with code 1: the disk holding" in log
    (ws / "filler").unlink()
    again = submit(ws, name="after", profile="p", config_path=_fast_fail_config(ws, "after"))
    _wait(lambda: store.get(again.id).done, 60, "the next job to run")
    assert "IsADirectoryError" in store.get(again.id).error
    store.close()


@pytest.mark.slow
def test_a_cancel_during_the_final_samples_leaves_a_completed_job(workspace, tmp_path):
    from autotrain_gradio.demo import make_sample_dataset

    ws = workspace
    data = make_sample_dataset(tmp_path / "pics", count=2, size=32)
    assert cli_main(["--workspace", str(ws), "pipeline", "run", "--dataset-path", str(data), "--profile",
                     "TinyFluxLORA", "--set", "max_steps=2", "--set", "sample_every=0", "--set", "sample_steps=200",
                     "--set", "checkpoint_every=0"]) == 0
    store = JobStore(ws)
    job = store.list()[-1]
    _wait(lambda: any("model written to" in e.get("message", "") for e in read_events(job.events_path)), 240,
          "the model export")
    done = cancel(ws, job.id, grace=60)  # lands while the 200-step final samples render
    assert (done.status, done.exit_code, done.error) == ("completed", 0, ""), done
    events = read_events(done.events_path)
    assert events[-1]["type"] == "end" and events[-1]["outputs"]
    assert any(e.get("message") == "stopped during the final samples; the model was already written" for e in events)
    assert any((Path(done.output_dir) / "model").iterdir())
    with pytest.raises(JobError, match="is completed: nothing to resume"):
        resume(ws, job.id)
    store.close()
