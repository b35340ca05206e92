"""Threads under load: the same text-classification job (the trainer command, as every launch path runs it) with our
thread rule (no OMP_NUM_THREADS: threads.py decides), with OMP_NUM_THREADS=1 and with torch's own default (every
core: OMP_NUM_THREADS=<cores>), interleaved; wall and CPU seconds of each whole job. On a busy machine the rule must
be no slower than 1 thread; on an idle one no slower than every core.

    python bench/threads.py [--reps 2] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import load_note, run_child  # noqa: E402
from trainer_steps import make_config, make_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    from autotrain_gradio.config import save_config
    from autotrain_gradio.threads import usable_cores

    cores = str(usable_cores())
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    setups = {"our rule": base, "1 thread": {**base, "OMP_NUM_THREADS": "1"},
              f"{cores} threads": {**base, "OMP_NUM_THREADS": cores}}
    results: dict[str, list] = {k: [] for k in setups}
    print(load_note(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_data("text-classification", data, args.steps * 8)
        for rep in range(args.reps):
            for name, env in (setups.items() if rep % 2 == 0 else reversed(setups.items())):
                cfg = make_config("text-classification", data, Path(tmp) / "output" / f"r{rep}{len(results[name])}"
                                  f"{name[0]}", args.steps, 8)
                config = save_config(cfg, Path(cfg.output_dir) / "config.toml")
                sample, _ = run_child([sys.executable, "-m", "autotrain_gradio.train", "--config", str(config)],
                                      env=env)
                results[name].append(sample)
                print(f"rep {rep} {name:10s} {sample.wall_s:7.1f} s wall {sample.cpu_s:7.1f} s CPU", flush=True)
    print(load_note())
    for name, samples in results.items():
        print(f"{name:10s} median {statistics.median(s.wall_s for s in samples):7.1f} s wall "
              f"{statistics.median(s.cpu_s for s in samples):7.1f} s CPU")


if __name__ == "__main__":
    main()
