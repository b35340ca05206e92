"""How many CPU threads a trainer's torch may use: its share of the cores, decided once, before torch starts its
thread pools, in every launch path (the queue, `--immediate`, Ray: `train.main`; in-process: `run_in_process`).

torch sizes its pool to every core of the machine. On a busy machine those threads wait on each other at every
parallel region while other processes hold the cores (thrashing: a tiny text job ran 14x slower with 2 threads than
with 1 on a loaded 2-core machine). So a trainer takes, unless OMP_NUM_THREADS or its `cpu_threads` setting says:

    the cores it may use (its affinity mask) / the jobs its queue runs at once (AUTOTRAIN_JOBS_AT_ONCE), at least 1,
    and no more than the cores the rest of the machine leaves idle (its 1-minute load average) when it starts.

torch-free: the trainer calls it before importing torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

JOBS_VAR = "AUTOTRAIN_JOBS_AT_ONCE"  # set by the launcher: how many trainers its queue runs at the same time
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask; a container's cpuset shows here too)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def idle_cores(cores: int) -> int:
    """The cores other processes leave free, from the 1-minute load average (at least 1)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return max(1, min(cores, round(cores - load)))


def cpu_threads(setting: int = 0, env: dict[str, str] | None = None) -> tuple[int, str]:
    """(threads, why): `setting` if > 0, else OMP_NUM_THREADS if set, else the share described above."""
    env = os.environ if env is None else env
    if setting > 0:
        return setting, "cpu_threads setting"
    given = env.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given), "OMP_NUM_THREADS"
    cores = usable_cores()
    try:
        jobs = max(1, int(env.get(JOBS_VAR, "1")))
    except ValueError:
        jobs = 1
    share = max(1, cores // jobs)
    free = idle_cores(cores)
    return min(share, free), f"{cores} usable cores / {jobs} job(s) at once, {free} idle"


def use_cpu_threads(setting: int = 0) -> tuple[str, Callable[[], None]]:
    """Apply `cpu_threads` to this process: the OpenMP/MKL variables (read when torch starts its pools) and, if torch
    is already loaded (a notebook), torch's intra-op pool. Returns (why, a function that restores what was there)."""
    threads, why = cpu_threads(setting)
    saved = {var: os.environ.get(var) for var in THREAD_VARS}
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    if torch is not None:
        torch.set_num_threads(threads)

    def restore() -> None:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if torch is not None and before is not None:
            torch.set_num_threads(before)

    return why, restore
