"""Starting and stopping trainer processes.

A trainer always runs as `python -m autotrain_gradio.train --config ...` (under `accelerate launch` for more
than one process) in its own session, so one signal to its process group reaches every rank, a Ctrl-C in the
terminal does not kill it behind the checkpoint logic's back, and it outlives a killed scheduler.
`run_foreground` is the `--immediate` path: no store, no worker, the caller's terminal shows the progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from autotrain_gradio.events import END_STATUSES, EXIT_CODES, EventTailer, RunState
from autotrain_gradio.gpus import visible_gpus
from autotrain_gradio.jobs.pids import LAUNCH_KEY_VAR, signal_group
from autotrain_gradio.jobs.runs import file_size, poll_events
from autotrain_gradio.jobs.secrets import SECRET_VARS
from autotrain_gradio.tasks import load_config
from autotrain_gradio.threads import JOBS_VAR
from autotrain_gradio.workspace import run_paths

# A multi-process run's launcher (torchrun / accelerate launch) gets the cancel's SIGTERM, passes it to the ranks
# (each in a session of its own) and SIGKILLs them after TORCH_ELASTIC_SHUTDOWN_TIMEOUT, 30 s by default: less
# than a full fine-tune's 10-48 GB checkpoint takes. The ranks stop at the next step and checkpoint; let them.
RANK_SHUTDOWN_TIMEOUT_S = 3600


def trainer_command(config_path: str | Path, *, num_processes: int = 1, resume: bool = False) -> list[str]:
    """The trainer's argv: the harness module directly; for num_processes > 1, `accelerate launch --multi_gpu`
    on GPUs (on a free port: two jobs starting together must not race for 29500), or torchrun on a CPU
    (accelerate's --cpu launcher starts a single process)."""
    args = ["-m", "autotrain_gradio.train", "--config", str(config_path)] + (["--resume"] if resume else [])
    if num_processes <= 1:
        return [sys.executable, *args]
    if visible_gpus():
        return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                str(num_processes), "--main_process_port", "0", *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(num_processes),
            *args]


def trainer_env(gpu_ids: list[int] | None, *, secrets: dict[str, str] | None = None,
                launch_key: str | None = None, jobs_at_once: int = 1) -> dict[str, str]:
    """The environment for a trainer: ours, with CUDA_VISIBLE_DEVICES narrowed to its GPUs when it has some.
    With `secrets` (a queued job: its submitter's), our own tokens are dropped and only those go in.
    `jobs_at_once` (the queue's limit) sizes its CPU threads (threads.py)."""
    env = dict(os.environ)
    env[JOBS_VAR] = str(max(1, jobs_at_once))
    env.setdefault("PYTHONUNBUFFERED", "1")  # train.log shows lines as they happen
    env["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] = str(RANK_SHUTDOWN_TIMEOUT_S)
    if secrets is not None:
        for var in SECRET_VARS:
            env.pop(var, None)
        env.update(secrets)
    if launch_key:
        env[LAUNCH_KEY_VAR] = launch_key
    if gpu_ids:
        # Our GPU numbers are positions among the GPUs this process sees; when CUDA_VISIBLE_DEVICES already
        # narrows them (e.g. "2,3"), position 0 is physical GPU 2, not 0.
        parent = [s.strip() for s in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if s.strip()]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(parent[g] if g < len(parent) else str(g) for g in gpu_ids)
    return env


def spawn(config_path: str | Path, log_path: str | Path, *, gpu_ids: list[int] | None = None,
          resume: bool = False, secrets: dict[str, str] | None = None, launch_key: str | None = None,
          jobs_at_once: int = 1, num_processes: int | None = None) -> subprocess.Popen:
    """Start a trainer in a new session (its own process group) with stdout+stderr appended to log_path; see
    `trainer_env` for `secrets`, `launch_key` and `jobs_at_once`. One process per GPU in `gpu_ids`; without GPUs,
    `num_processes` CPU processes (default: the config's num_processes)."""
    if gpu_ids:
        num_processes = len(gpu_ids)
    elif num_processes is None:
        num_processes = getattr(load_config(config_path), "num_processes", 1)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            trainer_command(config_path, num_processes=max(1, num_processes), resume=resume),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=trainer_env(gpu_ids, secrets=secrets, launch_key=launch_key, jobs_at_once=jobs_at_once),
            start_new_session=True,
        )


# --- the --immediate path -------------------------------------------------------------------------------------


def run_foreground(config_path: str | Path, *, gpu_ids: list[int] | None = None, resume: bool = False,
                   monitor: bool = True, stream: TextIO = sys.stdout, interval: float = 1.0,
                   on_spawn: Callable[[subprocess.Popen, int], None] | None = None) -> int:
    """Run one trainer now and wait for it; return its exit code (0 completed, 1 failed, 143 cancelled, 2 bad
    config). Its output goes to output/<name>/log/train.log; with `monitor`, the progress line is drawn from
    events.jsonl. Ctrl-C sends SIGTERM (the trainer checkpoints and ends cancelled); a second one SIGKILLs."""
    from autotrain_gradio.monitor import ICONS, progress_line
    from autotrain_gradio.notebook import follower_for

    paths = run_paths(load_config(config_path).output_dir)
    tailer = EventTailer(paths.events)
    tailer.offset = file_size(paths.events)  # earlier runs' events are not this run's progress
    state = RunState()
    log = paths.log_dir / "train.log"
    proc = spawn(config_path, log, gpu_ids=gpu_ids, resume=resume)
    if on_spawn is not None:  # e.g. record the trainer's pid in the job store
        on_spawn(proc, tailer.offset)
    follower = follower_for(stream) if monitor else None
    interrupts = 0
    while True:
        try:
            try:
                code = proc.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                pass
            if follower:
                follower.show(progress_line(state.update(poll_events(tailer))), state)
        except KeyboardInterrupt:
            # The trainer has its own session, so the terminal's SIGINT did not reach it: pass the stop on.
            interrupts += 1
            signal_group(proc.pid, signal.SIGTERM if interrupts == 1 else signal.SIGKILL)
            if follower:
                follower.note("stopping: the trainer writes a checkpoint first (Ctrl-C again to kill it)"
                              if interrupts == 1 else "killed")
    state.update(poll_events(tailer))
    if follower:
        by_code = {code: status for status, code in EXIT_CODES.items()}
        status = state.status if state.status in END_STATUSES else by_code.get(code, "failed")
        detail = state.error or ("" if status != "failed" else f"see {log}")
        if state.total:
            follower.show(progress_line(state), state)
        follower.close()
        follower.note(f"{ICONS[status]} {paths.name}: {status}{': ' + detail if detail else ''} (exit code {code})")
    return code
