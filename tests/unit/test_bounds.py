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


@pytest.fixture
def dataset(tmp_path):
    from autotrain_gradio.demo import make_sample_dataset

    return make_sample_dataset(tmp_path / "good", count=3, size=32)


def _refused(tmp_path, capsys, dataset) -> str:
    from tests.unit.test_pipeline_bad_input import run_cli

    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    code, text = run_cli(ws, capsys, "pipeline", "run", "--dataset-path", str(dataset), "--profile", "TinyFluxLORA")
    assert code == 2, text
    return text


def test_a_binary_or_non_utf8_caption_is_refused_naming_the_file(tmp_path, capsys, dataset):
    image = sorted(dataset.glob("*.png"))[0]
    caption = image.with_suffix(".txt")
    caption.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert f"caption {caption} is binary, not text; replace it with a UTF-8 text file" in _refused(tmp_path, capsys,
                                                                                                   dataset)
    caption.write_bytes("a caf\xe9".encode("latin-1"))
    assert f"caption {caption} is not UTF-8 text (byte 5); save it as UTF-8" in _refused(tmp_path, capsys, dataset)


def test_an_image_whose_aspect_ratio_no_bucket_takes_is_refused(tmp_path, capsys, dataset):
    from PIL import Image

    strip = dataset / "strip.png"
    Image.new("RGB", (2000, 20), (10, 200, 10)).save(strip)
    text = _refused(tmp_path, capsys, dataset)
    assert f"{strip} is 2000x20 pixels, an aspect ratio of 100:1, beyond the 8:1 that buckets allow" in text
