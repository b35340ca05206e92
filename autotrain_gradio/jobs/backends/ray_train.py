"""One job over N Ray Train workers: the Ray job's entrypoint when a job has `num_nodes` > 1.

`python -m autotrain_gradio.jobs.backends.ray_train --config output/<name>/config.toml --workers N [--gpus]
[--resume]` runs on the cluster as the Ray job's driver (it only waits: no CPU or GPU of its own). It starts a Ray
Train `TorchTrainer` with N workers (one rank each, one GPU each with `--gpus`); Ray Train sets RANK / WORLD_SIZE /
MASTER_ADDR and the process group (gloo on CPUs, NCCL on GPUs), and each worker runs the same trainer harness on the
job's config.toml (`train.run_in_process`), so rank 0 alone writes events, checkpoints and the model, on the
cluster's shared storage (the workspace every node mounts) or as event lines streamed back in the job's log.

Cancel: Ray's `stop_job` SIGTERMs this driver. A Train worker runs the harness in a thread, where no signal handler
can be installed, so the driver passes the stop on through a small actor that the workers' `stop_check` polls; the
ranks agree on the step (tasks/distributed.py), rank 0 checkpoints, the run ends cancelled and this driver exits
143. `--resume` continues from that checkpoint with the same N (another N is refused in one line).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from autotrain_gradio.events import EXIT_CANCELLED, EXIT_FAILED

STOP_REASON = "cancelled through Ray"
POLL_S = 1.0  # how often a worker asks the stop actor (the loops read stop_requested many times a step)


class StopFlag:
    """Set once by the driver on SIGTERM; read by the workers."""

    def __init__(self) -> None:
        self.stop = False

    def set(self) -> None:
        self.stop = True

    def get(self) -> bool:
        return self.stop


def worker_loop(config: dict) -> None:
    """One Ray Train worker: the trainer harness on this rank; a failed run fails the worker (and so the job)."""
    import ray
    import ray.train

    from autotrain_gradio.train import run_in_process

    flag, seen = config["stop"], {"at": 0.0, "stop": False}

    def stop_check() -> str:
        now = time.monotonic()
        if not seen["stop"] and now - seen["at"] >= POLL_S:
            seen["at"], seen["stop"] = now, bool(ray.get(flag.get.remote()))
        return STOP_REASON if seen["stop"] else ""

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    where = f" rank {rank} of {world} (Ray Train worker on {ray.util.get_node_ip_address()})"
    if rank != 0:  # rank 0 writes it to events; the others only to the job's log
        print(f"[info] trainer pid {os.getpid()}{where}", flush=True)
    code, _ = run_in_process(config["config_path"], resume=config["resume"], stop_check=stop_check, where=where)
    if code not in (0, EXIT_CANCELLED):
        raise RuntimeError(f"rank {rank}: the trainer ended with exit code {code}; see the events and the log")


def prebuild_tiny(config_path: str) -> None:
    """Build a `tiny:` base model here, before the workers: inside a worker the process group already exists and
    transformers writes a model only on rank 0, so a rank 1 that took the build lock would leave a folder with no
    weights. (On nodes without a shared cache each builds its own copy.)"""
    from autotrain_gradio.tasks import load_config
    from autotrain_gradio.tasks.tiny import TINY_PREFIX, resolve_model

    base = getattr(load_config(config_path), "base_model", "")
    if isinstance(base, str) and base.startswith(TINY_PREFIX):
        resolve_model(base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autotrain_gradio.jobs.backends.ray_train")
    parser.add_argument("--config", required=True, help="output/<name>/config.toml")
    parser.add_argument("--workers", type=int, required=True, help="Ray Train workers (ranks)")
    parser.add_argument("--gpus", action="store_true", help="one GPU per worker")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    args = parser.parse_args(argv)

    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    prebuild_tiny(args.config)
    ray.init()  # inside a Ray job: the job's cluster
    flag = ray.remote(num_cpus=0)(StopFlag).remote()
    stopped = []

    def request_stop(signum, frame):
        if not stopped:
            stopped.append(signum)
            flag.set.remote()
            print("[info] stop requested: the workers checkpoint at the next step", flush=True)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    trainer = TorchTrainer(
        worker_loop,
        train_loop_config={"config_path": os.path.abspath(args.config), "resume": args.resume, "stop": flag},
        scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=args.gpus),
        run_config=RunConfig(name=f"autotrain-{os.getpid()}"),
    )
    try:
        trainer.fit()
    except Exception as err:  # noqa: BLE001 - Ray's TrainingFailedError wraps the worker's error: one line, exit 1
        print(f"error: Ray Train failed: {err}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    return EXIT_CANCELLED if stopped else 0


if __name__ == "__main__":  # run as -m: Ray pickles the module's functions by reference, not __main__'s by value
    from autotrain_gradio.jobs.backends.ray_train import main as module_main

    sys.exit(module_main())
