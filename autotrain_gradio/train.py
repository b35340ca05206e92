"""The training harness: `python -m autotrain_gradio.train --config output/<name>/config.toml [--resume]`, or the
same run inside the caller's process through `run_in_process` (a notebook, a ZeroGPU Space).

Reads the config, opens the event stream, dispatches on the task and always ends with an `end` event:
completed (exit 0), cancelled by SIGTERM/SIGINT (or, in-process, by the run's stop check) after a checkpoint
(exit 143; a signal while loading or caching, before the `start` event, ends at once as "cancelled before
training"), or failed with the reason (exit 1); a run whose model was exported is completed even if a stop lands
during its final samples. Errors are never swallowed. Under `accelerate launch` only rank 0 writes events. A run
stopped because its GPU grant ends (`GRANT_ENDED`) writes no `end`: the next grant resumes it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable

from autotrain_gradio.config import ConfigError, config_digest
from autotrain_gradio.events import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_PAUSED,
    EventWriter,
    NullWriter,
    scrub,
)
from autotrain_gradio.tasks import get_task, load_config
from autotrain_gradio.tasks.common import GRANT_ENDED, RunContext, describe_error
from autotrain_gradio.threads import use_cpu_threads
from autotrain_gradio.workspace import run_paths

CANCELLED_BEFORE = "cancelled before training (nothing to keep); resume starts it from step 0"


class StopBeforeTraining(BaseException):
    """SIGTERM/SIGINT before the trainer's `start` event: raised in the signal handler to leave loading at once."""


class StopAfterExport(BaseException):
    """SIGTERM/SIGINT after the trainer set ctx.extra["exported"] (its outputs): the run is complete."""


def open_context(config_path: str, resume: bool, stop_check: Callable[[], str] | None = None) -> RunContext:
    """The run's context: its config, folders and event writer (rank 0 only). Raises ConfigError."""
    cfg = load_config(config_path)
    paths = run_paths(cfg.output_dir)
    is_main = int(os.environ.get("RANK", "0")) == 0
    events = EventWriter(paths.events) if is_main else NullWriter()
    return RunContext(cfg=cfg, paths=paths, events=events, resume=resume, is_main=is_main, stop_check=stop_check)


def stop_handler(ctx: RunContext) -> Callable:
    """A SIGTERM/SIGINT handler: stop at the next checkpoint, or at once while still loading (no step to keep)."""

    def request_stop(signum, frame):
        ctx.stop_requested = True
        if ctx.extra.get("stopping"):
            return
        if not ctx.events.started:
            # Loading or caching: no step to keep, so stop now rather than after minutes of caching.
            ctx.extra["stopping"] = True
            raise StopBeforeTraining
        if ctx.extra.get("exported") is not None:
            # The model is written; what is left (final samples) is not worth waiting for: a completed run.
            ctx.extra["stopping"] = True
            raise StopAfterExport

    return request_stop


def run(ctx: RunContext, where: str = "") -> int:
    """Train ctx.cfg's task and write the `end` event; the exit code. Outputs land in ctx.extra["outputs"], the
    reason of a failure in ctx.extra["error"]."""
    cfg, events, paths = ctx.cfg, ctx.events, ctx.paths
    events.emit("log", level="info", message=f"trainer pid {os.getpid()}{where} task {cfg.task} "
                f"digest {config_digest(cfg)}{' (resume)' if ctx.resume else ''}")
    try:
        if ctx.is_main and cfg.log_to != "none":  # step and eval events also go to the tracker (tracking.py)
            from autotrain_gradio.tracking import open_tracker

            events.tracker = open_tracker(cfg.log_to, cfg.name, paths.log_dir, cfg.model_dump(mode="json"))
        train = get_task(cfg.task).load_train()  # torch starts here, with the threads `use_cpu_threads` chose
        if "torch" in sys.modules:
            events.emit("log", level="info", message=f"torch threads {sys.modules['torch'].get_num_threads()} "
                        f"({ctx.extra.get('threads', 'as set')})")
        outputs = train(cfg, ctx) or {}
    except StopAfterExport:
        ctx.extra["outputs"] = ctx.extra["exported"]
        events.emit("log", level="info", message="stopped during the final samples; the model was already written")
        events.emit("end", status="completed", error="", outputs=ctx.extra["exported"], step=ctx.extra.get("step", 0))
        events.close()
        return 0
    except StopBeforeTraining:
        events.emit("end", status="cancelled", error=CANCELLED_BEFORE, step=0)
        events.close()
        print(f"stopped: {CANCELLED_BEFORE}", file=sys.stderr)
        return EXIT_CANCELLED
    except BaseException as err:  # noqa: BLE001 - reported, then re-raised as an exit code
        reason = ctx.extra["error"] = describe_error(err, cfg.task)
        print(scrub(traceback.format_exc()), file=sys.stderr, flush=True)
        events.emit("end", status="failed", error=reason, step=ctx.extra.get("step", 0))
        events.close()
        print(f"error: training failed: {reason}", file=sys.stderr)
        return EXIT_FAILED
    ctx.extra["outputs"] = outputs
    # Cancelled only when the trainer stopped short (it returns just its checkpoint); a stop that lands after the
    # export (during the final samples, the push) leaves a finished model: that run is completed.
    stopped_short = not (set(outputs) - {"checkpoint"})
    if ctx.stop_reason == GRANT_ENDED and stopped_short:
        events.emit("log", level="info", message=f"GPU grant ends at step {ctx.extra.get('step', 0)}: checkpoint "
                    "saved, the next grant resumes from it")
        events.close()
        return EXIT_PAUSED
    status = "cancelled" if ctx.stop_requested and stopped_short else "completed"
    events.emit("end", status=status, error="", outputs=outputs, step=ctx.extra.get("step", 0))
    events.close()
    return EXIT_CANCELLED if status == "cancelled" else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autotrain_gradio.train")
    parser.add_argument("--config", required=True, help="output/<name>/config.toml")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    args = parser.parse_args(argv)
    try:
        ctx = open_context(args.config, args.resume)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    ctx.extra["threads"], _ = use_cpu_threads(ctx.cfg.cpu_threads)  # before torch starts its pools
    signal.signal(signal.SIGTERM, stop_handler(ctx))
    signal.signal(signal.SIGINT, stop_handler(ctx))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # Every rank says it took part (rank 0 writes it to events; the others only to the log)
    where = f" rank {os.environ.get('RANK', '0')} of {world}" if world > 1 else ""
    if where and not ctx.is_main:
        print(f"[info] trainer pid {os.getpid()}{where}", flush=True)
    return run(ctx, where=where)


def reset_accelerate() -> None:
    """Forget accelerate's process-wide state (precision, device, plugins), so the next run in this process may
    use another precision; a notebook otherwise gets "AcceleratorState has already been initialized"."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def run_in_process(config_path: str, *, resume: bool = False,
                   stop_check: Callable[[], str] | None = None,
                   where: str = " (in-process)") -> tuple[int, RunContext]:
    """`main` in this process: the same context, events, checkpoints and `end` event, without a process to signal.
    `stop_check()` is polled by the loops (a reason to stop, or ""); in the main thread, Ctrl-C (a notebook's
    interrupt) also stops at a checkpoint. Returns (exit code, context): the trained objects are in ctx.extra.
    `where` ends the first log line (a Ray Train worker's rank)."""
    ctx = open_context(config_path, resume, stop_check)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    if in_main:
        signal.signal(signal.SIGINT, stop_handler(ctx))
    ctx.extra["threads"], restore_threads = use_cpu_threads(ctx.cfg.cpu_threads)
    reset_accelerate()
    try:
        return run(ctx, where=where), ctx
    finally:
        restore_threads()
        reset_accelerate()
        if in_main:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
