"""Starting and stopping trainer processes.

A trainer always runs as `python -m autotrain_gradio.train --config ...` (under `accelerate launch` for more
than one process) in its own session, so one signal to its process group reaches every rank, a Ctrl-C in the
terminal does not kill it behind the checkpoint logic's back, and it outlives a killed scheduler.
`run_foreground` is the `--immediate` path: no store, no worker, the caller's terminal shows the progress.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from autotrain_gradio.config import ConfigError
from autotrain_gradio.events import END_STATUSES, EventTailer, RunState
from autotrain_gradio.tasks import load_config
from autotrain_gradio.workspace import run_paths

EXIT_CANCELLED = 143


def visible_gpus() -> list[int]:
    """GPU indices this process may use, without importing torch: CUDA_VISIBLE_DEVICES if set, else
    `nvidia-smi -L`, else none (CPU)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [s.strip() for s in env.split(",") if s.strip()]
        # UUIDs or MIG ids are positions for our purposes; "-1" or "" means no GPU.
        return [] if not ids or ids[0].startswith("-") else list(range(len(ids)))
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(range(sum(1 for line in out.splitlines() if line.startswith("GPU "))))


def parse_gpu_ids(value: str | list[int] | None) -> list[int] | None:
    """'0,1' or [0, 1] -> [0, 1]; None or 'auto' -> None (free GPUs are picked by the scheduler)."""
    if value is None or value == "" or value == "auto":
        return None
    if isinstance(value, list):
        return [int(v) for v in value]
    try:
        ids = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--gpu-ids expects comma-separated GPU numbers like \"0,1\", got {value!r}") from None
    if any(i < 0 for i in ids):
        raise ConfigError(f"--gpu-ids must be 0 or greater, got {value!r}")
    return ids


def trainer_command(config_path: str | Path, *, num_processes: int = 1, resume: bool = False) -> list[str]:
    """The trainer's argv: the harness module directly; for num_processes > 1, `accelerate launch --multi_gpu`
    on GPUs, or torchrun on a CPU (accelerate's --cpu launcher starts a single process)."""
    args = ["-m", "autotrain_gradio.train", "--config", str(config_path)] + (["--resume"] if resume else [])
    if num_processes <= 1:
        return [sys.executable, *args]
    if visible_gpus():
        return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                str(num_processes), *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(num_processes),
            *args]


def trainer_env(gpu_ids: list[int] | None) -> dict[str, str]:
    """The environment for a trainer: ours, with CUDA_VISIBLE_DEVICES narrowed to its GPUs when it has some."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # train.log shows lines as they happen
    if gpu_ids:
        # Our GPU numbers are positions among the GPUs this process sees; when CUDA_VISIBLE_DEVICES already
        # narrows them (e.g. "2,3"), position 0 is physical GPU 2, not 0.
        parent = [s.strip() for s in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if s.strip()]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(parent[g] if g < len(parent) else str(g) for g in gpu_ids)
    return env


def spawn(config_path: str | Path, log_path: str | Path, *, gpu_ids: list[int] | None = None,
          resume: bool = False) -> subprocess.Popen:
    """Start a trainer in a new session (its own process group) with stdout+stderr appended to log_path."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            trainer_command(config_path, num_processes=max(1, len(gpu_ids or [])), resume=resume),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=trainer_env(gpu_ids), start_new_session=True,
        )


# --- processes ------------------------------------------------------------------------------------------------


def pid_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), None if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and ')': split after the last ')'.
    rest = stat[stat.rfind(")") + 2:].split()
    return int(rest[19]) if len(rest) > 19 else None


def pid_alive(pid: int | None, start: int | None = None) -> bool:
    """True if pid runs (not a zombie) and, when `start` is given, is the same process that started then."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists but belongs to someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2:].startswith("Z"):
            return False
    except OSError:
        return sys.platform != "linux"  # no /proc: trust os.kill
    return start is None or pid_start_time(pid) == start


def signal_group(pid: int, sig: int) -> bool:
    """Send sig to the process group led by pid (the trainer's session). False if it is already gone."""
    try:
        os.killpg(pid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return False


# --- the --immediate path -------------------------------------------------------------------------------------


def file_size(path: Path) -> int:
    """Size of a regular file; 0 when it is missing or not a file."""
    return path.stat().st_size if path.is_file() else 0


def poll_events(tailer: EventTailer) -> list[dict]:
    """New events, or none when the events file cannot be read (a watcher must not die of a broken run)."""
    try:
        return tailer.poll()
    except OSError:
        return []


def run_foreground(config_path: str | Path, *, gpu_ids: list[int] | None = None, resume: bool = False,
                   monitor: bool = True, stream: TextIO = sys.stdout, interval: float = 1.0,
                   on_spawn: Callable[[subprocess.Popen, int], None] | None = None) -> int:
    """Run one trainer now and wait for it; return its exit code (0 completed, 1 failed, 143 cancelled, 2 bad
    config). Its output goes to output/<name>/log/train.log; with `monitor`, the progress line is drawn from
    events.jsonl. Ctrl-C sends SIGTERM (the trainer checkpoints and ends cancelled); a second one SIGKILLs."""
    from autotrain_gradio.monitor import ICONS, Follower, progress_line

    paths = run_paths(load_config(config_path).output_dir)
    tailer = EventTailer(paths.events)
    tailer.offset = file_size(paths.events)  # earlier runs' events are not this run's progress
    state = RunState()
    log = paths.log_dir / "train.log"
    proc = spawn(config_path, log, gpu_ids=gpu_ids, resume=resume)
    if on_spawn is not None:  # e.g. record the trainer's pid in the job store
        on_spawn(proc, tailer.offset)
    follower = Follower(stream) if monitor else None
    interrupts = 0
    while True:
        try:
            try:
                code = proc.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                pass
            if follower:
                follower.show(progress_line(state.update(poll_events(tailer))))
        except KeyboardInterrupt:
            # The trainer has its own session, so the terminal's SIGINT did not reach it: pass the stop on.
            interrupts += 1
            signal_group(proc.pid, signal.SIGTERM if interrupts == 1 else signal.SIGKILL)
            if follower:
                follower.note("stopping: the trainer writes a checkpoint first (Ctrl-C again to kill it)"
                              if interrupts == 1 else "killed")
    state.update(poll_events(tailer))
    if follower:
        status = state.status if state.status in END_STATUSES else \
            {0: "completed", EXIT_CANCELLED: "cancelled"}.get(code, "failed")
        detail = state.error or ("" if status != "failed" else f"see {log}")
        if state.total:
            follower.show(progress_line(state))
        follower.note(f"{ICONS[status]} {paths.name}: {status}{': ' + detail if detail else ''} (exit code {code})")
    return code
