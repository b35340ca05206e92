"""Progress lines from RunState (the exact strings of the issue), in-place redraw on a terminal vs one line per
change when piped, and `monitor_job` on jobs that need no trainer: cancelled while queued, and a 'running' job
whose trainer vanished with no worker alive (the monitor settles it instead of waiting for ever)."""

from __future__ import annotations

import io
import subprocess

from autotrain_gradio.events import RunState
from autotrain_gradio.jobs import JobStore
from autotrain_gradio.jobs.follow import monitor_batch, monitor_job
from autotrain_gradio.jobs.pids import pid_start_time
from autotrain_gradio.monitor import Follower, batch_line, follow, format_eta, format_loss, progress_line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_matches_the_documented_format():
    state = RunState(status="running", step=1870, total=2000, loss=0.0234, eta_s=323)
    assert progress_line(state) == \
        "[============================--] 93.5% (1870/2000) | ETA: 00:05:23 | Loss: 0.0234 | Queue: 0"
    assert progress_line(RunState(), queue=3) == \
        "[------------------------------] 0.0% (0/0) | ETA: --:--:-- | Loss: - | Queue: 3"
    done = RunState(status="completed", step=10, total=10, loss=0.01, eta_s=4)
    assert progress_line(done, width=10) == "[==========] 100.0% (10/10) | ETA: 00:00:00 | Loss: 0.0100 | Queue: 0"


def test_batch_line_matches_the_documented_format():
    state = RunState(status="running", step=350, total=500, loss=0.0156, eta_s=615)
    assert batch_line("dataset_character", state, ["dataset_style", "dataset_pose"], 2, 5) == (
        "🟢 dataset_character: [==============------] 70.0% (350/500) | ETA: 00:10:15 | Loss: 0.0156 | "
        "Queue: 2 (next: dataset_style) | Progress: 2/5 (40.0%)")
    failed = RunState(status="failed", step=1, total=4)
    assert batch_line("x", failed, [], 5, 5).startswith("❌ x: [=====---------------] 25.0% (1/4)")
    assert batch_line("x", failed, [], 5, 5).endswith("| Queue: 0 | Progress: 5/5 (100.0%)")


def test_eta_and_loss_formatting():
    assert format_eta(None) == "--:--:--" and format_eta(0) == "00:00:00"
    assert format_eta(3600 * 27 + 61.4) == "27:01:01"
    assert format_loss(None) == "-" and format_loss(1.5) == "1.5000" and format_loss(0.00012) == "1.20e-04"


def test_follower_redraws_in_place_on_a_terminal_and_prints_changes_when_piped():
    tty, pipe = Terminal(), io.StringIO()
    for stream in (tty, pipe):
        f = Follower(stream)
        for line in ("a", "a", "b"):
            f.show(line)
        f.note("done")
    assert tty.getvalue() == "\ra\x1b[K\rb\x1b[K\ndone\n"
    assert pipe.getvalue() == "a\nb\ndone\n"


def test_follow_stops_when_render_says_done():
    frames = iter([("1", False), ("2", False), ("3", True)])
    out = io.StringIO()
    assert follow(lambda: next(frames), out, interval=0) == "3"
    assert out.getvalue() == "1\n2\n3\n"


def _job(store: JobStore, tmp_path, name: str):
    out = tmp_path / "output" / name
    return store.add(name=name, profile="p", config_path=out / "config.toml", output_dir=out)


def test_monitor_of_a_job_cancelled_in_the_queue_exits_143(tmp_path):
    store = JobStore(tmp_path)
    job = _job(store, tmp_path, "queued")
    store.update(job.id, status="cancelled", error="cancelled before it started")
    out = io.StringIO()
    assert monitor_job(tmp_path, job.id, out, interval=0) == 143
    assert out.getvalue().splitlines()[-1] == "⏹ queued: cancelled: cancelled before it started"


def test_monitor_settles_a_running_job_whose_trainer_vanished(tmp_path):
    proc = subprocess.Popen(["true"])
    proc.wait()
    store = JobStore(tmp_path)
    a, b = _job(store, tmp_path, "a"), _job(store, tmp_path, "b")
    for job in (a, b):
        store.update(job.id, status="running", started=1.0, pid=proc.pid, pid_start=pid_start_time(proc.pid))
    out = io.StringIO()
    assert monitor_job(tmp_path, a.id, out, interval=0) == 1
    assert out.getvalue().splitlines()[-1] == f"❌ a: failed: trainer process disappeared (pid {proc.pid})"
    assert store.get(a.id).status == "failed"
    out = io.StringIO()
    assert monitor_batch(tmp_path, [a.id, b.id], out, interval=0) == 1
    assert out.getvalue().splitlines() == [f"❌ {n}: failed: trainer process disappeared (pid {proc.pid})"
                                           for n in "ab"]


def test_progress_line_says_what_the_trainer_does_before_its_first_step():
    state = RunState().update([{"t": 1, "type": "log", "level": "info", "message": "caching latents 40/200"}])
    assert progress_line(state).endswith("| Queue: 0 | caching latents 40/200")
    state.update([{"t": 2, "type": "start", "total_steps": 10, "step": 0},
                  {"t": 3, "type": "step", "step": 1, "total": 10, "loss": 0.5}])
    assert progress_line(state).endswith("| Queue: 0")  # once steps run, the line is the documented one


def test_a_terminal_or_a_file_keeps_the_progress_line():
    """Outside a Jupyter kernel progress stays the seed's line; the notebook view is for kernels only."""
    import io
    import sys

    from autotrain_gradio.monitor import Follower
    from autotrain_gradio.notebook import follower_for, in_notebook

    assert not in_notebook()
    assert type(follower_for(sys.stdout)) is Follower and type(follower_for(io.StringIO())) is Follower


def test_notebook_view_parts_come_from_the_events():
    """What the notebook cell draws (tests/packaging/test_colab.py runs it in a real kernel): the bar's figures, an
    error, the metrics of the latest evaluation, and the loss curve as a PNG."""
    from autotrain_gradio.events import RunState
    from autotrain_gradio.notebook import latest_html, loss_png, progress_html

    state = RunState().update([
        {"type": "start", "total_steps": 10, "t": 1.0},
        {"type": "step", "step": 4, "total": 10, "loss": 0.5, "eta_s": 65, "t": 2.0},
        {"type": "step", "step": 5, "total": 10, "loss": 0.25, "eta_s": 61, "t": 3.0},
        {"type": "eval", "step": 5, "metrics": {"accuracy": 0.875, "f1": 0.8}, "t": 4.0}])
    bar = progress_html(state, queue=2)
    assert "<progress value='50.0' max='100'" in bar and "step 5/10 · ETA 00:01:01 · loss 0.2500 · queue 2" in bar
    assert "<td>accuracy</td><td>0.875</td>" in latest_html(state) and "<img" not in latest_html(state)
    assert loss_png(state.losses).startswith(b"\x89PNG")
    state.update([{"type": "end", "status": "failed", "error": "CUDA out of <memory>", "t": 5.0}])
    assert "<b>failed</b>" in progress_html(state) and "CUDA out of &lt;memory&gt;" in progress_html(state)
