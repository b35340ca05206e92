"""Where a job runs. `local` is the worker's own process group (jobs/launch.py); the remote backends here share
one shape the worker drives: `submit(job, secrets, submission_id) -> remote id`, `status(remote id) -> (their
status or None if unknown, exit code once final, message)`, `logs(remote id) -> text`, `stop(remote id)`.
The trainer command is the same everywhere. Their client libraries load only when a job uses them."""

from __future__ import annotations

from typing import Any

from autotrain_gradio.jobs.backends.errors import BackendError

__all__ = ["BackendError", "remote_backend"]


def remote_backend(name: str, options: dict[str, Any], secrets: dict[str, str] | None = None):
    """The client for a remote backend: `ray` (options: ray_address) or `hf-jobs` (the submitter's token)."""
    if name == "ray":
        from autotrain_gradio.jobs.backends.ray import RayBackend

        return RayBackend(options.get("ray_address"))
    if name == "hf-jobs":
        try:
            from autotrain_gradio.jobs.backends.hf_jobs import HfJobsBackend
        except ImportError as err:
            raise BackendError(f"--backend hf-jobs needs huggingface_hub with its job API: {err}") from None
        return HfJobsBackend(token=(secrets or {}).get("HF_TOKEN"))
    raise BackendError(f"unknown backend {name!r}; use local, ray or hf-jobs")
