"""A job's secrets: its submitter's token reaches that job's trainer and nothing else.

The submitter hands its secrets (HF_TOKEN and friends, from its own environment or given by the app) to the
workspace's worker over a Unix socket (mode 0600, the peer's uid checked) before the job is queued; the store
keeps only a random handle (`secrets_id`). The worker holds them in memory and puts them into that one trainer's
environment; its own environment's tokens never reach any trainer. Nothing is written to a file or a log. A
worker that dies loses them: a job that had some and has not started fails with a message saying to resume it
(the resumer hands over its own).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import tempfile
from pathlib import Path

from autotrain_gradio.events import TOKEN_VARS

SECRET_VARS = (*TOKEN_VARS, "WANDB_API_KEY")
SOCKET_NAME = ".worker.sock"
LOST = ("its submitter's token was lost when the worker restarted (secrets are never stored): "
        "`autotrain train resume --job {id}` queues it again with yours")


def own_secrets() -> dict[str, str]:
    """The secrets in this process's environment: what a CLI submission passes to its job."""
    return {k: os.environ[k] for k in SECRET_VARS if os.environ.get(k)}


def socket_path(workspace: Path) -> Path:
    """`<workspace>/.worker.sock`, or a private folder under the temp dir when that path is too long for AF_UNIX."""
    path = Path(workspace).resolve() / SOCKET_NAME
    if len(str(path)) < 100:
        return path
    private = Path(tempfile.gettempdir()) / f"autotrain-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    return private / (hashlib.sha1(str(path).encode()).hexdigest()[:16] + ".sock")


class SecretInbox:
    """The worker's end: a listening socket and the secrets received, by handle."""

    def __init__(self, workspace: Path):
        self.path = socket_path(workspace)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a dead worker's socket; only the lock holder gets here
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self.sock.bind(str(self.path))
        finally:
            os.umask(old)
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.held: dict[str, dict[str, str]] = {}

    def receive(self) -> int:
        """Take every pending hand-over; returns how many arrived."""
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return count
            with conn:
                conn.settimeout(2.0)
                try:
                    uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
                    if uid != os.getuid():
                        continue
                    data = b""
                    while not data.endswith(b"\n") and len(data) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    message = json.loads(data)
                    self.held[str(message["id"])] = {str(k): str(v) for k, v in message["env"].items()}
                    conn.sendall(b"ok\n")
                    count += 1
                except (OSError, ValueError, KeyError, AttributeError):
                    continue  # a broken hand-over: the submitter sees no "ok" and tries again

    def pop(self, secrets_id: str) -> dict[str, str] | None:
        """The secrets for this handle (forgotten from here on), or None if they never arrived or were lost."""
        return self.held.pop(secrets_id, None)

    def close(self) -> None:
        """Stop listening and remove the socket file (once: by then it may be a newer worker's)."""
        if self.sock.fileno() == -1:
            return
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def hand_over(workspace: Path, secrets_id: str, env: dict[str, str], timeout: float = 10.0) -> bool:
    """Give the worker `env` under `secrets_id`. False if no worker listens or it did not confirm."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(socket_path(workspace)))
        sock.sendall(json.dumps({"id": secrets_id, "env": env}).encode() + b"\n")
        return sock.recv(16).startswith(b"ok")
    except OSError:
        return False
    finally:
        sock.close()


def wake(workspace: Path) -> None:
    """Wake the workspace's worker (an empty connection to its inbox), so a job just queued starts at once rather
    than at its next look at the store. Nothing happens when no worker listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1.0)
    with contextlib.suppress(OSError):
        sock.connect(str(socket_path(workspace)))
    sock.close()
