"""`autotrain train list|monitor|cancel|resume|logs|start`: the job queue from a terminal.

`cli.py` calls `add_train_commands(subparsers)`; each command's function takes the argparse Namespace and
returns the exit code. `monitor` exits with the job's result (0 completed, 1 failed, 143 cancelled); a bad job id
or a job in the wrong state is exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from autotrain_gradio.cli_flags import add_model_flags, given
from autotrain_gradio.config import ConfigError
from autotrain_gradio.events import EXIT_BAD_INPUT
from autotrain_gradio.gpus import check_gpu_ids, parse_gpu_ids
from autotrain_gradio.jobs import (
    FINAL,
    STATUSES,
    Job,
    JobError,
    JobStore,
    cancel,
    resume,
    run_now,
    submit,
    supervise,
)
from autotrain_gradio.jobs.follow import monitor_job
from autotrain_gradio.monitor import RESULT_CODES
from autotrain_gradio.workspace import workspace_root

EXIT_USAGE = EXIT_BAD_INPUT


def _root(args: argparse.Namespace) -> Path:
    return workspace_root(getattr(args, "workspace", None))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _progress(job: Job) -> str:
    if job.status == "completed":
        return "100%"
    if not job.total_steps:
        return "-"
    return f"{job.last_step / job.total_steps * 100:.0f}% ({job.last_step}/{job.total_steps})"


def _gpus(job: Job) -> str:
    if job.status == "queued" or job.started is None:
        return ",".join(map(str, job.gpu_ids)) if job.gpu_ids else "-"
    return ",".join(map(str, job.assigned_gpus)) or "cpu"


def job_table(jobs: list[Job]) -> str:
    """The `train list` table: id, name, profile, status, progress, GPU, started, duration."""
    header = ("ID", "NAME", "PROFILE", "STATUS", "PROGRESS", "GPU", "STARTED", "DURATION")
    rows = [header] + [
        (str(j.id), j.name, j.profile or "-", j.status, _progress(j), _gpus(j),
         time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j.started)) if j.started else "-",
         _duration(j.duration))
        for j in jobs
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def cmd_list(args: argparse.Namespace) -> int:
    store = JobStore(_root(args))
    try:
        supervise(_root(args), store)  # a dead worker is revived, a vanished trainer's job settled, before we show
        jobs = store.list(tuple(args.status) if args.status else None)
    finally:
        store.close()
    if args.json:
        print(json.dumps([vars(j) for j in jobs], indent=1))
    elif not jobs:
        print("no jobs; `autotrain pipeline run` queues one")
    else:
        print(job_table(jobs))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    return monitor_job(_root(args), args.job, sys.stdout, interval=args.interval)


def cmd_cancel(args: argparse.Namespace) -> int:
    job = cancel(_root(args), args.job, wait=not args.no_wait, grace=args.grace)
    if not job.done:
        print(f"job {job.id} {job.name}: SIGTERM sent; it writes a checkpoint and ends cancelled")
        return 0
    print(f"job {job.id} {job.name}: {job.status}" + (f" ({job.error})" if job.error else ""))
    checkpoints = Path(job.output_dir) / "checkpoints"
    if job.status == "cancelled" and checkpoints.is_dir() and any(checkpoints.iterdir()):
        newest = max(checkpoints.iterdir(), key=lambda p: p.stat().st_mtime)
        print(f"last checkpoint: {newest}; continue with: autotrain train resume --job {job.id}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    root = _root(args)
    job = resume(root, args.job)
    print(f"job {job.id} {job.name} queued again (resumes from its last checkpoint)")
    return monitor_job(root, job.id, sys.stdout) if args.monitor else 0


def cmd_logs(args: argparse.Namespace) -> int:
    store = JobStore(_root(args))
    try:
        job = store.get(args.job)
        if job is None:
            raise JobError(f"no job with id {args.job}; `autotrain train list` shows them")
        offset = 0
        if args.tail and job.log_path.exists():
            data = job.log_path.read_bytes()
            offset = len(data) - sum(len(ln) for ln in data.splitlines(keepends=True)[-args.tail:])
        while True:
            done = store.get(job.id).status in FINAL  # type: ignore[union-attr]
            try:
                with open(job.log_path, "rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
            except FileNotFoundError:
                chunk = b""
            offset += len(chunk)
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
            # Read once more after the job ended, so the last lines are not lost.
            if not args.follow or done:
                return 0
            time.sleep(0.5)
    finally:
        store.close()


def cmd_start(args: argparse.Namespace) -> int:
    """Queue (or with --immediate run here) a config.toml; the flags are a StartRequest, checked as one model."""
    from autotrain_gradio.pipeline.request import StartRequest, validated
    from autotrain_gradio.tasks import load_config

    req = validated(StartRequest, **given(args, StartRequest))
    cfg = load_config(req.config)
    gpus = parse_gpu_ids(req.gpu_ids)
    if req.backend == "local":
        check_gpu_ids(gpus)
    root = _root(args)
    if req.immediate:  # the request refuses it with a remote backend
        return run_now(root, name=cfg.name, profile=req.profile, config_path=req.config, gpu_ids=gpus)[1]
    job = submit(root, name=cfg.name, profile=req.profile, config_path=req.config, gpu_ids=gpus,
                 max_concurrent=req.max_concurrent, backend=req.backend, options=req.backend_options)
    print(f"queued as job {job.id}; follow it with: autotrain train monitor --job {job.id}")
    return monitor_job(root, job.id, sys.stdout) if req.monitor else 0


def _guard(func):
    """JobError (unknown id, wrong state) becomes a one-line message and exit code 2."""
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (JobError, ConfigError) as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_USAGE
    return run


def add_train_commands(subparsers) -> None:
    """Add `train list|monitor|cancel|resume|logs|start` to the top-level `autotrain` subparsers."""
    train = subparsers.add_parser("train", help="the job queue: list, monitor, cancel, resume, logs, start")
    cmds = train.add_subparsers(dest="train_command", required=True)

    def add(name: str, func, text: str, job: bool = True) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=text, description=text)
        p.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace folder")
        if job:
            p.add_argument("--job", type=int, required=True, help="job id (see `autotrain train list`)")
        p.set_defaults(func=_guard(func))
        return p

    p = add("list", cmd_list, "table of jobs: id, name, profile, status, progress, GPU, started, duration", job=False)
    p.add_argument("--status", action="append", choices=STATUSES, help="only jobs with this status (repeatable)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")

    p = add("monitor", cmd_monitor, "follow a job live until it ends; the exit code is its result "
            f"({', '.join(f'{v} {k}' for k, v in RESULT_CODES.items())})")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between updates (default 1)")

    p = add("cancel", cmd_cancel, "stop a job: SIGTERM, the trainer checkpoints and ends cancelled; SIGKILL after "
            "the grace period; a queued job is just marked cancelled")
    p.add_argument("--grace", type=float, default=None, help="seconds before SIGKILL (default: the job's, 30)")
    p.add_argument("--no-wait", action="store_true", help="send SIGTERM and return at once")

    p = add("resume", cmd_resume, "queue a cancelled or failed job again; it continues from its last checkpoint")
    p.add_argument("--monitor", action="store_true", help="follow it until it ends")

    p = add("logs", cmd_logs, "print the trainer's output (output/<name>/log/train.log)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    p.add_argument("--tail", type=int, default=0, help="start with the last N lines only")

    from autotrain_gradio.pipeline.request import StartRequest

    p = add("start", cmd_start, "queue a training run from a config.toml (as written by `pipeline prepare`)",
            job=False)
    add_model_flags(p, StartRequest)
