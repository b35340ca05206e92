"""Space mode is served the same way (gr.mount_gradio_app): the owner's own signed session naming a server file as an
upload, or another visitor's upload as a dataset, is refused there too."""

from __future__ import annotations

import httpx

from autotrain_gradio.ui.guard import REFUSED
from tests.security.conftest import call, file_data
from tests.ui.test_space_mode import session_cookie, space  # noqa: F401 - the Space-mode server fixture


def test_space_mode_refuses_server_paths(space, tmp_path):  # noqa: F811
    url, root = space
    owner = httpx.Client(base_url=url, timeout=60, cookies={"session": session_cookie("owner")})
    secret = tmp_path / "secret.csv"
    secret.write_text("text,target\nsecret,1\n")
    for payload in (file_data(secret), {"path": "/etc/hostname"}):
        kind, message = call(owner, "upload_dataset", [payload], "stolen")
        assert (kind, message) == ("error", REFUSED)
    assert not (root / "uploads").exists() or not any((root / "uploads").rglob("*.csv"))
    for probe in (secret, root, root / "uploads"):
        kind, (out,) = call(owner, "validate", str(probe), "TinyTextClassification", "", {})
        assert out["errors"] == ["this Space trains on uploaded datasets only; upload images with captions, a table "
                                 "or a zip of them"], probe
