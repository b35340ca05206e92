"""Every bench, paired A B A B in the same process arrangement on both sides, and one table of CPU-time and wall
ratios (median of the paired ratios, [min-max]) with the machine's load.

- Trainer tasks (bench/trainer_steps.py): CPU seconds per optimizer step, ours vs the library's own Trainer on the
  same datasets; each side a fresh child process, one torch thread. Target <= 1.03.
- Tabular study (bench/tabular_study.py): the whole study's CPU and wall seconds after imports, ours vs plain Optuna
  + scikit-learn + XGBoost; each side a fresh child process. Target <= 1.05.
- App start (bench/app_start.py): `autotrain app` to its first page vs `import gradio`, CPU seconds of each process.
  Target <= 1.3.
- Queue: submit -> the trainer's first event through a warm worker vs starting the trainer directly (both trainers
  in their own session); a latency, so its "CPU" column is the wall time too. Target <= 1.3.

    python bench/run_all.py [--quick] [--only trainer,tabular,app,queue] [--tasks text-classification,...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app_start  # noqa: E402
import trainer_steps  # noqa: E402
from paired import HEADER, Pairs, Sample, load_note, paired, run_child  # noqa: E402
from queue_overhead import first_event  # noqa: E402

TABULAR_CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
import optuna, xgboost  # noqa: F401
optuna.logging.set_verbosity(optuna.logging.WARNING)
import tabular_study
if {side!r} == "ours":
    import autotrain_gradio.tasks.tabular.train  # noqa: F401
out = Path({out!r}); out.mkdir(parents=True)
wall, cpu = time.perf_counter(), time.process_time()
best = (tabular_study.ours if {side!r} == "ours" else tabular_study.plain)(Path({data!r}), out, {trials}, 42)
print(json.dumps({{"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall, "best": best}}))
"""


def tabular(reps: int, trials: int, rows: int) -> Pairs:
    import tabular_study

    bench = str(Path(__file__).resolve().parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        data = tabular_study.make_table(Path(tmp) / "data", rows)

        def side(name: str):
            def run(rep: int) -> Sample:
                code = TABULAR_CHILD.format(bench=bench, side=name, out=str(Path(tmp) / f"{name}{rep}"),
                                            data=str(data), trials=trials)
                out = json.loads(run_child([sys.executable, "-c", code], env=env)[1].strip().splitlines()[-1])
                return Sample(out["cpu_s"], out["wall_s"])
            return run

        return paired(Pairs(f"tabular study ({trials} trials)", 1.05), side("ours"), side("plain"), reps)


def queue(reps: int) -> Pairs:
    """Warm local queue vs a direct launch: seconds from the call to the trainer's first event."""
    from autotrain_gradio.jobs import cancel, ensure_worker, submit, trainer_command, worker_pid
    from autotrain_gradio.jobs.scheduler import WARM_WORKER_S

    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        pid = ensure_worker(ws, idle_grace=WARM_WORKER_S)  # as `autotrain app` starts it
        deadline = time.monotonic() + 120
        while worker_pid(ws) != pid and time.monotonic() < deadline:
            time.sleep(0.05)

        def direct(rep: int) -> Sample:
            config = _trainer_config(Path(tmp) / f"direct{rep}", f"direct{rep}")
            t0 = time.time()
            proc = subprocess.Popen(trainer_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            seconds = first_event(config.parent / "log" / "events.jsonl", timeout=300.0) - t0
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Sample(seconds, seconds)

        def queued(rep: int) -> Sample:
            config = _trainer_config(ws, f"queued{rep}")
            t0 = time.time()
            job = submit(ws, name=f"queued{rep}", profile="bench", config_path=config, secrets={})
            seconds = first_event(config.parent / "log" / "events.jsonl", timeout=300.0) - t0
            cancel(ws, job.id, grace=2)
            return Sample(seconds, seconds)

        try:
            return paired(Pairs("queue submit -> first event", 1.3, note="latency (wall) both columns"), queued,
                          direct, reps)
        finally:
            os.kill(pid, signal.SIGTERM)


def _trainer_config(ws: Path, name: str) -> Path:
    from autotrain_gradio.config import save_config
    from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig

    data = ws / "data" / name
    trainer_steps.make_data("text-classification", data, 64)
    cfg = TextClassificationConfig(name=name, base_model="tiny:bert", data_dir=str(data),
                                   output_dir=str(ws / "output" / name), max_steps=1000, valid_split=0.0)
    return save_config(cfg, Path(cfg.output_dir) / "config.toml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes for a busy 2-core machine (about 30 minutes)")
    parser.add_argument("--only", default="trainer,tabular,app,queue")
    parser.add_argument("--tasks", default=",".join(trainer_steps.TASKS))
    args = parser.parse_args()
    reps = 2 if args.quick else 4
    steps, batch = (20, 8) if args.quick else (60, 16)
    trials, rows = (3, 1000) if args.quick else (10, 5000)
    only = args.only.split(",")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    start_load = load_note()
    rows_out: list[Pairs] = []
    if "trainer" in only:
        rows_out += trainer_steps.measure(args.tasks.split(","), reps, steps, batch, warmup=5)
    if "tabular" in only:
        rows_out.append(tabular(reps, trials, rows))
    if "app" in only:
        rows_out.append(app_start.measure(reps))
    if "queue" in only:
        rows_out.append(queue(reps + 1))
    print(f"\nmachine: {start_load} at the start, {load_note()} at the end; ratios are ours / reference, median of "
          f"{reps} A B A B pairs [min-max]")
    print(HEADER)
    for pairs in rows_out:
        print(pairs.row())


if __name__ == "__main__":
    main()
