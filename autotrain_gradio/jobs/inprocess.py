"""Training in the caller's process: a notebook that wants the model back, a Space on ZeroGPU.

`run_in_process` records the run as a job like `run_now` does (born running under this process, so `train list`
and the Jobs tab show it and a worker counts it), with `in_process` set: a cancel then only sets the job's flag,
which the harness (`autotrain_gradio.train.run_in_process`) polls through the run's stop check; the row is settled
from the `end` event as for any job. The trained objects come back in `InProcessRun.extra`.

ZeroGPU lends a GPU only inside a `spaces.GPU(duration=...)` call of the app's own process. `run_in_grants` splits
a run over such calls: each grant trains until shortly before its duration ends, saves a checkpoint, and the next
grant resumes from it, all under one job row. `call` is how one grant is made: `spaces_grant` on ZeroGPU,
`timed_grant` (a plain call held to the same limit) elsewhere. Imports nothing heavy at module level.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from autotrain_gradio.events import EXIT_PAUSED
from autotrain_gradio.jobs.runs import file_size, settle
from autotrain_gradio.jobs.store import Job, JobStore
from autotrain_gradio.tasks import load_config
from autotrain_gradio.tasks.common import GRANT_ENDED
from autotrain_gradio.workspace import workspace_root

ZEROGPU_MAX_SECONDS = int(os.environ.get("AUTOTRAIN_ZEROGPU_MAX_SECONDS", "120"))  # the platform's cap per call


@dataclass
class InProcessRun:
    """How an in-process run ended: its job row, the harness's exit code, the trained objects (model, processor,
    outputs) and how many GPU grants it took."""

    job: Job
    exit_code: int
    extra: dict[str, Any] = field(default_factory=dict)
    grants: int = 1


def on_zerogpu() -> bool:
    """True in a Space on ZeroGPU hardware: the `spaces` package is installed and SPACES_ZERO_GPU is set."""
    return find_spec("spaces") is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def grant_seconds(requested: int = 0) -> int:
    """The duration of one GPU grant: the request (0: the platform's cap), bounded by the platform's cap."""
    return min(requested or ZEROGPU_MAX_SECONDS, ZEROGPU_MAX_SECONDS)


class GrantExpired(RuntimeError):
    """A grant's function ran past its duration (on ZeroGPU the platform would have taken the GPU away)."""


def spaces_grant(fn: Callable[[], Any], duration: int) -> Any:
    """One ZeroGPU grant: `fn` runs with a GPU for at most `duration` seconds."""
    import spaces  # only on a ZeroGPU Space; not a dependency

    return spaces.GPU(duration=duration)(fn)()


def timed_grant(fn: Callable[[], Any], duration: int) -> Any:
    """A plain call held to the same limit as a grant: GrantExpired if `fn` took longer than `duration`."""
    start = time.monotonic()
    out = fn()
    if (took := time.monotonic() - start) > duration:
        raise GrantExpired(f"the grant's function took {took:.1f} s of its {duration} s")
    return out


def _add_job(store: JobStore, name: str, profile: str, config_path: str | Path, resume: bool, owner: str) -> Job:
    cfg = load_config(config_path)
    offset = file_size(Path(cfg.output_dir) / "log" / "events.jsonl")  # earlier runs' events are not this job's
    job = store.add(name=name, profile=profile, config_path=config_path, output_dir=cfg.output_dir, resume=resume,
                    running_pid=os.getpid(), owner=owner, in_process=True)
    store.update(job.id, events_offset=offset)
    return store.get(job.id)  # type: ignore[return-value]


def _stop_check(store: JobStore, job_id: int, deadline: float | None, margin: float, poll: float):
    """The run's stop check: the job's cancel flag (read at most every `poll` s), and with a deadline, the grant's
    end: stop once the next step (the longest gap between two checks so far, twice) would reach `margin` s
    before it, leaving the margin for the checkpoint."""
    state = {"next_poll": 0.0, "last": None, "gap": 0.0}

    def check() -> str:
        now = time.monotonic()
        if state["last"] is not None:
            state["gap"] = max(state["gap"], now - state["last"])
        state["last"] = now
        if deadline is not None and now + 2 * state["gap"] + margin >= deadline:
            return GRANT_ENDED
        if now >= state["next_poll"]:
            state["next_poll"] = now + poll
            if store.get(job_id).cancel_requested:  # type: ignore[union-attr]
                return "cancelled"
        return ""

    return check


def run_in_process(workspace: str | Path, *, name: str, profile: str, config_path: str | Path, resume: bool = False,
                   owner: str = "", job_id: int | None = None, deadline: float | None = None, margin: float = 0.0,
                   poll: float = 0.5) -> InProcessRun:
    """Train `config_path` in this process and thread, recorded as a job (a new row, or `job_id`'s when a grant
    continues one). `deadline` (time.monotonic()) ends a grant: the run stops at a checkpoint `margin` s before it
    and the row stays running (exit code EXIT_PAUSED). Otherwise the row is settled from the end event."""
    from autotrain_gradio.train import run_in_process as harness

    store = JobStore(workspace_root(workspace))
    try:
        job = store.get(job_id) if job_id is not None else _add_job(store, name, profile, config_path, resume, owner)
        code, ctx = harness(str(config_path), resume=resume,
                            stop_check=_stop_check(store, job.id, deadline, margin, poll))
        job = store.get(job.id) if code == EXIT_PAUSED else settle(store, store.get(job.id), code)
        return InProcessRun(job, code, dict(ctx.extra))  # type: ignore[arg-type]
    finally:
        store.close()


def run_in_grants(workspace: str | Path, *, name: str, profile: str, config_path: str | Path, duration: int,
                  call: Callable[[Callable[[], Any], int], Any] = spaces_grant, margin: float | None = None,
                  owner: str = "", max_grants: int = 1000, keep_objects: bool = True) -> InProcessRun:
    """Train over as many GPU grants of `duration` seconds as it takes, each made by `call(fn, duration)`, under
    one job row. `margin` (default: a tenth of the grant, at least 2 s) is kept free at each grant's end for the
    checkpoint. `keep_objects=False` returns no trained objects (on ZeroGPU they would be copied out of the GPU
    worker for nothing)."""
    margin = max(2.0, duration / 10) if margin is None else margin
    store = JobStore(workspace_root(workspace))
    try:  # the row is made here, in the app's process: a grant's worker process ends with its grant
        job_id = _add_job(store, name, profile, config_path, False, owner).id
    finally:
        store.close()

    for grant in range(1, max_grants + 1):
        def one(resume: bool = grant > 1) -> InProcessRun:
            deadline = time.monotonic() + duration
            done = run_in_process(workspace, name=name, profile=profile, config_path=config_path, resume=resume,
                                  job_id=job_id, deadline=deadline, margin=margin)
            if not keep_objects:
                done.extra = {}
            return done

        try:
            done = call(one, duration)
        except BaseException as err:  # the grant itself failed (expired, refused): the job says so, then re-raise
            _fail(workspace, job_id, f"GPU grant {grant} failed: {type(err).__name__}: {err}")
            raise
        if done.exit_code != EXIT_PAUSED:
            done.grants = grant
            return done
    _fail(workspace, job_id, f"not finished after {max_grants} GPU grants of {duration} s")
    raise RuntimeError(f"job {job_id} did not finish in {max_grants} grants of {duration} s")


def _fail(workspace: str | Path, job_id: int, error: str) -> None:
    store = JobStore(workspace_root(workspace))
    try:
        store.finish(job_id, "failed", error=error)
    finally:
        store.close()
