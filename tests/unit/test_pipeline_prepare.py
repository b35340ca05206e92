"""prepare and --dry-run: what is written, what is not, originals untouched."""

from __future__ import annotations

import tomllib

from autotrain_gradio.cli import main
from autotrain_gradio.demo import make_sample_dataset
from autotrain_gradio.pipeline import EXIT_OK, EXIT_PARTIAL, run_batch_pipeline, run_pipeline
from autotrain_gradio.tasks import load_config

from .test_pipeline_bad_input import snapshot


def test_dry_run_leaves_workspace_byte_identical_and_prints_plan(tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "existing.txt").write_text("keep")
    data = make_sample_dataset(tmp_path / "data", count=3, size=32)
    before, originals = snapshot(ws), snapshot(data)
    code = main(["--workspace", str(ws), "pipeline", "run", "--dataset-path", str(data), "--profile", "TinyFluxLORA",
                 "--dry-run", "--set", "lora_rank=8"])
    out = capsys.readouterr().out
    assert code == 0
    assert snapshot(ws) == before and snapshot(data) == originals
    assert "dry run, nothing written" in out
    assert f"copy 3 images (3 captions) from {data} to {ws / 'input' / 'data'}" in out
    assert "lora_rank = 8" in out


def test_prepare_writes_input_config_prompts_and_folders(tmp_path, capsys):
    ws = tmp_path / "ws"
    data = make_sample_dataset(tmp_path / "My Photos", count=5, size=32)
    (data / "sample_04.txt").unlink()
    originals = snapshot(data)
    code = main(["--workspace", str(ws), "pipeline", "prepare", "--dataset-path", str(data), "--profile",
                 "TinyFluxLORA", "--set", "trigger_word=ohwx", "--set", "max_steps=7"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert snapshot(data) == originals
    name = "My_Photos"
    inp, outd = ws / "input" / name, ws / "output" / name
    assert sorted(p.name for p in inp.glob("*.png")) == [f"sample_{i:02d}.png" for i in range(5)]
    assert len(list(inp.glob("*.txt"))) == 4
    assert "1 of 5 images have no .txt caption" in out
    assert (inp / "sample_00.png").read_bytes() == (data / "sample_00.png").read_bytes()
    for sub in ("model", "log", "samples"):
        assert (outd / sub).is_dir()
    cfg = load_config(outd / "config.toml")
    assert (cfg.name, cfg.trigger_word, cfg.max_steps, cfg.lora_rank) == (name, "ohwx", 7, 4)
    assert cfg.data_dir == str(inp) and cfg.output_dir == str(outd)
    prompts = (outd / "sample_prompts.txt").read_text().splitlines()
    assert prompts == ["a photo of ohwx", "ohwx, red"]
    assert "autotrain_pipeline.log" in {p.name for p in (ws / "logs").iterdir()}
    assert not (ws / "jobs.db").exists(), "prepare must not queue anything"


def test_skip_copy_reuses_and_force_replaces(tmp_path):
    ws = tmp_path / "ws"
    data = make_sample_dataset(tmp_path / "d", count=3, size=32)
    assert run_pipeline(data, "TinyFluxLORA", workspace=ws, mode="prepare", quiet=True).ok
    (ws / "input" / "d" / "marker").write_text("mine")
    again = run_pipeline(data, "TinyFluxLORA", workspace=ws, mode="prepare", quiet=True)
    assert again.exit_code == 2 and "pass --force to replace it" in again.errors[0]
    kept = run_pipeline(data, "TinyFluxLORA", workspace=ws, mode="prepare", skip_copy=True, force=True, quiet=True)
    assert kept.ok and (ws / "input" / "d" / "marker").exists()
    replaced = run_pipeline(data, "TinyFluxLORA", workspace=ws, mode="prepare", force=True, quiet=True)
    assert replaced.ok and not (ws / "input" / "d" / "marker").exists()


def test_classification_prepare_keeps_class_folders(tmp_path):
    ws = tmp_path / "ws"
    for cls in ("cats", "dogs"):
        make_sample_dataset(tmp_path / "pets" / cls, count=5, size=32, captions=False)
    res = run_pipeline(tmp_path / "pets", "TinyImageClassification", workspace=ws, mode="prepare", quiet=True)
    assert res.ok, res.errors
    assert res.phases[0].message == "10 images in 2 classes: cats (5), dogs (5)"
    assert sorted(p.name for p in (ws / "input" / "pets").iterdir() if p.is_dir()) == ["cats", "dogs"]


def test_request_file_with_config_table(tmp_path, capsys):
    ws = tmp_path / "ws"
    data = make_sample_dataset(tmp_path / "d", count=2, size=32)
    req = tmp_path / "req.toml"
    req.write_text(f'dataset_path = "{data}"\nprofile = "TinyFluxLORA"\ndataset_name = "fromfile"\n'
                   '[config]\nlora_rank = 2\nmax_steps = 5\n')
    code = main(["--workspace", str(ws), "pipeline", "prepare", "--config", str(req), "--set", "max_steps=6"])
    assert code == 0, capsys.readouterr()
    cfg = tomllib.loads((ws / "output" / "fromfile" / "config.toml").read_text())
    assert (cfg["lora_rank"], cfg["max_steps"]) == (2, 6)  # file beats profile, --set beats file


def test_batch_dry_run_with_one_invalid_is_partial(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    make_sample_dataset(tmp_path / "sets" / "alpha", count=2, size=32)
    make_sample_dataset(tmp_path / "sets" / "beta", count=2, size=32)
    (tmp_path / "sets" / "broken").mkdir()
    (tmp_path / "sets" / "broken" / "x.png").write_bytes(b"")
    batch = run_batch_pipeline("TinyFluxLORA", datasets_dir=tmp_path / "sets", workspace=ws, dry_run=True,
                               quiet=True)
    assert batch.exit_code == EXIT_PARTIAL
    assert [r.name for r in batch.succeeded] == ["alpha", "beta"]
    assert "x.png is empty" in batch.failed[0].errors[0]
    prepared = run_batch_pipeline("TinyFluxLORA", dataset_paths=f"{tmp_path / 'sets' / 'alpha'}", workspace=ws,
                                  mode="prepare", quiet=True)
    assert prepared.exit_code == EXIT_OK and (ws / "output" / "alpha" / "config.toml").exists()


def test_zip_dataset_is_unpacked_outside_the_workspace_and_prepared(tmp_path):
    import zipfile

    data = make_sample_dataset(tmp_path / "anna", count=3, size=32)
    archive = tmp_path / "anna.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in data.iterdir():
            zf.write(p, f"anna/{p.name}")
        zf.writestr("__MACOSX/anna/._sample_00.png", b"junk")
    ws = tmp_path / "ws"
    res = run_pipeline(archive, "TinyFluxLORA", workspace=ws, mode="prepare", quiet=True)
    assert res.ok and res.name == "anna" and res.dataset_path == str(archive), res.errors
    assert sorted(p.name for p in (ws / "input" / "anna").glob("*.png")) == [f"sample_{i:02d}.png" for i in range(3)]
    assert sorted(p.name for p in ws.iterdir()) == ["input", "logs", "output"]  # nothing unpacked into it


def test_unsafe_or_broken_zip_is_refused_with_nothing_written(tmp_path):
    import zipfile

    ws = tmp_path / "ws"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.png", b"x")
    res = run_pipeline(evil, "TinyFluxLORA", workspace=ws, quiet=True)
    assert res.exit_code == 2 and "refusing the unsafe member path '../../escape.png'" in res.errors[0]
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    res = run_pipeline(broken, "TinyFluxLORA", workspace=ws, quiet=True)
    assert res.exit_code == 2 and "is not a readable zip archive" in res.errors[0]
    assert not ws.exists()


def test_caption_extension_from_the_config_pairs_and_normalises_captions(tmp_path):
    data = make_sample_dataset(tmp_path / "c", count=2, size=32, captions=False)
    (data / "sample_00.CAPTION").write_text("a red circle")
    (data / "sample_01.txt").write_text("ignored: not the configured extension")
    ws = tmp_path / "ws"
    res = run_pipeline(data, "TinyFluxLORA", workspace=ws, mode="prepare", quiet=True,
                       overrides=["caption_extension=.caption"])
    assert res.ok, res.errors
    assert "1 of 2 images have no .caption caption" in res.warnings[0]
    assert (ws / "input" / "c" / "sample_00.caption").read_text() == "a red circle"
    assert not (ws / "input" / "c" / "sample_01.txt").exists()
