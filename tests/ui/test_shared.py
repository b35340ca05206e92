"""The app shared by several people: the sharing rules (fast), safe uploads (fast), and a real server with two logins
driven through gradio_client, plain HTTP and two Chromium contexts: each user sees, cancels, downloads and reads
the logs of their own jobs only, every named endpoint answers by job id, and the REST routes want a bearer token."""

from __future__ import annotations

import socket
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from autotrain_gradio.auth import Access, User, parse_logins
from autotrain_gradio.demo import make_sample_dataset
from autotrain_gradio.ui.actions import ActionError, AppContext, job_status, list_jobs, run_request
from autotrain_gradio.ui.uploads import save_upload
from autotrain_gradio.workspace import extract_zip

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning")]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "test-owner-token"


# --- fast: the rules ------------------------------------------------------------------------------------------


def test_dataset_paths_outside_the_allowed_folders_are_refused_alike(tmp_path):
    access = Access.from_settings(tmp_path, space=False, allowed_paths=[str(tmp_path / "data")])
    uploads = tmp_path / "uploads" / "local"
    assert access.dataset_path_error(tmp_path / "data" / "cats", uploads) is None
    assert access.dataset_path_error(uploads / "x", uploads) is None
    # An existing and a missing server path get the same sentence: nothing says which exists.
    for probe in ("/etc", "/etc/no-such-file"):
        assert access.dataset_path_error(probe, uploads) == (
            f"dataset path {probe} is outside the folders this app may read ({tmp_path / 'data'}); upload it, or "
            "start the app with --allowed-paths naming its folder (in Python: launch(allowed_paths=[...]))")
    link = tmp_path / "data" / "sneaky"
    (tmp_path / "data").mkdir()
    link.symlink_to("/etc")
    assert "outside the folders" in access.dataset_path_error(link, uploads)  # symlinks are followed first
    assert access.dataset_path_error("stanfordnlp/imdb", uploads) is None  # a Hub dataset id is no server path
    space = Access.from_settings(tmp_path, space=True)
    assert space.dataset_path_error(tmp_path / "data", uploads).startswith("this Space trains on uploaded datasets")


def test_who_may_train_in_a_space(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    access = Access.from_settings(tmp_path, space=True)
    assert access.may_train(User("owner")) is None
    assert access.may_train(User("visitor")) == ("visitor may not train on this Space (only owner); duplicate the "
                                                 "Space to train on your own hardware")
    assert access.may_train(None).startswith("sign in first")
    listed = Access.from_settings(tmp_path, space=True, allowed_users="alice, acme-org")
    assert listed.may_train(User("alice")) is None and listed.may_train(User("bob", orgs=("acme-org",))) is None
    assert listed.may_train(User("owner")) is not None  # an allow-list replaces the owner rule
    assert Access.from_settings(tmp_path, space=False).may_train(User("")) is None


def test_logins_and_user_folders():
    assert parse_logins(["alice:pw1", "bob:pw:2"]) == {"alice": "pw1", "bob": "pw:2"}
    assert parse_logins("a:1,b:2") == {"a": "1", "b": "2"}
    with pytest.raises(ValueError, match="give each login as user:password"):
        parse_logins(["alice"])
    folders = {User(n).folder for n in ("alice", "Alice", "a/../b", "a b", "")}
    assert len(folders) == 5 and all("/" not in f and ".." not in f for f in folders)
    assert "token" not in repr(User("x", token="hf_secret")) and "hf_secret" not in repr(User("x", token="hf_secret"))


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_uploads_keep_only_images_captions_and_tables(tmp_path):
    ctx, me = AppContext(tmp_path / "ws", Access()), User("")
    png = (make_sample_dataset(tmp_path / "src", count=1) / "sample_00.png").read_bytes()
    bad = _zip(tmp_path / "site.zip", {"a.png": png, "a.txt": b"a cat", "x.html": b"<script>alert(1)</script>"})
    with pytest.raises(ActionError, match=r"^site.zip holds files that are not images, captions or tables: x.html; "
                                          "remove them and upload again$"):
        save_upload(ctx, me, [str(bad)])
    assert not any((tmp_path / "ws" / "uploads" / "local").iterdir())  # nothing written, not even a.png
    page = tmp_path / "page.html"
    page.write_text("<b>hi</b>")
    with pytest.raises(ActionError, match="not images, captions, tables or zips: page.html"):
        save_upload(ctx, me, [str(page)])
    table = tmp_path / "rows.csv"
    table.write_text("text,target\nhello,1\n")
    assert sorted(p.name for p in save_upload(ctx, me, [str(table)], "rows").iterdir()) == ["rows.csv"]


def test_zip_limits_are_checked_before_a_byte_is_written(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.txt": b"\0" * (8 * 1024**2)})  # 8 MB of zeros in ~8 KB
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ValueError, match=r"bomb.zip unpacks to 8 MB from 0.0 MB, more than 50x compression "
                                         r"\(zeros.txt\); refusing a likely zip bomb"):
        extract_zip(bomb, dest)
    assert list(dest.iterdir()) == []
    many = _zip(tmp_path / "many.zip", {f"{i}.txt": b"x" for i in range(5)})
    with pytest.raises(ValueError, match="many.zip holds 5 files; the limit is 4"):
        extract_zip(many, dest, max_files=4)
    with pytest.raises(ValueError, match="many.zip unpacks to 0.00 GB; the limit is 0.00 GB"):
        extract_zip(many, dest, max_bytes=3)
    assert list(dest.iterdir()) == []
    ctx = AppContext(tmp_path / "ws", Access(max_upload_bytes=1000))
    with pytest.raises(ActionError, match=r"^this upload is 0 MB; the limit is 0 MB per upload$"):
        save_upload(ctx, User(""), [str(bomb)])


# --- a real server with two logins ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from autotrain_gradio.ui.server import launch

    root, data_root = tmp_path_factory.mktemp("shared-ws"), tmp_path_factory.mktemp("shared-data")
    served = launch(workspace=root, port=_free_port(), server_name="127.0.0.1", prevent_thread_lock=True,
                    auth=["alice:pw-a", "bob:pw-b"], api_token=TOKEN, allowed_paths=[str(root), str(data_root)])
    yield served, root, data_root
    served.close()


@pytest.fixture(scope="module")
def alice_job(server):
    """A tiny run alice starts through the API, waited for until it completed."""
    from gradio_client import Client

    served, root, data_root = server
    alice = Client(served.url, auth=("alice", "pw-a"), verbose=False, download_files=str(data_root / "dl"))
    data = make_sample_dataset(data_root / "cats", count=3)
    result = alice.predict(str(data), "TinyFluxLORA", "", {"max_steps": 2, "sample_steps": 1, "sample_every": 0},
                           api_name="/start_job")
    assert result["ok"] and result["errors"] == [], result
    job_id = result["job_id"]
    deadline = time.monotonic() + 150
    while (status := alice.predict(job_id, api_name="/job_status"))["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(1)
    assert status["status"] == "completed", status
    return alice, job_id


def test_every_endpoint_by_name_for_its_owner(server, alice_job):
    from gradio_client import Client

    served, root, data_root = server
    alice, job_id = alice_job
    names = set(alice.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/validate", "/start_job", "/list_jobs", "/job_status", "/job_events", "/job_logs", "/cancel_job",
            "/resume_job", "/download", "/upload_dataset"} <= names
    assert not [n for n in names if n.startswith("/lambda")]  # no anonymous endpoints
    bad = alice.predict(str(data_root / "missing"), "TinyFluxLORA", "", {}, api_name="/validate")
    assert not bad["ok"] and bad["errors"][0].startswith(f"dataset path not found: {data_root / 'missing'}")
    status = alice.predict(job_id, api_name="/job_status")
    assert (status["status"], status["step"], status["total_steps"]) == ("completed", 2, 2)
    assert isinstance(status["loss"], float) and status["name"].endswith("--cats")
    assert [j["id"] for j in alice.predict(api_name="/list_jobs")] == [job_id]
    events = alice.predict(job_id, 0, api_name="/job_events")
    kinds = [e["type"] for e in events["events"]]
    assert "start" in kinds and kinds[-1] == "end" and "step" in kinds
    assert alice.predict(job_id, events["offset"], api_name="/job_events")["events"] == []  # nothing new
    logs = alice.predict(job_id, 50, api_name="/job_logs")
    assert any(line.startswith("[info] ") for line in logs["lines"]) and "\x1b[" not in "".join(logs["lines"])
    files = alice.predict(job_id, False, api_name="/download")
    weights = root / "output" / status["name"] / "model" / "pytorch_lora_weights.safetensors"
    named = f"{status['name']}-diffusers-pytorch_lora_weights.safetensors"  # each file named for what it is
    assert any(Path(f).name == named and Path(f).read_bytes() == weights.read_bytes() for f in files)
    (archive,) = alice.predict(job_id, True, api_name="/download")
    with zipfile.ZipFile(archive) as zf:
        assert f"{status['name']}-diffusers/pytorch_lora_weights.safetensors" in zf.namelist()
    refused = alice.predict(job_id, api_name="/cancel_job")  # already completed: cancel changes nothing
    assert refused["status"] == "completed"
    with pytest.raises(Exception, match=f"job {job_id} [^ ]+ is completed: nothing to resume"):
        alice.predict(job_id, api_name="/resume_job")
    with pytest.raises(Exception, match="credentials were not provided"):
        Client(served.url, verbose=False)  # no login, no API


def test_another_users_job_is_no_job(server, alice_job):
    from gradio_client import Client

    served, root, data_root = server
    _, job_id = alice_job
    bob = Client(served.url, auth=("bob", "pw-b"), verbose=False, download_files=str(data_root / "dl-bob"))
    assert bob.predict(api_name="/list_jobs") == []
    for endpoint, args in (("/job_status", (job_id,)), ("/job_events", (job_id, 0)), ("/job_logs", (job_id, 5)),
                           ("/cancel_job", (job_id,)), ("/resume_job", (job_id,)), ("/download", (job_id, False)),
                           ("/delete_job", (job_id,)), ("/duplicate_job", (job_id,)), ("/retry_job", (job_id,))):
        with pytest.raises(Exception, match=f"no job with id {job_id} among your jobs"):
            bob.predict(*args, api_name=endpoint)
    ctx = served.ctx
    assert list_jobs(ctx, User("bob")) == [] and job_status(ctx, User("alice"), job_id)["status"] == "completed"


def test_rest_routes_want_a_bearer_token(server, alice_job):
    served, root, data_root = server
    _, job_id = alice_job
    url = served.url.rstrip("/")
    assert httpx.post(f"{url}/api/logs", json={"job_id": job_id}).status_code == 401
    wrong = httpx.post(f"{url}/api/logs", json={"job_id": job_id}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "Bearer" in wrong.json()["detail"]
    auth = {"Authorization": f"Bearer {TOKEN}"}  # the token belongs to the first login, alice
    logs = httpx.post(f"{url}/api/logs", json={"job_id": job_id}, headers=auth)
    assert logs.status_code == 200 and logs.json()["status"]["status"] == "completed" and logs.json()["lines"]
    stop = httpx.post(f"{url}/api/stop_training", json={"project_name": "cats"}, headers=auth)
    assert stop.status_code == 200 and stop.json()["id"] == job_id
    missing = httpx.post(f"{url}/api/stop_training", json={"job_id": 999}, headers=auth)
    assert missing.status_code == 404 and missing.json()["detail"] == "no job with id 999 among your jobs"
    bad = httpx.post(f"{url}/api/create_project", headers=auth,
                     json={"profile": "TinyFluxLORA", "dataset": "/etc", "params": {}})
    assert bad.status_code == 400 and "is not one of your uploads or datasets" in bad.json()["detail"]
    # Nothing of the workspace is reachable by URL, whatever the path.
    weights = next((root / "output").rglob("pytorch_lora_weights.safetensors"))
    with httpx.Client() as signed_in:  # even for the owner, signed in: files come only as staged downloads
        assert signed_in.post(f"{url}/login", data={"username": "alice", "password": "pw-a"}).status_code == 200
        assert signed_in.get(f"{url}/gradio_api/file={weights}").status_code in (403, 404)
        assert signed_in.get(f"{url}/gradio_api/file={root / 'jobs.db'}").status_code in (403, 404)


@pytest.mark.browser
def test_two_users_in_two_browsers(server, alice_job):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser tests drive the system Chromium only")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from playwright.sync_api import expect

    served, root, data_root = server
    _, job_id = alice_job
    png = (make_sample_dataset(data_root / "one", count=1) / "sample_00.png").read_bytes()
    html_zip = _zip(data_root / "with-page.zip", {"a.png": png, "a.txt": b"a cat", "index.html": b"<script>"})
    bomb = _zip(data_root / "bomb.zip", {"zeros.png": b"\0" * (8 * 1024**2)})
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        pages = {}
        for user, password in (("alice", "pw-a"), ("bob", "pw-b")):
            page = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
            page.goto(served.url)
            page.get_by_label("username").fill(user)
            page.get_by_label("password").fill(password)
            page.get_by_role("button", name="Login").click()
            page.wait_for_selector("#validate", timeout=60_000)
            pages[user] = page
        # The job alice started through the API is in her Jobs tab, with its model files downloadable...
        alice = pages["alice"]
        alice.get_by_role("tab", name="Jobs").click()
        expect(alice.locator("#jobs-table")).to_contain_text("--cats", timeout=30_000)
        expect(alice.locator("#job-title")).to_contain_text(f"Job {job_id}", timeout=30_000)
        expect(alice.locator("#job-download")).to_be_enabled(timeout=30_000)
        alice.locator("#job-download").click()
        link = alice.locator("#job-files a[href$='-diffusers-pytorch_lora_weights.safetensors']")
        expect(link).to_be_visible(timeout=30_000)
        href = link.get_attribute("href")
        # ...and bob sees no job, cannot act on hers, and does not get her file through his own session.
        bob = pages["bob"]
        bob.get_by_role("tab", name="Jobs").click()
        expect(bob.locator("#job-title")).to_contain_text("No jobs yet", timeout=30_000)
        expect(bob.locator("#jobs-table")).not_to_contain_text("--cats")
        expect(bob.locator("#job-cancel")).to_be_disabled()
        weights = next((root / "output").rglob("model/pytorch_lora_weights.safetensors"))
        assert bob.request.get(href.split("file=")[0] + f"file={weights}").status in (403, 404)
        # Uploads: an .html member and a zip bomb are refused with one clear line, nothing kept.
        bob.get_by_role("tab", name="Train").click()
        bob.locator("#dataset-upload input[type=file]").set_input_files(str(html_zip))
        expect(bob.locator("#report")).to_contain_text(
            "with-page.zip holds files that are not images, captions or tables: index.html", timeout=30_000)
        bob.locator("#dataset-upload input[type=file]").set_input_files(str(bomb))
        expect(bob.locator("#report")).to_contain_text("refusing a likely zip bomb", timeout=30_000)
        bob_uploads = root / "uploads" / User("bob").folder
        assert not bob_uploads.exists() or not any(bob_uploads.iterdir())
        alice.screenshot(path="/tmp/autotrain_ui_shared_alice.png", full_page=True)
        browser.close()



def test_manage_jobs_and_save_a_profile(tmp_path):
    from autotrain_gradio.jobs import JobStore, cancel, submit
    from autotrain_gradio.pipeline import run_pipeline
    from autotrain_gradio.ui.manage import delete_job, duplicate_job, retry_job, save_profile

    ctx = AppContext(tmp_path, Access.from_settings(tmp_path, auth=["alice:a", "bob:b"]))
    alice, bob = User("alice"), User("bob")
    data = make_sample_dataset(tmp_path / "data", count=2)
    prepared = run_pipeline(data, "TinyFluxLORA", mode="prepare", quiet=True, workspace=tmp_path)
    job = submit(tmp_path, name=prepared.name, profile="TinyFluxLORA", config_path=prepared.config_path,
                 start_worker=False, owner="alice")
    with pytest.raises(ActionError, match=f"^job {job.id} is queued; cancel it first, then delete it$"):
        delete_job(ctx, alice, job.id)
    with pytest.raises(ActionError, match=f"^no job with id {job.id} among your jobs$"):
        delete_job(ctx, bob, job.id)
    cancel(tmp_path, job.id)
    retried = retry_job(ctx, alice, job.id)
    assert retried["status"] == "queued" and retried["message"] == f"Job {job.id}: queued again from the start."
    copy = duplicate_job(ctx, alice, job.id)
    assert copy["name"] == f"{prepared.name}-2" and copy["id"] != job.id
    store = JobStore(tmp_path)
    try:
        assert store.get(copy["id"]).owner == "alice"
        copied = (tmp_path / "output" / copy["name"] / "config.toml").read_text()
        assert f'name = "{copy["name"]}"' in copied and str(tmp_path / "output" / copy["name"]) in copied
    finally:
        store.close()
    for job_id in (job.id, copy["id"]):  # the worker may have started them: stop them, then delete them
        cancel(tmp_path, job_id, grace=10)
        assert delete_job(ctx, alice, job_id)["id"] == job_id
    assert not (tmp_path / "output" / copy["name"]).exists() and list_jobs(ctx, alice) == []

    path = save_profile(ctx, alice, "TinyFluxLORA", "MyTiny", {"max_steps": 7, "lora_rank": 2})
    assert path == tmp_path / "profiles" / "users" / alice.folder / "MyTiny.toml"  # hers only (tests/security)
    saved = ctx.profile(alice, "MyTiny").build()
    assert (saved.max_steps, saved.lora_rank, saved.base_model) == (7, 2, "tiny:flux")
    with pytest.raises(ActionError, match="^a profile named TinyFluxLORA exists already; choose another name$"):
        save_profile(ctx, alice, "TinyFluxLORA", "tinyfluxlora", {})
    with pytest.raises(ActionError, match="setting 'lora_rank'"):
        save_profile(ctx, alice, "TinyFluxLORA", "Broken", {"lora_rank": 0})
    assert not (tmp_path / "profiles" / "Broken.toml").exists()


def test_base_model_is_checked_before_anything_is_queued(tmp_path, monkeypatch):
    from autotrain_gradio.pipeline.base_model import check_base_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert check_base_model("tiny:flux") == (None, "tiny:flux: a tiny model built in code")
    folder = tmp_path / "flux-dev"
    folder.mkdir()
    assert check_base_model(str(folder))[0] == (f"base model folder {folder} has no model_index.json or config.json; "
                                                "point base_model at a downloaded model folder (or a Hub id)")
    (folder / "model_index.json").write_text("{}")
    assert check_base_model(str(folder)) == (None, f"{folder}: a local folder")
    assert check_base_model("no/such/place")[0].startswith("base model no/such/place is neither a local folder nor")
    assert check_base_model("black-forest-labs/FLUX.1-dev")[0] == (
        "base model black-forest-labs/FLUX.1-dev is not in the local Hugging Face cache and the Hub is switched off "
        "(HF_HUB_OFFLINE); download it first (hf download black-forest-labs/FLUX.1-dev) or point base_model at a "
        "local folder")
    # Start refuses it before anything is written or queued; Validate reports it with the rest.
    ctx = AppContext(tmp_path / "ws", Access.from_settings(tmp_path / "ws", space=False, allowed_paths=[str(tmp_path)]))
    data = make_sample_dataset(tmp_path / "data", count=2)
    started = run_request(ctx, User(""), str(data), "FluxLORA", dry_run=False)
    assert started.errors[0].startswith("base model black-forest-labs/FLUX.1-dev is not in the local Hugging Face")
    assert started.job_id is None and not (tmp_path / "ws" / "output").exists()
    checked = run_request(ctx, User(""), str(data), "FluxLORA", dry_run=True, min_images=5)
    assert checked.errors[0].startswith("base model black-forest-labs") and len(checked.errors) == 2


def test_a_space_job_gets_its_submitters_token_never_the_machines(tmp_path, monkeypatch):
    from autotrain_gradio.ui.actions import job_secrets

    monkeypatch.setenv("HF_TOKEN", "hf_machine_owner")
    space = AppContext(tmp_path, Access.from_settings(tmp_path, space=True))
    assert job_secrets(space, User("eve", token="hf_oauth_eve")) == {"HF_TOKEN": "hf_oauth_eve"}
    assert job_secrets(space, User("mallory")) == {}  # no token of their own: none at all
    local = AppContext(tmp_path, Access.from_settings(tmp_path, space=False))
    assert job_secrets(local, User(""))["HF_TOKEN"] == "hf_machine_owner"  # the CLI's rule on one's own machine
    logins = AppContext(tmp_path, Access.from_settings(tmp_path, space=False, auth=["a:b"]))
    refused = run_request(logins, User("a"), str(logins.uploads(User("a"))), "TinyFluxLORA",
                          overrides={"push_to_hub": True})
    assert refused.errors[0].startswith("push_to_hub needs your own Hugging Face token")


def test_old_uploads_are_removed(tmp_path):
    import os

    from autotrain_gradio.ui.actions import remove_stale_uploads

    ctx = AppContext(tmp_path, Access(upload_max_age_s=3600))
    old, new = tmp_path / "uploads" / "alice-1" / "cats", tmp_path / "uploads" / "bob-2" / "dogs"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "a.png").write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_uploads(ctx) == [old]
    assert not old.exists() and (new / "a.png").exists()
