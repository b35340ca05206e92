"""The queue on a real Ray cluster: a local head (`ray start --head`, 2 CPUs, its own temp dir, dashboard on
127.0.0.1) started once for this module and stopped at the end, and the real trainer on the tiny ViT submitted
through Ray's Job Submission API by the detached worker.

Two jobs complete with their events, log and model where the app looks (the workspace is the cluster's shared
filesystem here: one machine); a third is cancelled through Ray and leaves its checkpoint; `--backend ray` with no
cluster says so in one line.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from autotrain_gradio.cli import main as cli_main
from autotrain_gradio.events import read_events
from autotrain_gradio.jobs import JobError, JobStore, cancel, submit, worker_pid
from autotrain_gradio.jobs.pids import pid_alive

pytest.importorskip("ray.job_submission", reason="Ray is an optional extra: pip install -e '.[ray]'")
pytestmark = pytest.mark.slow

from tests.e2e.test_jobs import _config, _wait  # noqa: E402 - the same tiny jobs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory, tiny_cache):
    """http://127.0.0.1:<dashboard port> of a fresh head. Stopped by signalling the process group its
    `ray start` created (every Ray process of this head and nothing else; `ray stop` would stop any Ray of
    this user on the machine)."""
    if shutil.which("ray") is None:
        pytest.skip("the `ray` command is not installed")
    temp = Path(f"/tmp/rt{os.getpid()}")  # Ray's socket paths must stay short
    dashboard = _free_port()
    # RAY_AUTH_MODE: a token in ~/.ray (left by any local ray.init()) would otherwise turn on token auth for this
    # head, which the job client here does not send.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "RAY_AUTH_MODE": "disabled"}
    start = subprocess.Popen(
        ["ray", "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(_free_port()), "--num-cpus",
         "2", "--temp-dir", str(temp), "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
         "--dashboard-port", str(dashboard), "--disable-usage-stats"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True, text=True)
    try:
        out = start.communicate(timeout=180)[0]
        assert start.returncode == 0, out
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        for sig, pause in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 1.0)):
            try:
                os.killpg(start.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(pause)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def workspace(tmp_path):
    yield tmp_path
    pid = worker_pid(tmp_path)
    if pid:
        os.kill(pid, signal.SIGKILL)


def test_two_jobs_complete_on_ray_and_a_third_is_cancelled_with_its_checkpoint(ray_head, workspace, toy_data,
                                                                                 capsys):
    ws = workspace
    first = submit(ws, name="ray0", profile="TinyImageClassification", backend="ray", max_concurrent=3,
                   config_path=_config(ws, "ray0", toy_data, max_steps=6), options={"ray_address": ray_head})
    # The second through the CLI, as a user would: the flags come from RunRequest.
    assert cli_main(["--workspace", str(ws), "pipeline", "run", "--dataset-path", str(toy_data), "--profile",
                     "TinyImageClassification", "--dataset-name", "ray1", "--backend", "ray", "--ray-address",
                     ray_head, "--set", "max_steps=6", "--set", "valid_split=0.0"]) == 0
    assert "queued as job 2 on ray" in capsys.readouterr().out
    jobs = [first, JobStore(ws).get(2)]
    long = submit(ws, name="raylong", profile="TinyImageClassification", backend="ray",
                  config_path=_config(ws, "raylong", toy_data, max_steps=3000), options={"ray_address": ray_head})
    store = JobStore(ws)
    _wait(lambda: store.get(long.id).last_step >= 2, 240, "the third job's first steps on Ray")
    remote_id = store.get(long.id).remote_id
    assert remote_id and remote_id.startswith(f"autotrain-{long.id}-")
    done = cancel(ws, long.id, grace=60)
    assert done.status == "cancelled", done
    assert list((Path(done.output_dir) / "checkpoints").glob("checkpoint-*")), "cancel through Ray checkpoints"

    _wait(lambda: all(store.get(j.id).done for j in jobs), 240, "both jobs to finish")
    for job in jobs:
        final = store.get(job.id)
        assert final.status == "completed" and final.last_step == final.total_steps == 6, final
        events = read_events(final.events_path)
        assert [e["type"] for e in events][-1] == "end" and events[-1]["status"] == "completed"
        assert final.finished == events[-1]["t"]  # the job's finish time is its trainer's end time
        assert (Path(final.output_dir) / "model" / "config.json").is_file()
        log = final.log_path.read_text()  # Ray's log of the run, mirrored into train.log
        assert f"Running entrypoint for job {final.remote_id}" in log and "model saved to" in log
    assert cli_main(["--workspace", str(ws), "train", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [(r[1], r[3]) for r in rows] == [("ray0", "completed"), ("ray1", "completed"), ("raylong", "cancelled")]
    _wait(lambda: worker_pid(ws) is None, 30, "the idle worker to exit")
    assert not pid_alive(worker_pid(ws))
    store.close()


def test_ray_backend_without_a_cluster_is_one_clear_error_and_nothing_is_written(workspace, toy_data, capsys):
    with pytest.raises(JobError, match=r"no Ray cluster answers at http://127\.0\.0\.1:9"):
        submit(workspace, name="x", profile="p", backend="ray", config_path=_config(workspace, "x", toy_data),
               options={"ray_address": "http://127.0.0.1:9"})
    assert JobStore(workspace).list() == []
    ws = workspace / "ws"
    assert cli_main(["--workspace", str(ws), "pipeline", "run", "--dataset-path", str(toy_data), "--profile",
                     "TinyImageClassification", "--backend", "ray", "--ray-address", "http://127.0.0.1:9"]) == 2
    assert "no Ray cluster answers at http://127.0.0.1:9" in capsys.readouterr().out
    assert not ws.exists() or not any((ws / "input").glob("*"))


def test_one_tinyllm_job_on_two_ray_train_workers_cancels_to_a_checkpoint_and_resumes(ray_head, workspace, capsys):
    """`--backend ray --set num_nodes=2`: a TorchTrainer with two workers (one CPU each: the head's two) runs the
    trainer on both ranks; a cancel through Ray reaches them through the stop actor and leaves both ranks'
    checkpoint; a resume with the same two workers goes on from it and completes."""
    import json

    ws = workspace
    data = ws / "chat.jsonl"
    ws.mkdir(exist_ok=True)
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"say {w}"},
                                                     {"role": "assistant", "content": w}]}) + "\n"
                            for w in ["cat", "dog", "red", "blue", "sun", "sea"] * 4))
    assert cli_main(["--workspace", str(ws), "pipeline", "run", "--dataset-path", str(data), "--profile", "TinyLLM",
                     "--dataset-name", "rt", "--backend", "ray", "--ray-address", ray_head, "--set", "num_nodes=2",
                     "--set", "max_steps=5000", "--set", "valid_split=0.0", "--set", "batch_size=1"]) == 0
    assert "queued as job 1 on ray" in capsys.readouterr().out
    store = JobStore(ws)
    job = store.get(1)
    assert job.options["num_nodes"] == 2
    _wait(lambda: store.get(job.id).last_step >= 2, 300, "the two workers' first steps")
    done = cancel(ws, job.id, grace=120)
    assert done.status == "cancelled", done
    checkpoint = max((Path(done.output_dir) / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name[11:]))
    assert sorted(p.name for p in checkpoint.glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]
    step = int(checkpoint.name.removeprefix("checkpoint-"))

    from autotrain_gradio.config import save_config
    from autotrain_gradio.jobs import resume
    from autotrain_gradio.tasks import load_config

    cfg = load_config(job.config_path)
    save_config(cfg.model_copy(update={"max_steps": step + 2}), job.config_path)
    resume(ws, job.id)
    _wait(lambda: store.get(job.id).done, 300, "the resumed two-worker job")
    final = store.get(job.id)
    assert final.status == "completed" and final.last_step == step + 2, final
    events = read_events(final.events_path)
    assert [e["step"] for e in events if e["type"] == "start"] == [0, step]  # it went on from the checkpoint
    assert [e["step"] for e in events if e["type"] == "step"] == list(range(1, step + 3))  # rank 0's only
    firsts = [e["message"] for e in events if e["type"] == "log" and "trainer pid" in e.get("message", "")]
    assert len(firsts) == 2 and all("rank 0 of 2 (Ray Train worker" in m for m in firsts), firsts
    assert "rank 1 of 2 (Ray Train worker" in final.log_path.read_text()  # the resumed run's Ray log
    assert (Path(final.output_dir) / "model" / "adapter_config.json").is_file()
    store.close()
