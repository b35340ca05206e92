"""Auto-captioning end to end on the tiny BLIP captioner: the CLI in the foreground and the Python API through the
queue; a caption file per image in the prepared copy, existing captions kept unless asked, originals untouched."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.events import read_events
from autotrain_gradio.pipeline.caption import caption_dataset
from autotrain_gradio.tasks.captioning.data import with_prefix


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def photos(tmp_path) -> Path:
    """Three uncaptioned-but-one photos (the second has the user's own caption)."""
    root = tmp_path / "photos"
    root.mkdir()
    for i, rgb in enumerate([(220, 30, 30), (30, 200, 40), (30, 40, 220)]):
        Image.new("RGB", (40, 32), rgb).save(root / f"img{i}.png")
    (root / "img1.txt").write_text("my own caption\n", encoding="utf-8")
    return root


def _cli(workspace: Path, dataset: Path, *flags: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(workspace), "caption",
            "--dataset-path", str(dataset), "--model", "tiny:captioner", "--immediate", *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)


def test_cli_captions_the_copy_and_keeps_existing_captions(tmp_path, photos):
    before = _tree_digest(photos)
    ws = tmp_path / "ws"
    proc = _cli(ws, photos, "--prefix", "ohwx")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    copy = ws / "input" / "photos"
    captions = {p.stem: p.read_text(encoding="utf-8").strip() for p in copy.glob("*.txt")}
    assert set(captions) == {"img0", "img1", "img2"}  # a caption file per image
    assert captions["img1"] == "my own caption"  # kept: only images without a caption are captioned
    for stem in ("img0", "img2"):
        assert captions[stem].startswith("ohwx, ") and len(captions[stem]) > len("ohwx, "), captions
    assert _tree_digest(photos) == before  # the user's originals: not a byte changed, nothing added
    end = read_events(ws / "output" / "photos" / "log" / "events.jsonl")[-1]
    assert end["status"] == "completed" and end["outputs"]["captions"] == 2, end
    assert "--skip-copy --force" in proc.stdout  # says how to train on the captioned copy


def test_api_queues_the_captioning_job_reports_progress_and_overwrite_redoes_every_caption(tmp_path, photos):
    before = _tree_digest(photos)
    result = caption_dataset(photos, "tiny:captioner", workspace=tmp_path / "ws", dataset_name="queued",
                             batch_size=2, overwrite=True, prefix="sks", monitor=True, quiet=True)
    assert result.ok and result.job_id is not None, result.errors or result.phases
    events = read_events(tmp_path / "ws" / "output" / "queued" / "log" / "events.jsonl")
    steps = [e for e in events if e["type"] == "step"]
    assert [e["captioned"] for e in steps] == [2, 3] and steps[-1]["total"] == 2  # batches of two images
    assert events[-1]["status"] == "completed"
    copy = tmp_path / "ws" / "input" / "queued"
    redone = {p.stem: p.read_text(encoding="utf-8").strip() for p in copy.glob("*.txt")}
    assert set(redone) == {"img0", "img1", "img2"} and all(t.startswith("sks, ") for t in redone.values()), redone
    assert _tree_digest(photos) == before  # the user's own caption is replaced in the copy only


def test_caption_bad_input_is_one_line_and_writes_nothing(tmp_path, photos):
    ws = tmp_path / "ws"
    result = caption_dataset(tmp_path / "nope", "tiny:captioner", workspace=ws, quiet=True)
    assert result.exit_code == 2 and "dataset path not found" in result.errors[0]
    bad = caption_dataset(photos, "tiny:captioner", workspace=ws, style="florid", quiet=True)
    assert bad.exit_code == 2 and "style" in bad.errors[0] and "florid" in bad.errors[0], bad.errors
    assert not ws.exists()


@pytest.mark.parametrize(("caption", "prefix", "expected"), [
    ("a red car", "ohwx", "ohwx, a red car"), ("ohwx, a red car", "ohwx", "ohwx, a red car"),
    ("", "ohwx", "ohwx"), ("a red car", "", "a red car")])
def test_prefix_is_added_once(caption, prefix, expected):
    assert with_prefix(caption, prefix) == expected
