"""The job store and the scheduler's bookkeeping without trainers: FIFO claims within max-concurrent and free
GPUs, atomic claims from racing processes, requeue, how a job's end is settled (end event > exit code > vanished
pid), crash recovery of 'running' rows, process liveness (zombies, reused pids) and the trainer command."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from autotrain_gradio.events import EventWriter
from autotrain_gradio.gpus import visible_gpus
from autotrain_gradio.jobs import JobStore, Worker, cancel, settle, trainer_command
from autotrain_gradio.jobs.pids import pid_alive, pid_start_time


def _add(store: JobStore, name: str, tmp_path, **kw):
    out = tmp_path / "output" / name
    return store.add(name=name, profile="p", config_path=out / "config.toml", output_dir=out, **kw)


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path)
    yield s
    s.close()


def test_rows_round_trip_and_update_is_checked(store, tmp_path):
    job = _add(store, "a", tmp_path, gpu_ids=[1, 3], max_concurrent=2)
    assert (job.id, job.status, job.gpu_ids, job.assigned_gpus, job.max_concurrent) == (1, "queued", [1, 3], [], 2)
    assert job.events_path == tmp_path / "output" / "a" / "log" / "events.jsonl"
    assert store.update(job.id, last_step=7) and store.get(job.id).last_step == 7
    assert not store.update(job.id, where_status="running", last_step=9)
    with pytest.raises(ValueError, match="unknown job columns"):
        store.update(job.id, **{"status = 'x' --": 1})
    assert store.get(99) is None
    # WAL: readers never block the worker's writes.
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_claim_is_fifo_and_honours_max_concurrent(store, tmp_path):
    a, b, c = (_add(store, n, tmp_path, max_concurrent=2) for n in "abc")
    assert store.claim(None).id == a.id
    assert store.claim(None).id == b.id
    assert store.claim(None) is None  # two running: c waits
    assert store.finish(a.id, "completed")
    assert not store.finish(a.id, "failed")  # the first result stands
    assert store.get(a.id).status == "completed"
    assert store.claim(None).id == c.id


def test_claim_assigns_free_gpus_and_waits_for_busy_ones(store, tmp_path):
    a = _add(store, "a", tmp_path, max_concurrent=4)
    b = _add(store, "b", tmp_path, max_concurrent=4, num_gpus=2)
    pinned = _add(store, "pinned", tmp_path, max_concurrent=4, gpu_ids=[0])
    tail = _add(store, "tail", tmp_path, max_concurrent=4)
    gpus = [0, 1, 2]
    assert store.claim(gpus).assigned_gpus == [0]
    assert store.claim(gpus).assigned_gpus == [1, 2]
    assert store.claim(gpus) is None  # GPU 0 is busy: 'pinned' waits, and 'tail' may not jump ahead of it
    store.finish(a.id, "completed")
    assert store.claim(gpus).id == pinned.id
    store.finish(b.id, "completed")
    claimed = store.claim(gpus)
    assert claimed.id == tail.id and claimed.assigned_gpus == [1]


def _claimer(workspace: str, results) -> None:
    store = JobStore(workspace)
    got = []
    while (job := store.claim(None)) is not None:
        got.append(job.id)
    results.put(got)


def test_claims_from_racing_processes_take_each_job_exactly_once(store, tmp_path):
    for i in range(40):
        _add(store, f"j{i}", tmp_path, max_concurrent=100)
    ctx = multiprocessing.get_context("fork")  # fresh connections are opened in each child
    results = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(str(tmp_path), results)) for _ in range(4)]
    for p in procs:
        p.start()
    claimed = [i for _ in procs for i in results.get(timeout=60)]
    for p in procs:
        p.join(timeout=30)
    assert sorted(claimed) == list(range(1, 41))
    assert [j.status for j in store.list()] == ["running"] * 40


def test_requeue_only_ended_jobs_and_they_go_to_the_back(store, tmp_path):
    a = _add(store, "a", tmp_path, max_concurrent=5)
    _add(store, "b", tmp_path, max_concurrent=5)
    store.claim(None)
    assert not store.requeue(a.id)  # running
    store.finish(a.id, "cancelled")
    assert store.requeue(a.id)
    again = store.get(a.id)
    assert again.status == "queued" and again.resume and again.started is None and again.finished is None
    assert [j.name for j in store.queued()] == ["b", "a"]


def _running(store, tmp_path, name, **values):
    job = _add(store, name, tmp_path, max_concurrent=100)
    store.update(job.id, status="running", started=1.0, **values)
    return store.get(job.id)


def test_settle_prefers_the_end_event_of_this_run(store, tmp_path):
    job = _running(store, tmp_path, "a", pid=999999)
    events = EventWriter(job.events_path)
    events.emit("end", status="completed", error="", step=5)  # an earlier run of the same name
    store.update(job.id, events_offset=job.events_path.stat().st_size)
    events.emit("start", total_steps=10, step=0)
    events.emit("step", step=4, total=10, loss=0.5)
    events.emit("end", status="failed", error="ValueError: bad data", step=4)
    events.close()
    done = settle(store, store.get(job.id), exit_code=1)
    assert (done.status, done.error, done.exit_code, done.last_step, done.total_steps) == (
        "failed", "ValueError: bad data", 1, 4, 10)


def test_settle_without_an_end_event(store, tmp_path):
    crashed = _running(store, tmp_path, "crashed", pid=999999)
    crashed.log_path.parent.mkdir(parents=True)
    crashed.log_path.write_text("loading\nerror: config file not found: x.toml\n")
    done = settle(store, crashed, exit_code=2)
    assert done.status == "failed"
    assert done.error.startswith("trainer exited with code 2: error: config file not found: x.toml (see ")

    vanished = _running(store, tmp_path, "vanished", pid=999999)
    assert settle(store, vanished).error == "trainer process disappeared (pid 999999)"

    killed = _running(store, tmp_path, "killed", pid=999999, cancel_requested=5.0, kill_grace=2.0)
    done = settle(store, killed, exit_code=-9)
    assert done.status == "cancelled" and done.error == "killed after the 2 s grace period, before a checkpoint"


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_pid_liveness_sees_zombies_and_reused_pids(sleeper):
    start = pid_start_time(sleeper.pid)
    assert start is not None and pid_alive(sleeper.pid, start)
    assert not pid_alive(sleeper.pid, start + 1)  # same pid, another process
    os.kill(sleeper.pid, signal.SIGKILL)
    time.sleep(0.2)
    assert not pid_alive(sleeper.pid)  # a zombie until reaped: not alive
    sleeper.wait()
    assert not pid_alive(sleeper.pid) and not pid_alive(None)


def test_recover_reattaches_live_settles_dead_and_requeues_unlaunched(store, tmp_path, sleeper):
    live = _running(store, tmp_path, "live", pid=sleeper.pid, pid_start=pid_start_time(sleeper.pid))
    reused = _running(store, tmp_path, "reused", pid=sleeper.pid, pid_start=pid_start_time(sleeper.pid) - 1)
    dead = _running(store, tmp_path, "dead", pid=999999)
    ended = _running(store, tmp_path, "ended", pid=999999)
    writer = EventWriter(ended.events_path)
    writer.emit("end", status="cancelled", error="", step=3)
    writer.close()
    unlaunched = _running(store, tmp_path, "unlaunched")

    worker = Worker(tmp_path)
    worker.recover()
    assert list(worker.attached) == [live.id]
    assert store.get(live.id).status == "running"
    assert store.get(reused.id).error == f"trainer process disappeared (pid {sleeper.pid})"
    assert store.get(dead.id).error == "trainer process disappeared (pid 999999)"
    assert store.get(ended.id).status == "cancelled"
    assert store.get(unlaunched.id).status == "queued"

    # Cancelling the re-attached job signals its process group; the settle records it cancelled.
    job = cancel(tmp_path, live.id, grace=5)
    assert job.status == "cancelled" and job.error == "" and sleeper.wait(timeout=5) == -signal.SIGTERM
    worker.store.close()


def test_cancel_of_a_queued_job_just_marks_it(store, tmp_path):
    job = _add(store, "a", tmp_path)
    done = cancel(tmp_path, job.id)
    assert done.status == "cancelled" and done.error == "cancelled before it started" and done.pid is None


def test_trainer_command_and_visible_gpus(monkeypatch):
    assert trainer_command("c.toml") == [sys.executable, "-m", "autotrain_gradio.train", "--config", "c.toml"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    assert trainer_command("c.toml", num_processes=2, resume=True) == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "autotrain_gradio.train", "--config", "c.toml", "--resume"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == [0, 1]
    assert trainer_command("c.toml", num_processes=2)[:8] == [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--main_process_port", "0"]  # a free port: two jobs starting together must not both take 29500


def test_jobs_have_owners_and_an_old_store_gains_the_column(tmp_path):
    import sqlite3

    from autotrain_gradio.workspace import jobs_db

    db = jobs_db(tmp_path)
    db.parent.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(db)  # a store from before owners: same table without the column
    old.executescript("CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, profile TEXT NOT"
                      " NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'queued', gpu_ids TEXT, assigned_gpus TEXT NOT"
                      " NULL DEFAULT '[]', num_gpus INTEGER NOT NULL DEFAULT 1, max_concurrent INTEGER NOT NULL"
                      " DEFAULT 1, pid INTEGER, pid_start INTEGER, config_path TEXT NOT NULL, output_dir TEXT NOT NULL,"
                      " resume INTEGER NOT NULL DEFAULT 0, events_offset INTEGER NOT NULL DEFAULT 0, created REAL NOT"
                      " NULL, queued_at REAL NOT NULL, started REAL, finished REAL, last_step INTEGER NOT NULL DEFAULT"
                      " 0, total_steps INTEGER NOT NULL DEFAULT 0, exit_code INTEGER, error TEXT NOT NULL DEFAULT '',"
                      " cancel_requested REAL, kill_grace REAL NOT NULL DEFAULT 30);"
                      "INSERT INTO jobs (name, config_path, output_dir, created, queued_at) VALUES ('old', 'c', 'o', 1,"
                      " 1);")
    old.commit()
    old.close()
    store = JobStore(tmp_path)
    try:
        assert store.get(1).owner == ""
        assert (store.get(1).backend, store.get(1).options, store.get(1).secrets_id) == ("local", {}, None)
        alice = _add(store, "a", tmp_path, owner="alice")
        _add(store, "b", tmp_path, owner="bob")
        assert [j.name for j in store.list_owned("alice")] == ["a"] and store.get(alice.id).owner == "alice"
        assert [j.name for j in store.list_owned("")] == ["old"]
    finally:
        store.close()


def test_max_concurrent_belongs_to_each_backend_queue(store, tmp_path):
    assert store.max_concurrent("local") == store.max_concurrent("ray") == 1
    a, b = _add(store, "a", tmp_path, max_concurrent=2), _add(store, "b", tmp_path)  # b keeps the queue's 2
    r1, r2 = (_add(store, n, tmp_path, backend="ray") for n in ("r1", "r2"))
    assert store.max_concurrent("local") == 2 and store.max_concurrent("ray") == 1
    assert [store.claim(None).id, store.claim(None).id, store.claim(None)] == [a.id, b.id, None]
    assert store.claim(None, "ray").id == r1.id and store.claim(None, "ray") is None  # its own limit, its own count
    store.set_max_concurrent("ray", 2)
    again = store.claim(None, "ray", launch_key="k2")
    assert (again.id, again.launch_key) == (r2.id, "k2")
    with pytest.raises(ValueError, match="backend must be one of local, ray, hf-jobs"):
        _add(store, "x", tmp_path, backend="slurm")


def test_a_trainer_launched_by_a_crashed_worker_is_found_by_its_launch_key_not_launched_again(store, tmp_path):
    from autotrain_gradio.jobs.pids import LAUNCH_KEY_VAR

    job = _add(store, "a", tmp_path)
    claimed = store.claim(None, launch_key="k-crash")
    assert claimed.id == job.id and claimed.pid is None  # the worker died after spawning, before recording
    trainer = subprocess.Popen(["sleep", "60"], start_new_session=True,
                               env={**os.environ, LAUNCH_KEY_VAR: "k-crash"})
    try:
        worker = Worker(tmp_path)
        worker.recover()
        found = store.get(job.id)
        assert found.status == "running" and found.pid == trainer.pid and list(worker.attached) == [job.id]
        assert store.claim(None) is None  # nothing to launch a second time
        worker.store.close()
    finally:
        os.killpg(trainer.pid, signal.SIGKILL)
        trainer.wait()
