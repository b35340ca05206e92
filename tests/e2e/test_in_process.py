"""In-process training (issue 16) through `run_pipeline(..., in_process=True)`: the trained model comes back in the
result and equals what was saved; the LoRA file is byte-identical to a subprocess run's; events and the job row have
the same shape; a cancel through the job store leaves a checkpoint; accelerate's process-wide state does not leak
between runs; a ZeroGPU-shaped run (grants of limited duration, the decorator replaced by a plain call held to the
same limit) checkpoints before each grant ends and finishes with the weights of one uninterrupted run."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from autotrain_gradio import jobs
from autotrain_gradio.demo import make_sample_dataset
from autotrain_gradio.events import read_events
from autotrain_gradio.pipeline import run_pipeline

LORA = "model/pytorch_lora_weights.safetensors"
QUICK = {"sample_every": 0, "export_formats": ["diffusers"], "checkpoint_every": 0}


@pytest.fixture
def one_thread(monkeypatch):
    """The same thread count here and in trainer subprocesses, so both compute the same floats."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _flux(ws: Path, data: Path, name: str = "toy", **options):
    settings = {**QUICK, "max_steps": 4, **options.pop("overrides", {})}
    return run_pipeline(data, "TinyFluxLORA", workspace=str(ws), dataset_name=name, overrides=settings, quiet=True,
                        **options)


def _shape(events: list[dict]) -> list[tuple[str, tuple[str, ...]]]:
    return [(e["type"], tuple(sorted(e))) for e in events]


def _job(ws: Path, job_id: int) -> jobs.Job:
    store = jobs.JobStore(ws)
    try:
        return store.get(job_id)
    finally:
        store.close()


def test_flux_lora_in_process_equals_a_subprocess_run(tmp_path, one_thread):
    from peft.utils import get_peft_model_state_dict

    data, ws = make_sample_dataset(tmp_path / "photos", count=4, size=32), tmp_path / "ws"
    out = ws / "output" / "toy"
    sub = _flux(ws, data, immediate=True, monitor=False)
    assert sub.exit_code == 0, sub.phases[-1]
    sub_bytes, sub_events = (out / LORA).read_bytes(), read_events(out / "log" / "events.jsonl")
    sub_job = _job(ws, sub.job_id)

    here = _flux(ws, data, in_process=True, force=True)  # same paths, so the same config digest in the metadata
    assert here.exit_code == 0 and here.ok, here.phases[-1]
    assert (out / LORA).read_bytes() == sub_bytes
    assert here.outputs["diffusers"] == str(out / LORA)

    # The returned denoiser is the trained one: its adapter is the file's, tensor for tensor.
    saved = load_file(out / LORA)
    live = get_peft_model_state_dict(here.model)
    assert len(live) == len(saved) > 0
    for key, value in live.items():
        assert torch.equal(value.detach().cpu(), saved[f"transformer.{key}"]), key

    here_events = read_events(out / "log" / "events.jsonl")
    assert _shape(here_events) == _shape(sub_events)
    assert here_events[-1]["status"] == "completed" and here_events[-1]["outputs"] == sub_events[-1]["outputs"]
    job = _job(ws, here.job_id)
    assert (job.status, job.exit_code, job.last_step, job.total_steps, job.error) == \
        (sub_job.status, sub_job.exit_code, sub_job.last_step, sub_job.total_steps, sub_job.error) == \
        ("completed", 0, 4, 4, "")
    assert job.in_process and not sub_job.in_process and job.pid == os.getpid()


def test_image_classifier_in_process_then_another_precision(tmp_path, one_thread):
    """The returned classifier is the saved one; afterwards a notebook can use accelerate with another precision,
    and a second run with another precision trains in the same interpreter."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from PIL import Image
    from transformers import AutoModelForImageClassification

    data = tmp_path / "colours"
    for name, rgb in {"red": (220, 30, 30), "blue": (30, 40, 220)}.items():
        (data / name).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (32, 32), tuple(min(255, c + 4 * i) for c in rgb)).save(data / name / f"{i}.png")
    ws = tmp_path / "ws"
    first = run_pipeline(data, "TinyImageClassification", workspace=str(ws), in_process=True, quiet=True,
                         overrides={"max_steps": 3, "eval_every_epoch": False})
    assert first.exit_code == 0, first.phases[-1]
    model_dir = Path(first.outputs["model"])
    saved = AutoModelForImageClassification.from_pretrained(model_dir).state_dict()
    live = first.model.state_dict()
    assert live.keys() == saved.keys()
    for key in saved:
        assert torch.equal(live[key].cpu(), saved[key]), key
    assert type(first.processor).__name__.endswith("ImageProcessor") or "ImageProcessor" in type(first.processor)\
        .__name__
    assert first.model.config.id2label == {0: "blue", 1: "red"}

    assert not AcceleratorState._shared_state  # nothing of the run's precision is left behind ...
    Accelerator(mixed_precision="bf16", cpu=True)  # ... so the notebook's own accelerate use may pick another
    second = run_pipeline(data, "TinyImageClassification", workspace=str(ws), dataset_name="again", in_process=True,
                          quiet=True, overrides={"max_steps": 2, "eval_every_epoch": False, "mixed_precision": "bf16"})
    assert second.exit_code == 0, second.phases[-1]
    assert second.model is not first.model and _job(ws, second.job_id).status == "completed"


@pytest.mark.gpu
def test_two_in_process_runs_with_different_precisions_on_gpu(tmp_path):
    data, ws = make_sample_dataset(tmp_path / "photos", count=4, size=32), tmp_path / "ws"
    dtypes = []
    for precision in ("bf16", "fp16"):
        result = _flux(ws, data, name=precision, in_process=True, overrides={"mixed_precision": precision})
        assert result.exit_code == 0, result.phases[-1]
        frozen = next(p for n, p in result.model.named_parameters() if "lora_" not in n)
        dtypes.append(frozen.dtype)
    assert dtypes == [torch.bfloat16, torch.float16]


def test_cancel_through_the_job_store_leaves_a_checkpoint(tmp_path, one_thread):
    data, ws = make_sample_dataset(tmp_path / "photos", count=4, size=32), tmp_path / "ws"
    events_path = ws / "output" / "toy" / "log" / "events.jsonl"
    cancelled: list[jobs.Job] = []

    def cancel_after_step_3() -> None:  # what `autotrain train cancel` or the Jobs tab does, from elsewhere
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if events_path.is_file() and any(e["type"] == "step" and e["step"] >= 3 for e in read_events(events_path)):
                store = jobs.JobStore(ws)
                job_id = store.list("running")[0].id
                store.close()
                cancelled.append(jobs.cancel(ws, job_id, wait=False))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=cancel_after_step_3)
    watcher.start()
    result = _flux(ws, data, in_process=True, overrides={"max_steps": 10_000})
    watcher.join(timeout=60)
    assert cancelled and result.exit_code == 143, result.phases[-1]
    events = read_events(events_path)
    end, checkpoint = events[-1], [e for e in events if e["type"] == "checkpoint"][-1]
    assert end["type"] == "end" and end["status"] == "cancelled" and end["step"] >= 3
    assert checkpoint["step"] == end["step"] and (Path(checkpoint["path"]) / "state.json").is_file()
    job = _job(ws, result.job_id)
    assert job.status == "cancelled" and job.exit_code == 143 and job.last_step == end["step"]
    assert not (ws / "output" / "toy" / LORA).exists()  # a cancelled run exports nothing


def test_zerogpu_shaped_grants_resume_to_the_uninterrupted_weights(tmp_path, one_thread):
    from autotrain_gradio.jobs.inprocess import run_in_grants, timed_grant

    data, ws = make_sample_dataset(tmp_path / "photos", count=4, size=32), tmp_path / "ws"
    out = ws / "output" / "toy"

    def timings() -> tuple[float, float, float]:
        """(load, stepping, export) seconds of the last run in `out`, from its events."""
        ev = read_events(out / "log" / "events.jsonl")
        first = next(e["t"] for e in ev if e["type"] == "log")
        start = next(e["t"] for e in ev if e["type"] == "start")
        step_times = [e["t"] for e in ev if e["type"] == "step"]
        end = next(e["t"] for e in ev if e["type"] == "end")
        return start - first, step_times[-1] - start, end - step_times[-1]

    # Calibrate on this machine as it is now (quiet or busy): a warm-up run (imports, the tiny model's build)
    # measures the step time; the run proper then has enough steps that training, not loading, fills the grants.
    calibrate = _flux(ws, data, in_process=True, overrides={"max_steps": 40, "learning_rate": 2e-3})
    assert calibrate.exit_code == 0, calibrate.phases[-1]
    _, stepping, _ = timings()
    steps = {"max_steps": int(min(2000, max(160, 40 * 12 / max(stepping, 1e-3)))), "learning_rate": 2e-3}
    whole = _flux(ws, data, in_process=True, force=True, overrides=steps)  # same name: it is the trigger word
    assert whole.exit_code == 0, whole.phases[-1]
    reference = load_file(out / LORA)
    # Each grant has room for its (warm) loading, about half the steps, and the checkpoint or export at its end.
    load, stepping, export = timings()
    duration = max(3, round(load + 0.5 * stepping + 2 * export + 1))
    prepared = _flux(ws, data, mode="prepare", force=True, overrides=steps)
    durations: list[float] = []

    def grant(fn, seconds):  # the decorator replaced by a plain call held to the same limit, timed
        began = time.monotonic()
        try:
            return timed_grant(fn, seconds)
        finally:
            durations.append(time.monotonic() - began)

    done = run_in_grants(ws, name="toy", profile="TinyFluxLORA", config_path=prepared.config_path,
                         duration=duration, margin=2 * export + 0.5, call=grant)
    assert done.exit_code == 0 and done.job.status == "completed", done.job.error
    assert done.grants == len(durations) >= 2 and max(durations) <= duration, (durations, stepping)

    events = read_events(out / "log" / "events.jsonl")
    starts = [e["step"] for e in events if e["type"] == "start"]
    checkpoints = [e["step"] for e in events if e["type"] == "checkpoint"]
    assert len(starts) == done.grants and starts[0] == 0
    assert starts[1:] == checkpoints[: done.grants - 1]  # each grant resumed from the previous one's checkpoint
    assert [e["status"] for e in events if e["type"] == "end"] == ["completed"]  # one job, one end
    assert done.job.last_step == done.job.total_steps == steps["max_steps"] and done.job.in_process

    a, b = reference, load_file(out / LORA)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key

