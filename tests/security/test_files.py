"""Server paths named as input files: every FileData reaching a handler must be one uploaded to this app."""

from __future__ import annotations

from pathlib import Path

from gradio.utils import get_upload_folder

from autotrain_gradio.auth import User
from autotrain_gradio.ui.guard import REFUSED
from tests.security.conftest import LIMIT, call, file_data, upload


def _uploads(app, user: str) -> list:
    folder = app.root / "uploads" / User(user).folder
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_server_paths_as_upload_files_are_refused_before_any_copy(app, tmp_path):
    alice, bob = app.session("alice"), app.session("bob")
    table = tmp_path / "rows.csv"
    table.write_text("text,target\nalice's own row,1\n")
    kind, out = call(alice, "upload_dataset", [upload(alice, table)], "mine")
    assert kind == "complete", out
    alice_file = next(p for p in _uploads(app, "alice") if p.name == "rows.csv")
    before = _uploads(app, "bob")
    probes = [alice_file, app.secret / "private.csv", app.secret / "missing.csv", "/etc/hostname",
              "http://127.0.0.1:9/x.csv", alice_file.parent.parent]  # alice's file, a secret, a missing one, ...
    for probe in probes:
        for payload in (file_data(probe), {"path": str(probe)}):  # with and without FileData's meta marker
            kind, message = call(bob, "upload_dataset", [payload], "stolen")
            assert (kind, message) == ("error", REFUSED), (probe, kind, message)
    assert _uploads(app, "bob") == before  # nothing copied


def test_raw_upload_route_is_bounded(app):
    alice = app.session("alice")
    cache = {p for p in app.served.blocks.upload_file_set}
    one = alice.post("/gradio_api/upload", files={"files": ("big.bin", b"\0" * (LIMIT + 1))})
    assert one.status_code == 413  # one file past max_file_size
    halves = [("files", (f"part{i}.bin", b"\0" * (LIMIT // 2 + 1))) for i in range(2)]
    both = alice.post("/gradio_api/upload", files=halves)
    assert both.status_code == 413 and both.text.startswith("an upload may hold at most 4 MB in all")
    odd = alice.post("/gradio_api/upload", files=[("files", ("rows.csv", b"text\nx\n")), ("files", ("x.bin", b"\1"))])
    assert (odd.status_code, odd.text) == (415, "this app takes no files like x.bin; upload images, captions, tables "
                                                "(CSV/JSONL/Parquet) or zips of them")
    assert {Path(p).name for p in set(app.served.blocks.upload_file_set) - cache} == {"rows.csv"}
    assert not list(Path(get_upload_folder()).rglob("x.bin"))  # the odd file is gone from the cache


def test_every_endpoint_that_takes_a_file_or_path(app):
    bob = app.session("bob")
    secret = app.secret / "private.csv"
    image = file_data("/etc/hostname")
    kind, message = call(bob, "try_run", 1, "a photo", 0, 1, 1.0, image, "")
    assert (kind, message) == ("error", REFUSED)
    history = [{"role": "user", "content": [{"type": "file", "file": file_data(secret)}]}]
    kind, message = call(bob, "chat", "hi", history, 1, 8, 0.0)
    assert (kind, message) == ("error", REFUSED)
    kind, (out, *_) = call(bob, "caption_dataset", str(app.secret), "", "", "", "short", False)
    assert out == (f"❌ dataset path {app.secret} is not one of your uploads or datasets, nor in a folder this app "
                   f"lets you read ({app.shared}); upload it instead")
    kind, message = call(bob, "delete_upload", str(secret))
    assert kind == "error" and message.startswith(f"no upload named {str(secret)!r} among yours")
    assert secret.read_text() == "text,target\nthe owner's secret row,1\n"  # untouched


def test_the_upload_cache_is_swept(tmp_path, monkeypatch):
    import os
    import time

    import gradio as gr

    from autotrain_gradio.ui.guard import app_files, sweep_cache

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    with gr.Blocks() as blocks:
        gr.File()
    cached = tmp_path / "abc" / "rows.csv"
    cached.parent.mkdir()
    cached.write_text("text,target\n")
    blocks.upload_file_set.add(str(cached))
    old, new = tmp_path / "autotrain" / "old", tmp_path / "autotrain" / "new"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    sweep_cache(blocks, 3600)  # younger than an hour: the upload stays, the old staged download goes
    assert cached.exists() and not old.exists() and new.exists()
    sweep_cache(blocks, 0)
    assert not cached.exists() and app_files(blocks) == set()
