"""The Colab notebook, executed top to bottom offline in a real Jupyter kernel, as a user runs it: the kernel's Python
is a fresh environment without the package, so the install cell installs it from SOURCE (the wheel built from this
checkout: the one field a user edits); the app cell returns with the app serving (no share link offline: a local URL
and a clear message), the stop cell stops it; the pipeline cells render the live view: a progress bar redrawn in
place up to the last step, the loss curve and the newest samples."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.packaging import REPO
from tests.packaging.conftest import make_venv, venv_env

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need the [dev] extra (nbclient, ipykernel)")
nbclient = pytest.importorskip("nbclient", reason="the notebook tests need the [dev] extra (nbclient, ipykernel)")
STEPS = 6  # the notebook's 40 demo steps, cut for the test (the only change besides SOURCE)


class Recording(nbclient.NotebookClient):
    """nbclient's client, keeping every in-place redraw (update_display_data) it applies."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.updates: list[tuple[int, dict]] = []  # (cell index, the redrawn data)

    def _update_display_id(self, display_id, msg):
        cells = self._display_id_map.get(display_id, {})
        self.updates += [(index, dict(msg["content"]["data"])) for index in cells]
        super()._update_display_id(display_id, msg)


def _kernel(venv: Path, folder: Path):
    """A kernel spec whose Python is the environment's (the stock "python3" spec would run this interpreter)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = folder / "kernels" / "venv"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "venv", "language": "python"}))
    return KernelManager(kernel_name="venv", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _displays(cell) -> list[dict]:
    return [o["data"] for o in cell.outputs if o.output_type == "display_data"]


def _source(text: str, wheel: Path) -> str:
    """The edits a user makes: SOURCE set; and the demo's step count cut for the test."""
    return text.replace('SOURCE = ""', f'SOURCE = "{wheel}"').replace('"max_steps": 40', f'"max_steps": {STEPS}')


def test_notebook_runs_top_to_bottom_and_shows_live_progress(tmp_path, wheel):
    venv = make_venv(tmp_path / "venv")
    nb = nbformat.read(REPO / "notebooks" / "colab.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = _source(cell.source, wheel)
    port = _free_port()
    env = venv_env(venv, tmp_path)
    env.update(AUTOTRAIN_WORKSPACE=str(tmp_path / "ws"), GRADIO_SERVER_PORT=str(port), TOKENIZERS_PARALLELISM="false")
    client = Recording(nb, km=_kernel(venv, tmp_path), timeout=600, allow_errors=False,
                       resources={"metadata": {"path": str(tmp_path)}})
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    install, setup, start, stop, dataset, queued, follow, files = code[:8]
    with client.setup_kernel(env=env, cwd=str(tmp_path)):
        for index in code:
            client.execute_cell(nb.cells[index], index)
            if index == start:  # the cell returned and the app answers
                assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
            if index == stop:
                with pytest.raises(httpx.HTTPError):
                    httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    # Installed from the wheel into the kernel's environment (it was not there before the cell ran).
    assert f"autotrain-gradio from {venv}/lib/" in _text(nb.cells[install])
    assert "No HF_TOKEN" in _text(nb.cells[setup])
    assert re.search(rf"No share link could be made .* at http://127\.0\.0\.1:{port}/", _text(nb.cells[start]))
    assert "The app is stopped." in _text(nb.cells[stop])
    assert "errors: []" in _text(nb.cells[dataset])
    assert "exit code 0" in _text(nb.cells[queued])
    assert "pytorch_lora_weights.safetensors" in _text(nb.cells[files])
    for index in (queued, follow):  # run_pipeline(monitor=True), then following the job again
        progress, loss, latest = _displays(nb.cells[index])  # three outputs, each redrawn in place
        assert "<progress value='100.0' max='100'" in progress["text/html"]
        assert f"step {STEPS}/{STEPS}" in progress["text/html"] and "completed" in progress["text/html"]
        assert re.fullmatch(rf"\[=+\] 100\.0% \({STEPS}/{STEPS}\) \| ETA: 00:00:00 \| Loss: [\d.e-]+ \| Queue: 0",
                            progress["text/plain"])  # a plain frontend shows the terminal's line
        assert base64.b64decode(loss["image/png"]).startswith(b"\x89PNG")
        assert "<img src='data:image/png;base64," in latest["text/html"] and "red" in latest["text/html"]
    # Live: while the queued run trained, the bar was redrawn at intermediate steps (never a new output per step).
    steps = {int(m.group(1)) for i, data in client.updates if i == queued
             for m in [re.search(r"step (\d+)/", data.get("text/html", ""))] if m}
    assert len(steps) >= 2 and min(steps) < STEPS, steps
    trained = _text(nb.cells[code[-2]])  # section C: trained in the kernel's process, then sampled from
    assert "exit code 0" in trained and "with a LoRA adapter: True" in trained
    (result,) = [o for o in nb.cells[code[-1]].outputs if o.output_type == "execute_result"]
    image = Image.open(io.BytesIO(base64.b64decode(result["data"]["image/png"])))
    assert image.size == (256, 256) and any(lo < hi for lo, hi in image.getextrema())  # rendered, not a blank
