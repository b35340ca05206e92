"""Every bad input: one specific message naming the file or value and the fix, exit code 2, workspace unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.cli import main
from autotrain_gradio.demo import make_sample_dataset


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under root with a hash of its bytes: equal snapshots mean byte-identical trees."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def good(tmp_path):
    return make_sample_dataset(tmp_path / "good", count=4, size=32)


def run_cli(ws: Path, capsys, *args: str) -> tuple[int, str]:
    before = snapshot(ws)
    code = main(["--workspace", str(ws), *args])
    out = capsys.readouterr()
    assert snapshot(ws) == before, "a rejected request must leave the workspace byte-identical"
    return code, out.out + out.err


def expect(ws, capsys, fragment: str, *args: str) -> str:
    code, text = run_cli(ws, capsys, *args)
    assert code == 2, text
    assert fragment in text, text
    return text


def test_missing_path(ws, capsys, tmp_path):
    expect(ws, capsys, f"dataset path not found: {tmp_path / 'nope'}", "pipeline", "run", "--dataset-path",
           str(tmp_path / "nope"), "--profile", "TinyFluxLORA")


def test_file_instead_of_folder(ws, capsys, tmp_path):
    f = tmp_path / "photo.jpg"
    f.write_bytes(b"x")
    expect(ws, capsys, f"dataset path is a file, not a folder: {f}; pass the folder that holds the images",
           "pipeline", "prepare", "--dataset-path", str(f), "--profile", "TinyFluxLORA")


def test_empty_folder(ws, capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    expect(ws, capsys, "dataset folder is empty", "pipeline", "run", "--dataset-path", str(tmp_path / "empty"),
           "--profile", "TinyFluxLORA")


def test_no_images(ws, capsys, tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "notes.pdf").write_bytes(b"%PDF")
    (d / "readme.txt").write_text("hi")
    expect(ws, capsys, f"no image files found in {d} (looked for .jpg", "pipeline", "run", "--dataset-path", str(d),
           "--profile", "TinyFluxLORA")


def test_fewer_than_min_images(ws, capsys, good):
    expect(ws, capsys, f"{good} has 4 images,", "pipeline", "run", "--dataset-path", str(good), "--profile",
           "TinyFluxLORA", "--min-images", "10")
    _, text = run_cli(ws, capsys, "pipeline", "run", "--dataset-path", str(good), "--profile", "TinyFluxLORA",
                      "--min-images", "10")
    assert "fewer than --min-images 10; add images or lower --min-images" in text


def test_truncated_image(ws, capsys, good):
    png = (good / "sample_00.png").read_bytes()
    (good / "cut.png").write_bytes(png[: len(png) // 2])
    expect(ws, capsys, f"cannot decode {good / 'cut.png'}", "pipeline", "run", "--dataset-path", str(good),
           "--profile", "TinyFluxLORA")


def test_jpg_that_is_really_text(ws, capsys, good):
    (good / "fake.JPG").write_text("this is not a picture")
    expect(ws, capsys, f"{good / 'fake.JPG'} is not an image", "pipeline", "run", "--dataset-path", str(good),
           "--profile", "TinyFluxLORA")


def test_zero_byte_file(ws, capsys, good):
    (good / "zero.png").write_bytes(b"")
    expect(ws, capsys, f"{good / 'zero.png'} is empty (0 bytes)", "pipeline", "run", "--dataset-path", str(good),
           "--profile", "TinyFluxLORA")


def test_decompression_bomb(ws, capsys, good):
    Image.new("1", (10_000, 10_000)).save(good / "bomb.png")  # 100 MP, a few KB on disk
    text = expect(ws, capsys, f"{good / 'bomb.png'}", "pipeline", "run", "--dataset-path", str(good),
                  "--profile", "TinyFluxLORA")
    assert "decompression bomb" in text and "downscale it" in text


def test_unknown_profile_lists_valid_ones(ws, capsys, good):
    from autotrain_gradio.profiles import list_profiles

    names = ", ".join(sorted(list_profiles(ws)))  # whatever profiles ship: all of them, sorted
    assert "Flux, FluxLORA" in names and "ImageClassification" in names
    expect(ws, capsys, f"unknown profile 'Nudes'; valid profiles: {names}", "pipeline", "run", "--dataset-path",
           str(good), "--profile", "Nudes")


@pytest.mark.parametrize("name,fragment", [
    ("../escape", "may not contain '..', '/'"),
    ("a/b", "may not contain '..', '/'"),
    ("my data", "contains spaces; use '_' instead, e.g. 'my_data'"),
    ("x" * 65, "is 65 characters; use at most 64"),
])
def test_bad_dataset_names(ws, capsys, good, name, fragment):
    expect(ws, capsys, fragment, "pipeline", "run", "--dataset-path", str(good), "--profile", "TinyFluxLORA",
           "--dataset-name", name)


def test_not_enough_disk(ws, capsys, good):
    (ws / "profiles").mkdir()
    (ws / "profiles" / "Huge.toml").write_text('task = "diffusion-lora"\nestimated_output_gb = 1e9\n'
                                               '[config]\nbase_model = "tiny:flux"\n')
    expect(ws, capsys, f"not enough disk space in {ws}: need ~", "pipeline", "run", "--dataset-path", str(good),
           "--profile", "Huge")


def test_existing_output_without_force(ws, capsys, good):
    (ws / "output" / "good").mkdir(parents=True)
    (ws / "output" / "good" / "config.toml").write_text("")
    expect(ws, capsys, f"{ws / 'output' / 'good'} already exists from an earlier run; pass --force", "pipeline",
           "run", "--dataset-path", str(good), "--profile", "TinyFluxLORA")


def test_force_never_deletes_a_folder_the_app_did_not_write(ws, capsys, good):
    (ws / "output" / "good").mkdir(parents=True)
    (ws / "output" / "good" / "thesis.docx").write_text("precious")
    expect(ws, capsys, "was not written by autotrain (no config.toml); --force will not delete it", "pipeline",
           "run", "--dataset-path", str(good), "--profile", "TinyFluxLORA", "--force")


def test_unknown_set_key(ws, capsys, good):
    expect(ws, capsys, "unknown setting 'lora_rnk' for task diffusion-lora (did you mean 'lora_rank'?)", "pipeline",
           "run", "--dataset-path", str(good), "--profile", "TinyFluxLORA", "--set", "lora_rnk=8")


def test_out_of_range_set_value(ws, capsys, good):
    expect(ws, capsys, "setting 'learning_rate': Input should be greater than 0 (got -1)", "pipeline", "run",
           "--dataset-path", str(good), "--profile", "TinyFluxLORA", "--set", "learning_rate=-1")


def test_bad_gpu_ids(ws, capsys, good, monkeypatch):
    expect(ws, capsys, "--gpu-ids expects comma-separated GPU numbers", "pipeline", "run", "--dataset-path",
           str(good), "--profile", "TinyFluxLORA", "--gpu-ids", "first")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # what this process may use: two GPUs
    expect(ws, capsys, "--gpu-ids 1,2: this machine has GPUs 0-1 (CUDA_VISIBLE_DEVICES / nvidia-smi); leave "
           "--gpu-ids out to use the free ones", "pipeline", "run", "--dataset-path", str(good), "--profile",
           "TinyFluxLORA", "--gpu-ids", "1,2")


def test_classification_needs_two_class_folders(ws, capsys, tmp_path):
    make_sample_dataset(tmp_path / "cls" / "cats", count=3, size=32)
    expect(ws, capsys, "has one class (cats); a classifier needs at least 2", "pipeline", "run", "--dataset-path",
           str(tmp_path / "cls"), "--profile", "TinyImageClassification")


def test_diffusion_profile_on_class_folders_says_what_to_do(ws, capsys, tmp_path):
    make_sample_dataset(tmp_path / "cls" / "cats", count=3, size=32)
    expect(ws, capsys, "they are in sub-folders (cats): move them up", "pipeline", "run", "--dataset-path",
           str(tmp_path / "cls"), "--profile", "TinyFluxLORA")


def test_force_refuses_while_a_job_uses_the_output(ws, capsys, good):
    from autotrain_gradio.jobs import JobStore

    out = ws / "output" / "good"
    out.mkdir(parents=True)
    (out / "config.toml").write_text("")
    store = JobStore(ws)
    job = store.add(name="good", profile="TinyFluxLORA", config_path=out / "config.toml", output_dir=out)
    store.close()
    expect(ws, capsys, f"job {job.id} (queued) is using {out}; --force would delete it under the job: cancel it "
           f"first (autotrain train cancel --job {job.id})", "pipeline", "run", "--dataset-path", str(good),
           "--profile", "TinyFluxLORA", "--force")


def test_train_start_with_a_missing_config_is_one_line_exit_2(ws, capsys, tmp_path):
    expect(ws, capsys, f"error: config {tmp_path / 'nope.toml'}: file not found", "train", "start", "--config",
           str(tmp_path / "nope.toml"))


def test_train_start_flags_are_a_typed_request(ws, capsys, good, tmp_path):
    """`train start` takes a StartRequest: a bad value is the model's one line, exit 2; --immediate with a remote
    backend is refused (it used to train locally and exit 0)."""
    assert main(["--workspace", str(tmp_path / "prep"), "pipeline", "prepare", "--dataset-path", str(good),
                 "--profile", "TinyFluxLORA"]) == 0
    config = str(tmp_path / "prep" / "output" / "good" / "config.toml")
    capsys.readouterr()
    text = expect(ws, capsys, "error: max_concurrent: Input should be greater than or equal to 1", "train", "start",
                  "--config", config, "--max-concurrent", "0")
    assert text.count("\n") == 1
    expect(ws, capsys, "error: immediate runs the trainer here in the foreground; with backend ray drop --immediate",
           "train", "start", "--config", config, "--backend", "ray", "--immediate")
    # `caption` flags are the captioning config's fields, checked by it
    expect(ws, capsys, "setting 'max_new_tokens': Input should be greater than or equal to 1", "caption",
           "--dataset-path", str(good), "--model", "tiny:captioner", "--max-length", "0")
    assert not (tmp_path / "prep" / "jobs.db").exists()


def test_unreachable_base_model_is_one_sentence_on_every_face(ws, capsys, good, tmp_path):
    """The plan checks the base model, so --dry-run, the CLI, the Python API and the app's Validate and Start say
    the same sentence with exit code 2, and nothing is written or queued."""
    from autotrain_gradio.auth import Access, User
    from autotrain_gradio.pipeline import run_pipeline
    from autotrain_gradio.ui.actions import AppContext, run_request

    sentence = ("base model black-forest-labs/FLUX.1-dev is not in the local Hugging Face cache and the Hub is "
                "switched off (HF_HUB_OFFLINE); download it first (hf download black-forest-labs/FLUX.1-dev) or "
                "point base_model at a local folder")
    for mode in ("--dry-run", "--immediate"):
        text = expect(ws, capsys, sentence, "pipeline", "run", "--dataset-path", str(good), "--profile", "FluxLORA",
                      mode)
        assert text.count("❌") == 1
    api = run_pipeline(dataset_path=good, profile="FluxLORA", workspace=ws, quiet=True)
    assert not api and api.errors == [sentence]
    ctx = AppContext(ws, Access.from_settings(ws, space=False, allowed_paths=[str(tmp_path)]))
    for dry_run in (True, False):
        app = run_request(ctx, User(""), str(good), "FluxLORA", dry_run=dry_run)
        assert app.exit_code == 2 and app.errors == [sentence] and app.job_id is None
    assert snapshot(ws) == {}
    fine = run_pipeline(dataset_path=good, profile="FluxLORA", workspace=ws, quiet=True, dry_run=True,
                        base_model="tiny:flux", model_type="flux")
    assert fine and [p.phase for p in fine.phases][:2] == ["validate", "base model"]


# --- the seed's Python calls, written exactly as the seed writes them ------------------------------------------


def test_seed_run_pipeline_keywords_and_a_failed_result_is_falsy(ws, good, monkeypatch, capsys):
    from autotrain_gradio.pipeline import run_pipeline

    monkeypatch.setenv("AUTOTRAIN_WORKSPACE", str(ws))
    before = snapshot(ws)
    success = run_pipeline(
        dataset_path=str(good),
        profile="FluxLORA",
        monitor=True,
        min_images=10
    )
    assert not success and success.exit_code == 2
    assert "has 4 images" in " ".join(success.errors) and "fewer than --min-images 10" in capsys.readouterr().out
    assert snapshot(ws) == before
    planned = run_pipeline(dataset_path=good, profile="TinyFluxLORA", dry_run=True, max_steps=3, quiet=True)
    assert planned and planned.config.max_steps == 3  # a keyword that is a training setting goes over the profile
    wrong = run_pipeline(dataset_path=good, profile="TinyFluxLORA", dry_run=True, max_stepz=3, quiet=True)
    assert not wrong and "unknown setting 'max_stepz'" in wrong.errors[0]
    assert "did you mean 'max_steps'" in wrong.errors[0]


def test_seed_run_batch_pipeline_keywords(ws, good, tmp_path, monkeypatch):
    from autotrain_gradio.pipeline import run_batch_pipeline

    monkeypatch.setenv("AUTOTRAIN_WORKSPACE", str(ws))
    other = make_sample_dataset(tmp_path / "sets" / "two", count=2, size=32)
    make_sample_dataset(tmp_path / "sets" / "one", count=4, size=32)
    by_dir = run_batch_pipeline(datasets_dir=str(tmp_path / "sets"), profile="TinyFluxLORA", dry_run=True, quiet=True)
    assert by_dir and [r.name for r in by_dir.results] == ["one", "two"]
    by_list = run_batch_pipeline(dataset_paths=[str(good), str(other)], profile="TinyFluxLORA", min_images=3,
                                 dry_run=True, quiet=True)
    assert not by_list and by_list.exit_code == 3 and [bool(r) for r in by_list.results] == [True, False]
    assert not run_batch_pipeline(datasets_dir=str(tmp_path / "none"), profile="TinyFluxLORA", quiet=True)
