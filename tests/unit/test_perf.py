"""What keeps our training at the plain library's speed: the optimizer a profile that names none gets is the
library's own default, and step events are buffered yet still reach the file (soon while running, all by the end)."""

from __future__ import annotations

import time

import pytest

from autotrain_gradio.events import FLUSH_EVERY_S, EventWriter, read_events


def _context(tmp_path, **settings):
    from autotrain_gradio.tasks.common import RunContext
    from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig
    from autotrain_gradio.workspace import run_paths

    cfg = TextClassificationConfig(name="speed", base_model="tiny:bert", data_dir=str(tmp_path),
                                   output_dir=str(tmp_path / "out"), **settings)
    paths = run_paths(cfg.output_dir)
    return cfg, RunContext(cfg=cfg, paths=paths, events=EventWriter(paths.events))


@pytest.mark.parametrize("family", ["transformers", "trl"])
def test_no_optimizer_named_trains_with_the_librarys_default(tmp_path, family):
    from transformers import TrainingArguments

    from autotrain_gradio.tasks.hf_trainer import training_arguments
    from autotrain_gradio.tasks.optim import trainer_optimizer

    args_class = TrainingArguments
    if family == "trl":
        from trl import SFTConfig as args_class
    cfg, ctx = _context(tmp_path)
    args = training_arguments(cfg, ctx, evaluate=False, args_class=args_class)
    assert args.optim == args_class.__dataclass_fields__["optim"].default == "adamw_torch_fused"
    assert trainer_optimizer(cfg.optimizer, args) is None
    ctx.events.close()


def test_an_explicit_torch_implementation_reaches_the_trainer(tmp_path):
    import torch

    from autotrain_gradio.tasks.hf_trainer import training_arguments
    from autotrain_gradio.tasks.optim import make_optimizer, trainer_optimizer

    cfg, ctx = _context(tmp_path, optimizer="adamw_fused")
    assert training_arguments(cfg, ctx, evaluate=False).optim == "adamw_torch_fused"
    cfg, ctx = _context(tmp_path, optimizer="adamw_foreach")
    cls, kwargs = trainer_optimizer(cfg.optimizer, training_arguments(cfg, ctx, evaluate=False))
    assert cls is torch.optim.AdamW and kwargs["foreach"] is True and kwargs["lr"] == cfg.learning_rate
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    # Set as fit sets it (Seq2SeqTrainer takes no such argument): the Trainer builds a foreach AdamW.
    trainer = Seq2SeqTrainer(model=torch.nn.Linear(2, 2), args=Seq2SeqTrainingArguments(
        output_dir=str(tmp_path / "ckpt"), use_cpu=True, report_to="none"))
    trainer.optimizer_cls_and_kwargs = (cls, kwargs)
    assert trainer.create_optimizer().defaults["foreach"] is True
    built = make_optimizer("adamw_fused", [torch.nn.Parameter(torch.zeros(2))], 1e-3, 0.0)
    assert built.defaults["fused"] is True
    ctx.events.close()


def test_step_events_are_buffered_but_reach_the_file_while_running_and_all_by_the_end(tmp_path):
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    writer.start(total_steps=2000, step=0, config_digest="abc")
    writer.step(step=1, total=2000, epoch=0.0, loss=1.0, lr=None, it_s=None, eta_s=None)
    # Nothing else is written: the flusher alone brings the step to a watcher, within a few flush periods.
    deadline = time.monotonic() + 20 * FLUSH_EVERY_S
    while len(read_events(path)) < 2 and time.monotonic() < deadline:
        time.sleep(FLUSH_EVERY_S / 5)
    assert [e["type"] for e in read_events(path)] == ["start", "step"]
    for step in range(2, 2001):
        writer.step(step=step, total=2000, epoch=0.0, loss=1.0, lr=None, it_s=None, eta_s=None)
    writer.eval(step=2000, epoch=1.0, metrics={"accuracy": 1.0})  # any other event flushes what is buffered
    assert [e["step"] for e in read_events(path) if e["type"] == "step"] == list(range(1, 2001))
    writer.step(step=2001, total=2000, epoch=1.0, loss=1.0, lr=None, it_s=None, eta_s=None)
    writer.close()
    events = read_events(path)
    assert [e["type"] for e in events[-2:]] == ["eval", "step"] and events[-1]["step"] == 2001


def _failing_config(tmp_path, **settings):
    """A config whose trainer starts torch, logs its threads, then fails at once (no data)."""
    from autotrain_gradio.config import save_config
    from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig

    cfg = TextClassificationConfig(name="threads", base_model="tiny:bert", data_dir=str(tmp_path / "missing"),
                                   output_dir=str(tmp_path / "output" / "threads"), **settings)
    return save_config(cfg, tmp_path / "output" / "threads" / "config.toml")


def _threads_line(tmp_path) -> str:
    return next(e["message"] for e in read_events(tmp_path / "output" / "threads" / "log" / "events.jsonl")
                if e["type"] == "log" and e["message"].startswith("torch threads"))


def test_a_queued_trainer_takes_its_share_of_the_cores_and_omp_num_threads_wins(tmp_path, monkeypatch):
    from autotrain_gradio.jobs.launch import spawn

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    config = _failing_config(tmp_path)
    # A queue running more jobs at once than there are cores: each trainer takes one thread, not every core.
    assert spawn(config, tmp_path / "train.log", jobs_at_once=64).wait(timeout=300) == 1
    assert _threads_line(tmp_path).startswith("torch threads 1 (") and "64 job(s) at once" in _threads_line(tmp_path)
    (tmp_path / "output" / "threads" / "log" / "events.jsonl").unlink()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert spawn(config, tmp_path / "train.log", jobs_at_once=64).wait(timeout=300) == 1
    assert _threads_line(tmp_path) == "torch threads 2 (OMP_NUM_THREADS)"


def test_an_in_process_run_uses_its_setting_and_gives_the_callers_threads_back(tmp_path):
    import torch

    from autotrain_gradio.train import run_in_process

    before = torch.get_num_threads()
    want = 1 if before > 1 else 2
    code, _ = run_in_process(str(_failing_config(tmp_path, cpu_threads=want)))
    assert code == 1
    assert _threads_line(tmp_path) == f"torch threads {want} (cpu_threads setting)"
    assert torch.get_num_threads() == before


def test_a_warm_worker_takes_the_next_job_and_stays_warm(tmp_path):
    import contextlib
    import os
    import signal

    from autotrain_gradio.jobs import JobStore, ensure_worker, submit, worker_pid
    from autotrain_gradio.jobs.scheduler import stop_idle_worker

    ws = tmp_path / "ws"
    pid = ensure_worker(ws, idle_grace=120)  # as the app starts it
    try:
        deadline = time.monotonic() + 60
        while worker_pid(ws) != pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker_pid(ws) == pid
        # A job that fails at once (no data): the warm worker, not a new one, launches it, and stays for the next.
        job = submit(ws, name="threads", profile="bench", config_path=_failing_config(ws), secrets={})
        store = JobStore(ws)
        deadline = time.monotonic() + 300
        while store.get(job.id).status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.get(job.id).status == "failed"
        store.close()
        assert worker_pid(ws) == pid
        stop_idle_worker(ws, pid)  # what the app does when it closes: the idle warm worker goes with it
        deadline = time.monotonic() + 30
        while worker_pid(ws) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker_pid(ws) is None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
