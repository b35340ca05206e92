"""The training process: `python -m autotrain_gradio.train --config output/<name>/config.toml [--resume]`.

Reads the config, opens the event stream, dispatches on the task and always ends with an `end` event:
completed (exit 0), cancelled by SIGTERM/SIGINT after a checkpoint (exit 143; a stop while loading or caching, before
the `start` event, ends at once as "cancelled before training"), or failed with the reason (exit 1); a run whose
model was exported is completed even if a stop lands during its final samples. Errors are never swallowed. Under
`accelerate launch` only rank 0 writes events.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback

from autotrain_gradio.config import ConfigError, config_digest
from autotrain_gradio.events import EventWriter, NullWriter, scrub
from autotrain_gradio.tasks import get_task, load_config
from autotrain_gradio.tasks.common import RunContext, describe_error
from autotrain_gradio.workspace import run_paths

EXIT_FAILED, EXIT_CANCELLED, EXIT_BAD_CONFIG = 1, 143, 2
CANCELLED_BEFORE = "cancelled before training (nothing to keep); resume starts it from step 0"


class StopBeforeTraining(BaseException):
    """SIGTERM/SIGINT before the trainer's `start` event: raised in the signal handler to leave loading at once."""


class StopAfterExport(BaseException):
    """SIGTERM/SIGINT after the trainer set ctx.extra["exported"] (its outputs): the run is complete."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autotrain_gradio.train")
    parser.add_argument("--config", required=True, help="output/<name>/config.toml")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG

    paths = run_paths(cfg.output_dir)
    is_main = int(os.environ.get("RANK", "0")) == 0
    events = EventWriter(paths.events) if is_main else NullWriter()
    ctx = RunContext(cfg=cfg, paths=paths, events=events, resume=args.resume, is_main=is_main)

    def request_stop(signum, frame):
        ctx.stop_requested = True
        if ctx.extra.get("stopping"):
            return
        if not events.started:
            # Loading or caching: no step to keep, so stop now rather than after minutes of caching.
            ctx.extra["stopping"] = True
            raise StopBeforeTraining
        if ctx.extra.get("exported") is not None:
            # The model is written; what is left (final samples) is not worth waiting for: a completed run.
            ctx.extra["stopping"] = True
            raise StopAfterExport

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    events.emit("log", level="info", message=f"trainer pid {os.getpid()} task {cfg.task} "
                f"digest {config_digest(cfg)}{' (resume)' if args.resume else ''}")
    try:
        if is_main and cfg.log_to != "none":  # step and eval events also go to the tracker (tracking.py)
            from autotrain_gradio.tracking import open_tracker

            events.tracker = open_tracker(cfg.log_to, cfg.name, paths.log_dir, cfg.model_dump(mode="json"))
        outputs = get_task(cfg.task).load_train()(cfg, ctx) or {}
    except StopAfterExport:
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
        reason = describe_error(err, cfg.task)
        print(scrub(traceback.format_exc()), file=sys.stderr, flush=True)
        events.emit("end", status="failed", error=reason, step=ctx.extra.get("step", 0))
        events.close()
        print(f"error: training failed: {reason}", file=sys.stderr)
        return EXIT_FAILED
    # Cancelled only when the trainer stopped short (it returns just its checkpoint); a stop that lands after the
    # export (during the final samples, the push) leaves a finished model: that run is completed.
    stopped_short = not (set(outputs) - {"checkpoint"})
    status = "cancelled" if ctx.stop_requested and stopped_short else "completed"
    events.emit("end", status=status, error="", outputs=outputs, step=ctx.extra.get("step", 0))
    events.close()
    return EXIT_CANCELLED if status == "cancelled" else 0


if __name__ == "__main__":
    sys.exit(main())
