"""Upload quotas count everything a user holds; a user deletes their own uploads (button and named endpoint)."""

from __future__ import annotations

import zipfile

from autotrain_gradio.auth import User
from autotrain_gradio.ui.actions import held_bytes
from tests.security.conftest import LIMIT, call, upload


def _table(path, megabytes: float):
    row = "a plain review of some length to fill the table,1\n"
    path.write_text("text,target\n" + row * int(megabytes * 1024**2 / len(row)))
    return path


def test_quota_holds_over_the_sum_of_uploads(app, tmp_path):
    bob = app.session("bob")
    home = app.root / "uploads" / User("bob").folder
    # A zip bomb under the old 200x ratio is refused by the lower default, before a byte is written.
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("rows.csv", "text,target\n" + "x" * (2 * 1024**2))
    kind, out = call(bob, "upload_dataset", [upload(bob, bomb)], "bomb")
    assert "more than 50x compression (rows.csv); refusing a likely zip bomb" in out[1], out
    assert not home.exists() or not list(home.rglob("*"))
    names = []
    for i in range(2):  # 3 MB each: under the 4 MB per upload, 6 of the 8 MB bob may hold
        kind, out = call(bob, "upload_dataset", [upload(bob, _table(tmp_path / f"t{i}.csv", 3))], f"t{i}")
        assert kind == "complete", out
        names.append(out[0])
    third = upload(bob, _table(tmp_path / "t2.csv", 3))
    before = sorted(home.rglob("*"))
    kind, out = call(bob, "upload_dataset", [third], "t2")
    held = held_bytes(app.served.ctx, User("bob")) / 1024**2  # uploads, and any run of his the session made
    assert f"and you hold {held:.1f} MB (uploads, prepared copies and runs) of the 8 MB allowed; delete an upload " \
           "(Delete upload) or a job first" in out[1], out
    assert sorted(home.rglob("*")) == before  # nothing written
    # Deleting an upload frees its share; alice cannot delete bob's, by name or by path.
    alice = app.session("alice")
    for name in (names[0], "t0", "../" + User("bob").folder + "/t0", str(home)):
        kind, message = call(alice, "delete_upload", name)
        assert kind == "error" and message.startswith(f"no upload named {name!r} among yours"), (name, message)
    assert call(bob, "list_uploads")[1][0] == ["t0", "t1"]
    kind, (done,) = call(bob, "delete_upload", names[0])
    assert done["deleted"] == "t0" and not (home / "t0").exists()
    kind, out = call(bob, "upload_dataset", [third], "t2")
    assert kind == "complete" and out[0] == str(home / "t2" / "t2.csv"), out  # a lone table is the path
    assert LIMIT == 4 * 1024**2
