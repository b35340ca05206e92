"""Every shipped profile loads and validates; user profiles appear; precedence is defaults < profile < overrides."""

import pytest

from autotrain_gradio.profiles import SHIPPED_DIR, ProfileError, get_profile, list_profiles, load_profile_file

CORE = ["Flux", "FluxLORA", "ImageClassification", "ImageRegression", "SD15-LoRA", "SDXL", "SDXL-LoRA",
        "TabularClassification", "TabularRegression", "TextClassification", "TextRegression", "TinyFluxLORA",
        "TinyImageClassification", "TinyImageRegression", "TinyTextClassification", "TinyTextRegression"]
NO_BASE_MODEL = {"tabular"}  # tasks that fit a model from scratch (scikit-learn / XGBoost): nothing to load
SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.toml"))


def test_shipped_profiles_are_all_there():
    assert set(CORE) <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_profile_loads_and_validates(name):
    prof = load_profile_file(SHIPPED_DIR / f"{name}.toml")
    cfg = prof.build()
    assert cfg.task == prof.task
    assert bool(cfg.base_model) != (prof.task in NO_BASE_MODEL)
    assert prof.description


def test_profile_values_win_over_model_defaults_and_overrides_win_over_profile():
    prof = get_profile("FluxLORA")
    assert prof.build().lora_rank == 16
    assert prof.build({"lora_rank": 64}).lora_rank == 64
    assert prof.build().learning_rate == 1e-4
    vit = get_profile("ImageClassification").build()
    assert (vit.learning_rate, vit.epochs, vit.batch_size, vit.warmup_ratio) == (5e-5, 3, 8, 0.1)
    assert vit.base_model == "google/vit-base-patch16-224"


@pytest.mark.parametrize("variable", ["AUTOTRAIN_PROFILES", "AUTOTRAIN_PROFILES_DIR", "HOME"])
def test_user_profile_folder_adds_a_profile(tmp_path, monkeypatch, variable):
    monkeypatch.delenv("AUTOTRAIN_PROFILES", raising=False)
    monkeypatch.delenv("AUTOTRAIN_PROFILES_DIR", raising=False)
    folder = tmp_path / ".config" / "autotrain-gradio" / "profiles" if variable == "HOME" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv(variable, str(tmp_path))
    (folder / "MyStyle.toml").write_text('task = "diffusion-lora"\ndescription = "mine"\n'
                                           '[config]\nmodel_type = "sd15"\nlora_rank = 8\n')
    assert "MyStyle" in list_profiles()
    assert get_profile("mystyle").build().lora_rank == 8


def test_workspace_profile_folder_adds_a_profile(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "Ws.toml").write_text('task = "image-classification"\n')
    assert "Ws" in list_profiles(tmp_path)


def test_broken_profile_is_reported_with_its_path(tmp_path):
    bad = tmp_path / "Bad.toml"
    bad.write_text('task = "diffusion-lora"\n[config]\nlora_rank = -1\n')
    with pytest.raises(ProfileError, match=r"Bad.toml: setting 'lora_rank'"):
        load_profile_file(bad)
    bad.write_text('task = "diffusion-lora"\nlora_rank = 4\n')
    with pytest.raises(ProfileError, match=r"unknown top-level keys \['lora_rank'\]"):
        load_profile_file(bad)


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ProfileError, match=r"unknown profile 'Nope'; valid profiles: (\w+, )*Flux, FluxLORA"):
        get_profile("Nope")


def test_malformed_profile_value_is_a_profile_error_and_is_skipped_when_listing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUTOTRAIN_PROFILES_DIR", str(tmp_path))
    (tmp_path / "Odd.toml").write_text('task = "diffusion-lora"\nmin_images = "many"\n')
    with pytest.raises(ProfileError, match=r"Odd.toml: invalid literal for int"):
        load_profile_file(tmp_path / "Odd.toml")
    assert "Odd" not in list_profiles() and "FluxLORA" in list_profiles()
    assert "warning: skipping profile" in capsys.readouterr().err
