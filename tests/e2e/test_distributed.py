"""One Trainer run over two processes (gloo on the CPU, launched by the queue's own launcher): TinyLLM SFT, a text
classifier and seq2seq complete, only rank 0 writes events, and the final weights equal a one-process run with the
same effective batch (2 processes x 1 row = 1 process x 2 rows). A two-process job cancelled through the queue
leaves a checkpoint of both ranks, refuses a resume with another process count, and resumes with the same one."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from autotrain_gradio.config import save_config
from autotrain_gradio.events import read_events
from autotrain_gradio.jobs import JobStore, cancel, resume, submit, worker_pid
from autotrain_gradio.pipeline.run import run_pipeline
from autotrain_gradio.tasks import load_config
from autotrain_gradio.train import run_in_process
from tests.e2e.test_jobs import _wait

WORDS = ["cat", "dog", "red", "blue", "sun", "sea"]


def _data(tmp_path: Path, profile: str) -> Path:
    if profile == "TinyLLM":
        rows = [{"messages": [{"role": "user", "content": f"say {w}"}, {"role": "assistant", "content": w}]}
                for w in WORDS * 4]
    elif profile == "TinySeq2Seq":
        # Targets of one length in tokens: a token mean over one batch of two equals the mean of two ranks' means.
        rows = [{"text": f"copy {w} {v}", "target": f"{v} {w}"} for w in WORDS[2:] for v in WORDS[2:]]
    else:
        rows = [{"text": f"a {w} and a {v}", "target": "pets" if w in ("cat", "dog") else "other"}
                for w in WORDS for v in WORDS[:4]]
    path = tmp_path / f"{profile.lower()}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _without_dropout(tmp_path: Path, profile: str) -> str:
    """The profile's tiny model with every dropout off (each rank draws its own masks, one process others): a copy
    whose config.json says 0.0 wherever it names a dropout."""
    from autotrain_gradio.profiles import get_profile
    from autotrain_gradio.tasks.tiny import resolve_model

    source = Path(resolve_model(get_profile(profile).config["base_model"]))
    target = tmp_path / "model"
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config.update({k: 0.0 for k, v in config.items() if "dropout" in k and isinstance(v, float)})
    (target / "config.json").write_text(json.dumps(config))
    return str(target)


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    name = "adapter_model.safetensors" if (model_dir / "adapter_model.safetensors").exists() else "model.safetensors"
    return load_file(str(model_dir / name))


def _settings(processes: int, **extra) -> dict:
    return {"num_processes": processes, "batch_size": 2 // processes, "max_steps": 4, "valid_split": 0.0,
            "learning_rate": 5e-3, "lr_scheduler": "constant", "warmup_ratio": 0.0, **extra}


@pytest.mark.parametrize("profile", ["TinyTextClassification", "TinySeq2Seq"])  # TinyLLM: the test below
def test_two_processes_train_like_one_with_the_same_effective_batch(tmp_path, profile):
    data, ws = _data(tmp_path, profile), tmp_path / "ws"
    model = {"base_model": _without_dropout(tmp_path, profile)}
    # The one-process reference, in this process (the same trainer code as a subprocess runs).
    ref = run_pipeline(str(data), profile, workspace=str(ws), dataset_name="one", quiet=True, in_process=True,
                       overrides=_settings(1, **model))
    assert ref.exit_code == 0, ref.phases[-1]
    # Two processes through the CLI's --immediate path: run_now -> spawn -> torchrun with two gloo ranks.
    two = run_pipeline(str(data), profile, workspace=str(ws), dataset_name="two", quiet=True, immediate=True,
                       monitor=False, overrides=_settings(2, **model))
    out = ws / "output" / "two"
    assert two.exit_code == 0, (out / "log" / "train.log").read_text()[-3000:]
    events = read_events(out / "log" / "events.jsonl")
    assert [e["type"] for e in events].count("start") == 1 and events[-1]["status"] == "completed"
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3, 4]  # rank 0's only: no doubles
    assert "rank 0 of 2" in events[0]["message"]
    assert "rank 1 of 2" in (out / "log" / "train.log").read_text()  # the other rank took part
    one, both = _weights(ws / "output" / "one" / "model"), _weights(out / "model")
    assert one.keys() == both.keys()
    for key in one:
        torch.testing.assert_close(both[key], one[key], atol=2e-3, rtol=2e-2, msg=key)
    assert JobStore(ws).get(two.job_id).num_gpus == 2


@pytest.fixture
def workspace(tmp_path):
    yield tmp_path / "ws"
    pid = worker_pid(tmp_path / "ws")
    if pid:
        os.kill(pid, signal.SIGKILL)


def test_a_two_process_llm_job_cancels_to_a_checkpoint_resumes_with_two_and_trains_like_one(tmp_path, workspace):
    ws, data = workspace, _data(tmp_path, "TinyLLM")  # TinyLLM has lora_dropout=0
    run_pipeline(str(data), "TinyLLM", workspace=str(ws), dataset_name="job", quiet=True, mode="prepare",
                 overrides=_settings(2, max_steps=5000))
    config = ws / "output" / "job" / "config.toml"
    job = submit(ws, name="job", profile="TinyLLM", config_path=config)  # the queue launches the two ranks
    store = JobStore(ws)
    _wait(lambda: store.get(job.id).last_step >= 2, 300, "the two-process job's first steps")
    done = cancel(ws, job.id, grace=120)
    assert done.status == "cancelled", done
    checkpoint = max((ws / "output" / "job" / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name[11:]))
    assert sorted(p.name for p in checkpoint.glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]
    step = int(checkpoint.name.removeprefix("checkpoint-"))

    # Another process count: one line saying which to use, before any training.
    cfg = load_config(config)
    save_config(cfg.model_copy(update={"num_processes": 1}), config)
    code, ctx = run_in_process(str(config), resume=True)
    assert code == 1 and ctx.extra["error"] == (f"ValueError: {checkpoint.name} was written by 2 processes and this "
                                                "run has 1: resume with num_processes=2 (the same GPUs count)")
    save_config(cfg.model_copy(update={"max_steps": step + 2}), config)
    resume(ws, job.id)
    _wait(lambda: store.get(job.id).done, 300, "the resumed job")
    final = store.get(job.id)
    assert final.status == "completed" and final.last_step == step + 2, final
    events = read_events(final.events_path)
    assert [e["step"] for e in events if e["type"] == "start"] == [0, step]  # it went on from the checkpoint
    assert [e["step"] for e in events if e["type"] == "step"] == list(range(1, step + 3))  # rank 0's only
    assert "rank 0 of 2" in events[0]["message"] and "rank 1 of 2" in final.log_path.read_text()
    store.close()

    # The same rows and steps in one process with both rows in each batch: the same adapter.
    ref = run_pipeline(str(data), "TinyLLM", workspace=str(ws), dataset_name="one", quiet=True, in_process=True,
                       overrides=_settings(1, max_steps=step + 2))
    assert ref.exit_code == 0, ref.phases[-1]
    one, both = _weights(ws / "output" / "one" / "model"), _weights(ws / "output" / "job" / "model")
    assert one.keys() == both.keys()
    for key in one:
        torch.testing.assert_close(both[key], one[key], atol=2e-3, rtol=2e-2, msg=key)
    assert max(t.abs().max().item() for k, t in one.items() if "lora_B" in k) > 1e-2  # it did train


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["fsdp", "deepspeed"])
def test_sharded_backends_checkpoint_and_resume_on_two_gpus(tmp_path, backend):
    """accelerate shards only over accelerators (on CPU ranks it would be DDP): two GPUs, and DeepSpeed installed."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    if backend == "deepspeed":
        pytest.importorskip("deepspeed", reason="pip install 'autotrain-gradio[deepspeed]'")
    from autotrain_gradio.jobs import run_now

    ws = tmp_path / "ws"
    settings = _settings(2, max_steps=2, checkpoint_every=2, distributed_backend=backend, mixed_precision="bf16")
    first = run_pipeline(str(_data(tmp_path, "TinyLLM")), "TinyLLM", workspace=str(ws), dataset_name="shard",
                         quiet=True, immediate=True, monitor=False, gpu_ids="0,1", overrides=settings)
    out = ws / "output" / "shard"
    assert first.exit_code == 0, (out / "log" / "train.log").read_text()[-3000:]
    events = read_events(out / "log" / "events.jsonl")
    assert any(e.get("message", "").startswith(f"{backend}: ") for e in events)  # the backend really ran
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    config = out / "config.toml"
    save_config(load_config(config).model_copy(update={"max_steps": 4}), config)
    job, code = run_now(ws, name="shard", profile="TinyLLM", config_path=config, gpu_ids=[0, 1], resume=True,
                        monitor=False)
    assert code == 0 and job.status == "completed", (out / "log" / "train.log").read_text()[-3000:]
    starts = [e["step"] for e in read_events(out / "log" / "events.jsonl") if e["type"] == "start"]
    assert starts == [0, 2]  # the sharded checkpoint was read back
