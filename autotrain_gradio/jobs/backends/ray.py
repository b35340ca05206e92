"""Jobs on a Ray cluster through Ray's Job Submission API.

The entrypoint is the same trainer command the local backend runs (`python -m autotrain_gradio.train --config
...`); the runtime environment carries this package (`py_modules`), the job's own secrets and the stop grace
period; GPUs are asked for per job (`entrypoint_num_gpus`), so Ray places each job on a node that has them and
many jobs fan out over the cluster. Status, cancel and logs go through Ray; the log is mirrored into
`output/<name>/log/train.log`.

Events come back one of two ways (the `shared_fs` option): by default the workspace is on a filesystem every node
mounts at the same path (NFS, a cluster's shared disk, or one machine), so the trainer writes `events.jsonl` and
the outputs where the app looks; with `shared_fs=False` the trainer prints its events as tagged lines and the
worker rebuilds `events.jsonl` from the log Ray streams (outputs then stay on the node, or go to the Hub with
push_to_hub).

The cluster is found the way Ray's tools find it: the request's `ray_address`, else RAY_ADDRESS (the dashboard's
http address, e.g. http://127.0.0.1:8265).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import autotrain_gradio
from autotrain_gradio.events import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
from autotrain_gradio.jobs.backends.errors import BackendError
from autotrain_gradio.jobs.pids import LAUNCH_KEY_VAR
from autotrain_gradio.jobs.store import Job
from autotrain_gradio.threads import JOBS_VAR

INSTALL = 'pip install -e ".[ray]"  (or: pip install "ray[default]")'
# Not secrets: what makes a trainer behave the same on the cluster as here (offline mode, the tiny-model cache).
FORWARD_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "AUTOTRAIN_TINY_CACHE", "OMP_NUM_THREADS")
# Ray's job status -> ours; a Ray job that ends without our trainer's `end` event is settled from these.
FINAL = {"SUCCEEDED": EXIT_OK, "FAILED": EXIT_FAILED, "STOPPED": EXIT_CANCELLED}


def client(address: str | None):
    """A JobSubmissionClient for `address` (None: RAY_ADDRESS). Raises BackendError naming the install command
    or the address that did not answer."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise BackendError(f"--backend ray needs Ray's job client: {INSTALL}") from None
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise BackendError(f"no Ray cluster answers at {address or 'RAY_ADDRESS (unset)'}: {err}; start one "
                           "with `ray start --head --include-dashboard true` or pass --ray-address "
                           "http://HOST:8265") from None


def entrypoint(job: Job, num_gpus: int) -> str:
    """The trainer command as a shell line for Ray (run by the cluster's `python`); with `num_nodes` > 1 the Ray
    Train driver (ray_train.py) that runs the same trainer on that many workers."""
    args = ["python", "-m", "autotrain_gradio.train", "--config", job.config_path]
    workers = int(job.options.get("num_nodes") or 1)
    if workers > 1:
        args[1:3] = ["-m", "autotrain_gradio.jobs.backends.ray_train", "--workers", str(workers)]
        args += ["--gpus"] if num_gpus else []
    elif num_gpus > 1:
        args[1:3] = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_gpus),
                     "-m", "autotrain_gradio.train"]
    return shlex.join(args + (["--resume"] if job.resume else []))


def submission(job: Job, secrets: dict[str, str], submission_id: str) -> dict:
    """The keyword arguments of `JobSubmissionClient.submit_job` for this job."""
    num_gpus = int(job.options.get("num_gpus", 0))
    train_workers = int(job.options.get("num_nodes") or 1) > 1
    env = {k: os.environ[k] for k in FORWARD_VARS if k in os.environ}
    env.update(secrets)
    env.update({"PYTHONUNBUFFERED": "1", LAUNCH_KEY_VAR: job.launch_key or "", JOBS_VAR: str(job.max_concurrent),
                # Ray SIGTERMs the entrypoint on stop_job and SIGKILLs it after this many seconds.
                "RAY_JOB_STOP_WAIT_TIME_S": str(int(job.kill_grace))})
    if not job.options.get("shared_fs", True):
        env["AUTOTRAIN_EVENT_LINES"] = "1"
    return {
        "entrypoint": entrypoint(job, num_gpus),
        "submission_id": submission_id,
        "runtime_env": {"py_modules": [str(Path(autotrain_gradio.__file__).parent)], "env_vars": env},
        # A Ray Train driver only waits: its workers ask for the CPUs and GPUs.
        "entrypoint_num_cpus": 0 if train_workers else 1,
        "entrypoint_num_gpus": 0 if train_workers else num_gpus,
        "metadata": {"autotrain_job": str(job.id), "name": job.name},
    }


class RayBackend:
    """One cluster's job client, used by the worker (submit, status, logs) and by `cancel` (stop)."""

    name = "ray"

    def __init__(self, address: str | None = None):
        self.address = address
        self.client = client(address)

    def submit(self, job: Job, secrets: dict[str, str], submission_id: str) -> str:
        """Submit the trainer; returns Ray's submission id (ours, so a retry after a crash finds it)."""
        return self.client.submit_job(**submission(job, secrets, submission_id))

    def status(self, remote_id: str) -> tuple[str | None, int | None, str]:
        """(Ray status or None if Ray does not know the id, exit code once final, Ray's message)."""
        try:
            info = self.client.get_job_info(remote_id)
        except RuntimeError as err:
            if "404" in str(err) or "does not exist" in str(err):
                return None, None, ""
            raise
        status = str(info.status.value if hasattr(info.status, "value") else info.status)
        code = getattr(info, "driver_exit_code", None)
        if status in FINAL and code is None:
            code = FINAL[status]
        return status, code if status in FINAL else None, info.message or ""

    def logs(self, remote_id: str) -> str:
        return self.client.get_job_logs(remote_id)

    def stop(self, remote_id: str) -> None:
        """SIGTERM the trainer (it checkpoints and ends cancelled); Ray SIGKILLs after the grace period."""
        self.client.stop_job(remote_id)
