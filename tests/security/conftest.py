"""The hostile second user: one real app per test session (login mode, alice and bob, a bearer token for alice),
driven with raw HTTP and a session cookie, as an attacker would: every refusal is read from the wire."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

TOKEN = "security-owner-token"
LOGINS = {"alice": "pw-a", "bob": "pw-b"}
LIMIT = 4 * 1024**2  # bytes per upload; a user may hold twice that


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    url: str
    root: Path
    shared: Path  # a folder the owner lets every signed-in user read (--allowed-paths)
    secret: Path  # a folder on the server nobody was allowed
    served: Any

    def session(self, user: str) -> httpx.Client:
        """A signed-in session (the cookie Gradio's login sets), as a browser or a script would hold it."""
        client = httpx.Client(base_url=self.url, timeout=60)
        assert client.post("/login", data={"username": user, "password": LOGINS[user]}).status_code == 200
        return client


def call(session: httpx.Client, api_name: str, *data: Any) -> tuple[str, Any]:
    """One call of a named endpoint over Gradio's HTTP API: ('complete', outputs) or ('error', message)."""
    started = session.post(f"/gradio_api/call/{api_name}", json={"data": list(data)})
    assert started.status_code == 200, started.text
    event_id = started.json()["event_id"]
    kind, payload = "", None
    with session.stream("GET", f"/gradio_api/call/{api_name}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:].strip()
            elif line.startswith("data: ") and kind in ("complete", "error"):
                payload = json.loads(line[6:]) if line[6:].strip() not in ("", "null") else None
                if kind == "error" and isinstance(payload, dict):
                    payload = payload.get("error")
                break
    return kind, payload


def upload(session: httpx.Client, path: Path) -> dict:
    """A file sent through Gradio's upload route, as the FileData an endpoint then takes."""
    with open(path, "rb") as fh:
        answer = session.post("/gradio_api/upload", files={"files": (path.name, fh)})
    assert answer.status_code == 200, answer.text
    return {"path": answer.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def file_data(path: str | Path) -> dict:
    return {"path": str(path), "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    from autotrain_gradio.ui.server import launch

    root = tmp_path_factory.mktemp("sec-ws")
    shared, secret = tmp_path_factory.mktemp("sec-shared"), tmp_path_factory.mktemp("sec-secret")
    (secret / "private.csv").write_text("text,target\nthe owner's secret row,1\n")
    served = launch(workspace=root, port=_free_port(), server_name="127.0.0.1", prevent_thread_lock=True,
                    auth=[f"{u}:{p}" for u, p in LOGINS.items()], api_token=TOKEN, allowed_paths=[str(shared)],
                    max_upload_bytes=LIMIT, max_disk_bytes=2 * LIMIT)
    yield App(served.url, root, shared, secret, served)
    served.close()


def wait_job(session: httpx.Client, job_id: int, until: tuple[str, ...], seconds: float = 300) -> dict:
    """Poll a job's status (bounded) until it is in one of `until`."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        kind, out = call(session, "job_status", job_id)
        assert kind == "complete", out
        if out[0]["status"] in until:
            return out[0]
        assert time.monotonic() < deadline, out
        time.sleep(0.5)


@pytest.fixture(scope="session")
def lora_runs(app):
    """A finished tiny Flux LoRA run of alice's (started through the API) and a copy of it owned by bob: the runs
    the Try tests play with. Returns {user: job id}."""
    import os
    import shutil

    from autotrain_gradio.auth import User
    from autotrain_gradio.demo import make_sample_dataset
    from autotrain_gradio.jobs import JobStore

    alice = app.session("alice")
    data = make_sample_dataset(app.shared / "shapes", count=2)
    settings = {"max_steps": 2, "sample_every": 0, "sample_steps": 1, "checkpoint_every": 0}
    kind, (out,) = call(alice, "start_job", str(data), "TinyFluxLORA", "lora", settings)
    assert kind == "complete" and out["ok"], out
    status = wait_job(alice, out["job_id"], ("completed", "failed", "cancelled"))
    assert status["status"] == "completed", status
    source = app.root / "output" / status["name"]
    copy = app.root / "output" / f"{User('bob').folder}--lora"
    shutil.copytree(source, copy)
    store = JobStore(app.root)
    try:
        job = store.add(name=copy.name, profile="TinyFluxLORA", config_path=copy / "config.toml", output_dir=copy,
                        owner="bob", running_pid=os.getpid())
        store.finish(job.id, "completed")
    finally:
        store.close()
    return {"alice": out["job_id"], "bob": job.id}
