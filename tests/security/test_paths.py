"""Who may name which server path: one policy (auth.py) for the dataset box, the API, the preview, a base model."""

from __future__ import annotations

from pathlib import Path

from autotrain_gradio.auth import Access, User
from tests.security.conftest import TOKEN, call, upload


def test_the_path_rules_per_mode(tmp_path):
    root, data, mine = tmp_path / "ws", tmp_path / "data", tmp_path / "alice-only"
    login = Access.from_settings(root, auth=["alice:a", "bob:b"], allowed_paths=[str(data), f"alice={mine}"])
    alice, bob = root / "uploads" / User("alice").folder, root / "uploads" / User("bob").folder
    assert login.dataset_path_error(alice / "cats", alice, "alice") is None
    assert login.dataset_path_error(root / "input" / f"{User('alice').folder}--cats", alice, "alice") is None
    assert login.dataset_path_error(data / "x.csv", alice, "alice") is None
    assert login.dataset_path_error(mine / "x.csv", alice, "alice") is None
    assert login.dataset_path_error("stanfordnlp/imdb", alice, "alice") is None
    # bob: alice's upload, her prepared copy, her own folder, the workspace, home, a secret: one sentence each,
    # the same whether the path exists or not.
    for probe in (alice / "cats", root / "input" / f"{User('alice').folder}--cats", mine / "x.csv", root,
                  root / "jobs.db", Path.home(), "/etc/passwd", "/etc/no-such-file", "../ws/uploads"):
        assert login.dataset_path_error(probe, bob, "bob") == (
            f"dataset path {probe} is not one of your uploads or datasets, nor in a folder this app lets you read "
            f"({data}); upload it instead"), probe
    # An allowed folder holding the workspace does not open other users' folders inside it.
    wide = Access.from_settings(root, auth=["alice:a", "bob:b"], allowed_paths=[str(tmp_path)])
    assert wide.dataset_path_error(data / "x.csv", bob, "bob") is None
    assert wide.dataset_path_error(alice / "cats", bob, "bob").startswith(f"dataset path {alice / 'cats'} is not")
    # No --allowed-paths in login mode: uploads and own datasets only (not the workspace and home of local mode).
    bare = Access.from_settings(root, auth=["alice:a"])
    assert bare.dataset_path_error(Path.home() / "x", alice, "alice") == (
        f"dataset path {Path.home() / 'x'} is not one of your uploads or datasets; upload it instead")
    local = Access.from_settings(root, space=False)
    assert local.dataset_path_error(Path.home() / "x", alice) is None  # local single-user mode: unchanged


def test_another_users_upload_is_no_dataset(app, tmp_path):
    alice, bob = app.session("alice"), app.session("bob")
    table = tmp_path / "alice.csv"
    table.write_text("text,target\nalice's private review,1\nanother,0\n")
    kind, out = call(alice, "upload_dataset", [upload(alice, table)], "reviews")
    assert kind == "complete", out
    alices = next((app.root / "uploads" / User("alice").folder).rglob("alice.csv"))
    before = sorted(p.relative_to(app.root) for p in app.root.rglob("*") if "uploads" not in p.parts)
    for probe in (alices, alices.parent, app.secret / "private.csv", app.secret / "gone.csv", app.root,
                  app.root / "jobs.db"):
        want = (f"dataset path {probe} is not one of your uploads or datasets, nor in a folder this app lets you "
                f"read ({app.shared}); upload it instead")
        for endpoint in ("validate", "start_job"):
            kind, (out,) = call(bob, endpoint, str(probe), "TinyTextClassification", "", {})
            assert kind == "complete" and out["errors"] == [want], (endpoint, probe, out)
        # A server folder as a base model: the same rule, before anything looks at it.
        kind, (out,) = call(bob, "validate", str(app.shared), "TinyTextClassification", "",
                            {"base_model": str(probe)})
        assert out["errors"] == [want.replace("dataset path", "base model")], out
    rest = bob.post("/api/create_project", headers={"Authorization": f"Bearer {TOKEN}"},  # alice's token
                    json={"profile": "TinyTextClassification", "dataset": str(app.secret / "private.csv")})
    assert rest.status_code == 400 and rest.json()["detail"].startswith("dataset path")
    after = sorted(p.relative_to(app.root) for p in app.root.rglob("*") if "uploads" not in p.parts)
    assert after == before  # nothing prepared, configured or queued


def test_saved_profiles_are_per_user_and_show_no_server_path(app):
    alice, bob = app.session("alice"), app.session("bob")
    from autotrain_gradio.ui.manage import save_profile
    from autotrain_gradio.ui.profiles_tab import profile_detail, profiles_frame

    ctx = app.served.ctx
    path = save_profile(ctx, User("alice"), "TinyTextClassification", "AliceSecret", {"max_steps": 3})
    assert path.parent == app.root / "profiles" / "users" / User("alice").folder
    assert "AliceSecret" in ctx.profiles(User("alice")) and "AliceSecret" not in ctx.profiles(User("bob"))
    frame = profiles_frame(ctx, User("alice"))
    assert set(frame["file"]) <= {"shipped", "this app", "yours"} and "yours" in set(frame["file"])
    assert "`yours`" in profile_detail(ctx, User("alice"), "AliceSecret")[0]
    assert not any(str(app.root) in str(v) or "/" in str(v) for v in frame["file"])
    # bob cannot use it by name or by its file, through the API.
    for name in ("AliceSecret", "alicesecret", str(path)):
        kind, (out,) = call(bob, "validate", str(app.shared), name, "", {})
        head, listed = out["errors"][0].split("; valid profiles: ")
        assert head == f"unknown profile {name!r}" and "AliceSecret" not in listed, out
    kind, (out,) = call(alice, "validate", str(app.shared), "AliceSecret", "", {})
    assert not out["errors"][0].startswith("unknown profile"), out  # hers to use (the empty folder is the error)
    bob.close()
    alice.close()
