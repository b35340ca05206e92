"""Queue overhead: the time from "train this" to the trainer's first event, through the job queue with the local
backend and with Ray, against starting the trainer command directly; measured in one run, repetitions interleaved
(direct, local, ray, direct, ...), medians and ratios printed.

- direct: `subprocess.Popen(trainer_command(config))`, as a user would start `python -m autotrain_gradio.train`.
- local:  `jobs.submit(...)` into a fresh workspace: the store row, a cold worker (a new process), its claim and
          the trainer launch.
- ray:    `jobs.submit(..., backend="ray")` to a local head this script starts (`ray start --head`, 127.0.0.1
          dashboard, 2 CPUs) and stops by signalling its process group: the worker's submit_job, Ray's job
          supervisor and runtime env (this package uploaded as py_modules), then the same trainer command.

The first event is the trainer's first line in events.jsonl (its `t`), written right after it starts, before any
model loads; each trainer is stopped once it has written it.

    python bench/queue_overhead.py [--reps 3] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autotrain_gradio.config import save_config
from autotrain_gradio.jobs import JobStore, cancel, submit, trainer_command, worker_pid
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig


def _config(ws: Path, name: str) -> Path:
    data = ws / "data"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True, exist_ok=True)
    cfg = ImageClassificationConfig(name=name, base_model="tiny:vit", data_dir=str(data),
                                    output_dir=str(ws / "output" / name), max_steps=1000, valid_split=0.0)
    return save_config(cfg, Path(cfg.output_dir) / "config.toml")


def first_event(events: Path, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = events.read_text().split("\n", 1)[0]
            if line:
                return json.loads(line)["t"]
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.005)
    raise TimeoutError(f"no event in {events} after {timeout} s")


def direct(ws: Path) -> float:
    config = _config(ws, "direct")
    t0 = time.time()
    proc = subprocess.Popen(trainer_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    first = first_event(config.parent / "log" / "events.jsonl")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return first - t0


def queued(ws: Path, backend: str, options: dict | None = None) -> float:
    config = _config(ws, backend)
    t0 = time.time()
    job = submit(ws, name=backend, profile="bench", config_path=config, backend=backend, options=options, secrets={})
    first = first_event(config.parent / "log" / "events.jsonl")
    cancel(ws, job.id, grace=2)
    for _ in range(200):  # let the worker go idle and exit before the next measurement
        if worker_pid(ws) is None:
            break
        time.sleep(0.1)
    JobStore(ws).close()
    return first - t0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ray(temp: Path) -> tuple[subprocess.Popen, str]:
    dashboard = _free_port()
    proc = subprocess.Popen(
        ["ray", "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(_free_port()), "--num-cpus", "2",
         "--temp-dir", str(temp), "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
         "--dashboard-port", str(dashboard), "--disable-usage-stats"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    out = proc.communicate(timeout=180)[0]
    if proc.returncode != 0:
        raise RuntimeError(out)
    return proc, f"http://127.0.0.1:{dashboard}"


def stop_ray(proc: subprocess.Popen) -> None:
    for sig, pause in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 1.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        time.sleep(pause)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    use_ray = not args.no_ray and shutil.which("ray") is not None
    times: dict[str, list[float]] = {"direct": [], "local": []} | ({"ray": []} if use_ray else {})
    ray_proc, temp = None, Path(f"/tmp/rb{os.getpid()}")
    try:
        if use_ray:
            ray_proc, address = start_ray(temp)
        for rep in range(args.reps):
            for kind in times:
                with tempfile.TemporaryDirectory() as tmp:
                    ws = Path(tmp)
                    if kind == "direct":
                        seconds = direct(ws)
                    elif kind == "local":
                        seconds = queued(ws, "local")
                    else:
                        seconds = queued(ws, "ray", {"ray_address": address})
                times[kind].append(seconds)
                print(f"rep {rep + 1} {kind:<6} {seconds:6.2f} s", flush=True)
    finally:
        if ray_proc is not None:
            stop_ray(ray_proc)
            shutil.rmtree(temp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nsubmit -> first event, median of {args.reps} (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    for kind, value in med.items():
        print(f"  {kind:<6} {value:6.2f} s   ratio to direct {value / med['direct']:5.2f}")


if __name__ == "__main__":
    main()
