"""What following a running job costs: `autotrain train monitor --job ID --interval 1` against a real tiny-ViT
training job, for N seconds.

The monitor runs as its own process (as a user would run it); its CPU time (utime + stime from /proc) over the
measured window, divided by the window's wall time, is its share of one core. The trainer's CPU over the same
window is the reference it is compared with. Target: < 1% of a core.

    python bench/monitor_overhead.py [--seconds 30] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from autotrain_gradio.config import save_config
from autotrain_gradio.jobs import JobStore, cancel, submit
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def make_job(ws: Path) -> int:
    data = ws / "input" / "toy"
    rng = random.Random(0)
    for label in ("red", "blue"):
        (data / label).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (32, 32), (rng.randint(0, 255), 40, 200 if label == "blue" else 20)).save(
                data / label / f"{i}.png")
    # Far more steps than the window needs: the job is cancelled when the measurement ends.
    cfg = ImageClassificationConfig(name="toy", base_model="tiny:vit", data_dir=str(data),
                                    output_dir=str(ws / "output" / "toy"), batch_size=4, max_steps=1_000_000,
                                    valid_split=0.0, eval_every_epoch=False, log_every=1)
    config = save_config(cfg, Path(cfg.output_dir) / "config.toml")
    return submit(ws, name="toy", profile="bench", config_path=config).id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window (default 30)")
    parser.add_argument("--interval", type=float, default=1.0, help="monitor refresh interval (default 1 Hz)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        ws = Path(tmp)
        os.environ.setdefault("AUTOTRAIN_TINY_CACHE", str(ws / "tiny"))
        job_id = make_job(ws)
        store = JobStore(ws)
        deadline = time.monotonic() + 300
        while store.get(job_id).last_step < 5:
            if time.monotonic() > deadline or store.get(job_id).done:
                print(f"job did not start training: {store.get(job_id)}", file=sys.stderr)
                return 1
            time.sleep(0.5)
        trainer_pid = store.get(job_id).pid

        monitor = subprocess.Popen(
            [sys.executable, "-c", "import sys; from autotrain_gradio.cli import main; sys.exit(main(sys.argv[1:]))",
             "--workspace", str(ws), "train", "monitor", "--job", str(job_id), "--interval", str(args.interval)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(5.0)  # imports and the first redraw are start-up, not following
            m0, t0, w0 = cpu_seconds(monitor.pid), cpu_seconds(trainer_pid), time.monotonic()
            s0 = store.get(job_id).last_step
            time.sleep(args.seconds)
            m1, t1, w1 = cpu_seconds(monitor.pid), cpu_seconds(trainer_pid), time.monotonic()
            s1 = store.get(job_id).last_step
        finally:
            cancel(ws, job_id, grace=20)
            monitor.wait(timeout=60)
        lines = monitor.stdout.read().splitlines()
        store.close()

    wall = w1 - w0
    mon, trainer = m1 - m0, t1 - t0
    print(f"window {wall:.1f} s, interval {args.interval} s, trainer advanced {s1 - s0} steps, "
          f"monitor printed {len(lines)} lines in all (last: {lines[-1] if lines else ''!r})")
    print(f"monitor CPU {mon:.3f} s = {mon / wall * 100:.2f}% of a core (target < 1%)")
    print(f"trainer CPU {trainer:.2f} s = {trainer / wall * 100:.1f}% of a core; "
          f"monitor/trainer = {mon / trainer * 100 if trainer else float('nan'):.2f}%")
    print(f"monitor exit code {monitor.returncode} (143: the job ended cancelled)")
    return 0 if mon / wall < 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
