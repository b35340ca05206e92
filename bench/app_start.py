"""App start: `autotrain app` from a cold interpreter to its first page (GET / and the page's /config answered),
against `python -c "import gradio"` (the least any Gradio app costs); CPU seconds of each process, paired A B A B.
Target: ours <= 1.3x.

    python bench/app_start.py [--reps 4]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import Pairs, Sample, load_note, paired, proc_cpu_s, run_child  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
            return resp.status == 200
    except OSError:
        return False


def app(workspace: Path, timeout: float = 300) -> Sample:
    """Start the app, wait for its first page, read its CPU seconds, stop it."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(workspace), "app",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + timeout
        base = f"http://127.0.0.1:{port}"
        while not _get(base + "/"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not serve its first page (exit {proc.poll()})")
            time.sleep(0.02)
        _get(base + "/config")
        wall = time.perf_counter() - t0
        cpu = proc_cpu_s(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return Sample(cpu, wall)


def gradio_import() -> Sample:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    return run_child([sys.executable, "-c", "import gradio"], env=env)[0]


def measure(reps: int) -> Pairs:
    with tempfile.TemporaryDirectory() as tmp:
        return paired(Pairs("app start (to first page)", 1.3, note=""), lambda rep: app(Path(tmp) / f"ws{rep}"),
                      lambda rep: gradio_import(), reps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=4)
    pairs = measure(parser.parse_args().reps)
    from paired import HEADER

    print(load_note())
    print(HEADER)
    print(pairs.row())


if __name__ == "__main__":
    main()
