"""Issue 9's input edges in the config models: numeric bounds that would otherwise fail deep inside training (a
seed numpy cannot take, a 1e9 guidance), caption_extension without its dot, and a --config or profile file that is
not UTF-8 (one line; a broken user profile never hides the others)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from autotrain_gradio.config import ConfigError, read_toml
from autotrain_gradio.profiles import list_profiles
from autotrain_gradio.tasks.diffusion.config import DiffusionLoraConfig


@pytest.mark.parametrize("key, value", [("seed", 2**32), ("sample_seed", 2**32), ("lora_alpha", 1e9),
                                        ("sigmoid_scale", 1e6), ("discrete_flow_shift", 0), ("guidance_scale", 1e4),
                                        ("max_grad_norm", 1e9)])
def test_out_of_range_values_are_refused(key, value):
    with pytest.raises(ValidationError, match=key):
        DiffusionLoraConfig(name="x", **{key: value})
    DiffusionLoraConfig(name="x", seed=2**32 - 1, guidance_scale=3.5)  # the edges themselves are fine


def test_caption_extension_needs_its_dot():
    with pytest.raises(ValidationError, match="caption_extension must start with a dot, like '.txt' \\(got 'txt'\\)"):
        DiffusionLoraConfig(name="x", caption_extension="txt")
    assert DiffusionLoraConfig(name="x", caption_extension=".caption").caption_extension == ".caption"


def test_non_utf8_files_are_one_line_and_a_broken_profile_hides_no_other(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('description = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=f"--config {bad}: not UTF-8 text \\(byte 18\\); save it as UTF-8"):
        read_toml(bad, "--config")
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "Broken.toml").write_bytes(bad.read_bytes())
    monkeypatch.setenv("AUTOTRAIN_PROFILES_DIR", str(folder))
    found = list_profiles()
    assert "Broken" not in found and "FluxLORA" in found
    assert "not UTF-8 text" in capsys.readouterr().err
