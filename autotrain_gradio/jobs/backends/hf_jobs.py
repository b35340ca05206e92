"""Jobs on Hugging Face hardware through huggingface_hub's job API (run_job, inspect_job, fetch_job_logs,
cancel_job); the hardware is the job's flavor (`a10g-small`, `l4x1`, `h200`, `cpu-basic` ...).

What it does with a job: the prepared dataset and a copy of config.toml whose paths point into the container go to
a private Hub dataset repo (`<user>/autotrain-data-<name>`), mounted read-only at /data; the container installs
this package, runs the same trainer command with push_to_hub on, so the model lands in a private model repo
(`hub_repo_id`, default `<user>/<name>`); the token is a job secret (never in `environment`), the submitter's own.
The trainer prints its events as tagged lines (AUTOTRAIN_EVENT_LINES=1) and the worker rebuilds events.jsonl
from the job's logs, so the app follows it like a local one.

The service cannot be reached from the test machines: tests check the exact spec `job_spec` builds against
huggingface_hub's own payload builder; nothing here has run against the real service yet.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from autotrain_gradio.config import save_config
from autotrain_gradio.events import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
from autotrain_gradio.jobs.store import Job
from autotrain_gradio.tasks import load_config

IMAGE = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
PACKAGE = "autotrain-gradio"  # what the container pip-installs; a job option (`package`) may name a git URL
DATA_MOUNT, RUN_ROOT = "/data", "/tmp/autotrain"
FINAL = {"COMPLETED": EXIT_OK, "ERROR": EXIT_FAILED, "CANCELED": EXIT_CANCELLED, "DELETED": EXIT_CANCELLED}


def repos(job: Job, user: str) -> tuple[str, str]:
    """(dataset repo, model repo) for this job."""
    cfg = load_config(job.config_path)
    return job.options.get("data_repo") or f"{user}/autotrain-data-{job.name}", cfg.hub_repo_id or f"{user}/{job.name}"


def remote_config(job: Job, model_repo: str) -> str:
    """config.toml as the container reads it: data under /data/data, output in the container, push on."""
    cfg = load_config(job.config_path)
    cfg = cfg.model_copy(update={"data_dir": f"{DATA_MOUNT}/data", "output_dir": f"{RUN_ROOT}/{job.name}",
                                 "push_to_hub": True, "hub_repo_id": model_repo})
    with tempfile.TemporaryDirectory() as tmp:
        return save_config(cfg, Path(tmp) / "config.toml").read_text(encoding="utf-8")


def job_spec(job: Job, *, user: str, secrets: dict[str, str]) -> dict:
    """The keyword arguments of `huggingface_hub.run_job` for this job (token excluded)."""
    data_repo, model_repo = repos(job, user)
    from huggingface_hub import Volume

    config = f"{RUN_ROOT}/config.toml"
    trainer = f"python -m autotrain_gradio.train --config {config}" + (" --resume" if job.resume else "")
    script = (f"set -e; pip install --quiet '{job.options.get('package', PACKAGE)}'; mkdir -p {RUN_ROOT}; "
              f"cp {DATA_MOUNT}/config.toml {config}; {trainer}")
    return {
        "image": job.options.get("image", IMAGE),
        "command": ["bash", "-c", script],
        "env": {"AUTOTRAIN_EVENT_LINES": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_ENABLE_HF_TRANSFER": "0"},
        "secrets": {k: v for k, v in secrets.items() if v},
        "flavor": job.options.get("flavor", "a10g-small"),
        "timeout": job.options.get("timeout", "6h"),
        "labels": {"autotrain-job": str(job.id), "autotrain-launch": job.launch_key or ""},
        "name": f"autotrain-{job.name}",
        "volumes": [Volume(type="dataset", source=data_repo, mount_path=DATA_MOUNT)],
    }


class HfJobsBackend:
    """Submit, follow and cancel jobs on the Hub with the submitter's token."""

    name = "hf-jobs"

    def __init__(self, token: str | None = None):
        from huggingface_hub import HfApi

        self.api = HfApi(token=token)

    def upload(self, job: Job, user: str) -> None:
        """The prepared dataset and the container's config.toml to the private dataset repo."""
        data_repo, model_repo = repos(job, user)
        cfg = load_config(job.config_path)
        self.api.create_repo(data_repo, repo_type="dataset", private=True, exist_ok=True)
        self.api.upload_folder(repo_id=data_repo, repo_type="dataset", folder_path=cfg.data_dir, path_in_repo="data")
        self.api.upload_file(repo_id=data_repo, repo_type="dataset", path_in_repo="config.toml",
                             path_or_fileobj=remote_config(job, model_repo).encode())

    def submit(self, job: Job, secrets: dict[str, str], submission_id: str) -> str:
        token = secrets.get("HF_TOKEN") or None
        user = self.api.whoami(token=token)["name"]
        self.upload(job, user)
        return self.api.run_job(**job_spec(job, user=user, secrets=secrets), token=token).id

    def status(self, remote_id: str) -> tuple[str | None, int | None, str]:
        info = self.api.inspect_job(job_id=remote_id)
        stage = str(info.status.stage.value if hasattr(info.status.stage, "value") else info.status.stage)
        return stage, FINAL.get(stage), info.status.message or ""

    def logs(self, remote_id: str) -> str:
        return "\n".join(self.api.fetch_job_logs(job_id=remote_id, follow=False)) + "\n"

    def stop(self, remote_id: str) -> None:
        self.api.cancel_job(job_id=remote_id)
