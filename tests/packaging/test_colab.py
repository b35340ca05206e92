"""The Colab notebook: its cells are valid Python once IPython's magics are set aside, and it does what it says."""

from __future__ import annotations

import json

from tests.packaging import REPO


def test_colab_notebook_cells():
    notebook = json.loads((REPO / "notebooks" / "colab.ipynb").read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    for needle in ("launch(workspace=", "share=True", "run_pipeline(", "TinyFluxLORA", "monitor=True",
                   "Restart session", "No HF_TOKEN"):
        assert needle in code, needle
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            compile("\n".join(ln for ln in "".join(cell["source"]).splitlines() if not ln.lstrip().startswith(
                ("!", "%"))), "cell", "exec")
