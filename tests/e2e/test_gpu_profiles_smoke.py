"""bench/gpu_profiles.py --smoke: the GPU profile bench's whole path on the CPU with the tiny models (random weights
rebuilt from the tiny configs, prepare, the real trainer, one sample / generation), so the script is known to run
before a GPU machine is lent for a few minutes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_smoke_measures_a_diffusion_and_an_llm_profile(tmp_path, tiny_cache, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("gpu_profiles", None)
    import gpu_profiles

    out = tmp_path / "table"
    code = gpu_profiles.main(["--smoke", "--only", "SD15-LoRA,LLM-SFT", "--warmup", "1", "--steps", "1",
                              "--sample-steps", "1", "--tokens", "2", "--scratch", str(tmp_path / "scratch"),
                              "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "[1/2] SD15-LoRA on CPU" in printed and "[2/2] LLM-SFT done" in printed  # progress as it goes
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["profile"] for r in rows] == ["SD15-LoRA", "LLM-SFT"]
    for row in rows:
        assert row["phases"]["train"]["s_per_step"] > 0 and row["phases"]["sample"]["s_per_step"] > 0, row
        assert row["estimate_gib"]["train"] > 0
    assert (rows[0]["size"], rows[0]["batch"], rows[1]["size"]) == ("32 px", 1, "96 tok")
    table = out.with_suffix(".md").read_text().splitlines()
    assert table[-2].startswith("| SD15-LoRA | 32 px") and table[-1].startswith("| LLM-SFT | 96 tok")
    # The model was rebuilt with random weights from the tiny configs, not copied.
    import torch
    from safetensors.torch import load_file

    from autotrain_gradio.tasks.tiny import resolve_model

    built = load_file(str(tmp_path / "scratch" / "llm" / "model.safetensors"))
    tiny = load_file(str(Path(resolve_model("tiny:llm")) / "model.safetensors"))
    assert built.keys() == tiny.keys()
    assert not all(torch.equal(built[k], tiny[k]) for k in built)
