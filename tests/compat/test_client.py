"""AutoTrain Advanced 0.8.36's own client module (`autotrain.client.Client`, installed from PyPI with --no-deps into
a folder of this test's own: its `autotrain` console script never shadows ours) drives `autotrain api`, our
standalone REST server, end to end: create_project with AutoTrain's body, get_logs with {"jid": ...}, stop_training
through /api/stop_training/{jid}. Skipped, with the reason, when the client cannot be installed or imported."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

TOKEN = "hf_compat_test_token"
CLIENT_RUN = r"""
import json, sys, time
from autotrain.client import Client

url, token, data = sys.argv[1:4]
client = Client(host=url, token=token, username="tester")
created = client.create(project_name="from-autotrain-client", task="text-classification", base_model="tiny:bert",
                        backend="spaces-a10g-large", dataset=data, train_split="train",
                        column_mapping={"text_column": "review", "target_column": "label"})
jid = created["job_id"]
running = None
for _ in range(600):  # follow the job until the trainer is stepping (bounded: 5 minutes)
    logs = client.get_logs(jid)
    if logs.get("status", {}).get("status") == "running" and logs["status"].get("step"):
        running = logs
        break
    time.sleep(0.5)
stopped = client.stop_training(jid)
final = None
for _ in range(240):
    final = client.get_logs(jid)
    if final.get("status", {}).get("status") in ("completed", "failed", "cancelled"):
        break
    time.sleep(0.5)
print(json.dumps({"created": created, "running": running, "stopped": stopped, "final": final}))
"""


@pytest.fixture(scope="module")
def client_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("autotrain-client")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           "autotrain-advanced==0.8.36", "loguru"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip("AutoTrain 0.8.36's client could not be installed from PyPI: "
                    + (proc.stderr.strip().splitlines() or ["no output"])[-1])
    check = subprocess.run([sys.executable, "-c", "import autotrain.client"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(target)}, timeout=300)
    if check.returncode != 0:
        pytest.skip(f"AutoTrain's client module does not import: {check.stderr.strip().splitlines()[-1]}")
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(240):  # bounded: 2 minutes on a busy machine
        if proc.poll() is not None:
            raise AssertionError(f"autotrain api exited: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/api/version", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("autotrain api did not answer within 2 minutes")


def test_autotrains_own_client_creates_follows_and_stops_a_job(client_dir, tmp_path):
    data = tmp_path / "reviews"
    data.mkdir()
    rows = "".join(f"{'good' if i % 2 else 'bad'} film number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(3000))
    (data / "train.csv").write_text("review,label\n" + rows, encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "AUTOTRAIN_API_TOKEN")}
    server = subprocess.Popen(
        [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(tmp_path / "ws"), "api", "--port",
         str(port), "--api-token", TOKEN, "--allowed-paths", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "OMP_NUM_THREADS": "1"})
    try:
        _wait_up(url, server)
        # Only the server's token gets in (AutoTrain's client sends its HF_TOKEN as the bearer token).
        request = urllib.request.Request(f"{url}/api/logs", data=b'{"jid": 1}', method="POST", headers={
            "Authorization": "Bearer hf_wrong", "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401
        run = subprocess.run([sys.executable, "-c", CLIENT_RUN, url, TOKEN, str(data)], capture_output=True,
                             text=True, env={**env, "PYTHONPATH": str(client_dir)}, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
        answer = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=30)
    created, running, stopped, final = (answer[k] for k in ("created", "running", "stopped", "final"))
    assert created["success"] is True and created["message"] == "Project created"
    assert isinstance(created["job_id"], int)
    assert "hardware spaces-a10g-large is ignored: this server trains on its own machine" in created["notes"]
    assert running is not None, final  # followed until it was training
    assert running["success"] is True and running["message"] == "Logs fetched successfully"
    assert "20 training" not in running["logs"] and "rows" in running["logs"]  # our log lines, as one text
    assert stopped["success"] is True and stopped["message"] == f"Training stopped for {created['job_id']}"
    assert final["status"]["status"] == "cancelled"
    config = (tmp_path / "ws" / "output" / "from-autotrain-client" / "config.toml").read_text()
    assert 'base_model = "tiny:bert"' in config and 'text_column = "review"' in config
    assert 'log_to = "tensorboard"' in config and 'hub_repo_id = "tester/from-autotrain-client"' in config
