"""Per-job secrets, event relaying and the remote backends' job specs, without a cluster: the secrets hand-over
over a real Unix socket, the trainer environment (the job's token, never the worker's), tagged event lines turned
back into events.jsonl, the exact Ray submission and HF Jobs spec (checked against huggingface_hub's own payload
builder; the HF Jobs service itself is not reachable here), and the request rules for backends."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from autotrain_gradio.config import ConfigError, save_config
from autotrain_gradio.events import EVENT_TAG, read_events
from autotrain_gradio.jobs import JobStore
from autotrain_gradio.jobs.launch import trainer_env
from autotrain_gradio.jobs.pids import LAUNCH_KEY_VAR
from autotrain_gradio.jobs.runs import relay_events
from autotrain_gradio.jobs.secrets import SecretInbox, hand_over
from autotrain_gradio.pipeline.request import make_request
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig


def test_secrets_reach_the_worker_in_memory_over_a_private_socket(tmp_path):
    assert not hand_over(tmp_path, "x", {"HF_TOKEN": "hf_a"})  # no worker listening: the submitter retries
    inbox = SecretInbox(tmp_path)
    try:
        assert stat.S_IMODE(inbox.path.stat().st_mode) == 0o600
        sender = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; "
                                   "from autotrain_gradio.jobs.secrets import hand_over; "
                                   "sys.exit(0 if hand_over(Path(sys.argv[1]), 'id1', {'HF_TOKEN': 'hf_a'}) else 1)",
                                   str(tmp_path)])
        for _ in range(200):  # the worker's loop: take hand-overs until the sender has its answer
            inbox.receive()
            if sender.poll() is not None:
                break
            time.sleep(0.05)
        assert sender.wait(timeout=10) == 0
        inbox.receive()
        assert inbox.pop("id1") == {"HF_TOKEN": "hf_a"} and inbox.pop("id1") is None  # handed out once
    finally:
        inbox.close()
    assert not inbox.path.exists()
    assert not any(b"hf_a" in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_a_queued_trainer_gets_its_own_secrets_and_never_the_workers(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_worker")
    monkeypatch.setenv("WANDB_API_KEY", "wandb_worker")
    env = trainer_env(None, secrets={"HF_TOKEN": "hf_alice"}, launch_key="k1")
    assert env["HF_TOKEN"] == "hf_alice" and "WANDB_API_KEY" not in env and env[LAUNCH_KEY_VAR] == "k1"
    assert "HF_TOKEN" not in trainer_env(None, secrets={})  # a job submitted without a token runs without one
    assert trainer_env(None)["HF_TOKEN"] == "hf_worker"  # the foreground path: the caller is the submitter


def test_tagged_event_lines_are_relayed_into_events_jsonl_once(tmp_path):
    events = tmp_path / "log" / "events.jsonl"
    start = {"t": 1.0, "type": "start", "total_steps": 4, "step": 0}
    step = {"t": 2.0, "type": "step", "step": 1, "total": 4, "loss": 0.5}
    log = f"loading\n{EVENT_TAG}{json.dumps(start)}\nnoise\n{EVENT_TAG}{json.dumps(step)}\n{EVENT_TAG}{{\"t\": 3"
    seen = relay_events(log, events, 0)
    assert seen == 2 and read_events(events) == [start, step]  # the torn last line waits
    end = {"t": 3.0, "type": "end", "status": "completed"}
    log = log.rsplit(EVENT_TAG, 1)[0] + EVENT_TAG + json.dumps(end) + "\n"
    assert relay_events(log, events, seen) == 3 and read_events(events) == [start, step, end]


@pytest.fixture
def queued(tmp_path):
    out = tmp_path / "output" / "cats"
    data = tmp_path / "input" / "cats"
    data.mkdir(parents=True)
    cfg = ImageClassificationConfig(name="cats", base_model="tiny:vit", data_dir=str(data), output_dir=str(out))
    config = save_config(cfg, out / "config.toml")
    store = JobStore(tmp_path)
    job = store.add(name="cats", profile="p", config_path=config, output_dir=out, backend="hf-jobs",
                    options={"flavor": "l4x1"}, kill_grace=45)
    store.update(job.id, launch_key="k7")
    yield store, store.get(job.id)
    store.close()


def test_the_hf_jobs_spec_is_what_run_job_would_send(queued):
    from huggingface_hub import JobHardware
    from huggingface_hub._jobs_api import _create_job_spec

    from autotrain_gradio.jobs.backends.hf_jobs import job_spec, remote_config

    _, job = queued
    spec = job_spec(job, user="alice", secrets={"HF_TOKEN": "hf_alice"})
    payload = _create_job_spec(**spec)  # huggingface_hub's own builder: what POST /api/jobs/alice receives
    assert payload["flavor"] == "l4x1" == JobHardware("l4x1")
    assert payload["secrets"] == {"HF_TOKEN": "hf_alice"} and "hf_alice" not in json.dumps(payload["environment"])
    assert payload["environment"]["AUTOTRAIN_EVENT_LINES"] == "1"
    assert payload["volumes"] == [{"type": "dataset", "source": "alice/autotrain-data-cats", "mountPath": "/data"}]
    assert payload["labels"] == {"autotrain-job": str(job.id), "autotrain-launch": "k7", "name": "autotrain-cats"}
    assert payload["timeoutSeconds"] == 6 * 3600 and payload["dockerImage"].startswith("pytorch/pytorch:")
    script = payload["command"][2]
    assert "python -m autotrain_gradio.train --config /tmp/autotrain/config.toml" in script
    config = remote_config(job, "alice/cats")
    assert 'data_dir = "/data/data"' in config and "push_to_hub = true" in config
    assert 'hub_repo_id = "alice/cats"' in config and 'output_dir = "/tmp/autotrain/cats"' in config


def test_the_ray_submission_carries_the_package_the_job_token_and_the_grace(queued, monkeypatch):
    from autotrain_gradio.jobs.backends.ray import submission

    store, job = queued
    monkeypatch.setenv("HF_TOKEN", "hf_worker")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store.update(job.id, backend="ray", options={"num_gpus": 2}, resume=True)
    spec = submission(store.get(job.id), {"HF_TOKEN": "hf_bob"}, "autotrain-1-k7")
    assert spec["entrypoint"] == ("python -m accelerate.commands.launch --multi_gpu --num_processes 2 -m "
                                  f"autotrain_gradio.train --config {job.config_path} --resume")
    assert (spec["submission_id"], spec["entrypoint_num_gpus"], spec["entrypoint_num_cpus"]) == ("autotrain-1-k7",
                                                                                                2, 1)
    env = spec["runtime_env"]["env_vars"]
    assert env["HF_TOKEN"] == "hf_bob" and env["RAY_JOB_STOP_WAIT_TIME_S"] == "45" and env["HF_HUB_OFFLINE"] == "1"
    assert spec["runtime_env"]["py_modules"][0].endswith(os.sep + "autotrain_gradio")


def test_backend_request_rules():
    with pytest.raises(ConfigError, match="immediate runs the trainer here in the foreground; with backend ray"):
        make_request(profile="p", backend="ray", immediate=True)
    with pytest.raises(ConfigError, match="ray_address is for backend ray, but backend is local; add --backend ray"):
        make_request(profile="p", ray_address="http://127.0.0.1:8265")
    with pytest.raises(ConfigError, match="backend: Input should be 'local', 'ray' or 'hf-jobs'"):
        make_request(profile="p", backend="slurm")
    req = make_request(profile="p", backend="ray", ray_address="http://h:8265", max_concurrent=3)
    assert req.backend_options == {"ray_address": "http://h:8265", "flavor": None, "num_nodes": None}
    assert req.max_concurrent == 3
    with pytest.raises(ConfigError, match=r"num_nodes=2 runs one job over Ray Train workers, but backend is local; "
                       r"add --backend ray \(or num_processes=N for one machine\)"):
        make_request(profile="p", overrides=["num_nodes=2"])
    with pytest.raises(ConfigError, match="runs one rank per Ray Train worker, a GPU each with --gpu-ids 0, but "
                       "--gpu-ids is 0,1; for more GPUs raise num_nodes"):
        make_request(profile="p", backend="ray", num_nodes=2, gpu_ids="0,1")
    req = make_request(profile="p", backend="ray", overrides=["num_nodes=2", "max_steps=3"])  # --set num_nodes=2
    assert req.num_nodes == 2 and req.overrides == {"max_steps": 3} and req.backend_options["num_nodes"] == 2


def test_a_ray_job_with_num_nodes_runs_the_ray_train_driver_which_holds_no_cpu(queued):
    from autotrain_gradio.jobs.backends.ray import submission

    store, job = queued
    store.update(job.id, backend="ray", options={"num_nodes": 3, "num_gpus": 1})
    spec = submission(store.get(job.id), {}, "autotrain-1-k7")
    assert spec["entrypoint"] == ("python -m autotrain_gradio.jobs.backends.ray_train --workers 3 --config "
                                  f"{job.config_path} --gpus")
    assert (spec["entrypoint_num_cpus"], spec["entrypoint_num_gpus"]) == (0, 0)  # the workers ask for them


def test_event_lines_a_ray_train_worker_prints_are_relayed_through_rays_prefix(tmp_path):
    events = tmp_path / "events.jsonl"
    step = {"t": 2.0, "type": "step", "step": 1, "total": 4, "loss": 0.5}
    log = f"\x1b[36m(RayTrainWorker pid=12582)\x1b[0m {EVENT_TAG}{json.dumps(step)}\n(RayTrainWorker pid=1) noise\n"
    assert relay_events(log, events, 0) == 1 and read_events(events) == [step]
