"""One Trainer task on two processes against one, the same total batch, measured in one run: the tiny text
classifier trained by the real launcher (`--immediate`: one process, or two gloo ranks under torchrun on a CPU),
repetitions interleaved (one, two, one, two ...); per-step time is the median over a run's step events after
warm-up (loading and start-up not counted), then over repetitions; speed-up = one-process step time / two-process.

FSDP's per-rank memory vs one process needs CUDA GPUs (accelerate shards only over accelerators); without them the
script prints the LLM preflight's per-GPU estimate for one process and for FSDP over two, for Qwen2.5-0.5B-Instruct.

    python bench/distributed_speedup.py [--reps 2] [--steps 30] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from autotrain_gradio.events import read_events
from autotrain_gradio.pipeline.run import run_pipeline

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "cat", "dog", "sun", "sea"]


def _table(folder: Path) -> Path:
    rows = [{"text": " ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 12)), "target": "pos" if i % 2 else "neg"}
            for i in range(200)]
    path = folder / "reviews.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def step_time(ws: Path, data: Path, processes: int, rep: int, args) -> float:
    name = f"p{processes}-{rep}"
    result = run_pipeline(str(data), "TinyTextClassification", workspace=str(ws), dataset_name=name, quiet=True,
                          immediate=True, monitor=False, force=True,
                          overrides={"num_processes": processes, "batch_size": args.batch // processes,
                                     "max_steps": args.warmup + args.steps, "valid_split": 0.0, "log_every": 1})
    if result.exit_code != 0:
        raise SystemExit(f"{name} failed: {result.phases[-1].message}")
    marks = [e["t"] for e in read_events(ws / "output" / name / "log" / "events.jsonl") if e["type"] == "step"]
    return statistics.median(b - a for a, b in zip(marks[args.warmup - 1:-1], marks[args.warmup:], strict=True))


def fsdp_memory() -> str:
    from autotrain_gradio.profiles import get_profile
    from autotrain_gradio.tasks import config_from_dict
    from autotrain_gradio.tasks.llm.preflight import GIB, estimate_memory

    cfg = config_from_dict({**get_profile("LLM-SFT").config, "task": "llm", "peft": False})
    one = estimate_memory(cfg, cfg.base_model, "ddp", 1).total / GIB
    two = estimate_memory(cfg, cfg.base_model, "fsdp", 2).total / GIB
    return (f"FSDP per-rank memory (preflight estimate, no CUDA here): Qwen2.5-0.5B full fine-tune, one process "
            f"{one:.2f} GiB, FSDP x2 {two:.2f} GiB per rank (ratio {two / one:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="rows per optimizer step in total")
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="dist-bench-") as tmp:
        data = _table(Path(tmp))
        for rep in range(args.reps):
            for processes in (1, 2):
                times[processes].append(step_time(Path(tmp) / "ws", data, processes, rep, args))
                print(f"rep {rep}: {processes} process(es) {times[processes][-1] * 1000:.1f} ms/step", flush=True)
    one, two = (statistics.median(times[p]) for p in (1, 2))
    print(f"\ntiny text classifier, {args.batch} rows per step: one process {one * 1000:.1f} ms/step, two processes "
          f"{two * 1000:.1f} ms/step; speed-up {one / two:.2f}x")
    print(fsdp_memory())


if __name__ == "__main__":
    main()
