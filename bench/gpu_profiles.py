"""Every shipped GPU profile on its full-size model, measured on this card: per phase the time (load + cache, s per
training step, s per sample / generated token), the peak allocated and reserved memory, the memory preflight's
estimate and the ratio peak reserved / estimate. One markdown table and a JSON file, rewritten after each profile,
so a run that is cut off still leaves what it measured.

The models are the full-size architectures built from the public configs the package ships, with random weights
(bench/gpu_models.py: built on the GPU in bf16, saved once to --scratch, default /dev/shm): no download, no network.
Each profile then runs the real path in its own process (so its peaks are its own): `run_pipeline(mode='prepare')`
on a synthetic dataset at the profile's resolution / sequence length, then the trainer harness (`train.run`) for
--warmup + --steps steps with the profile's settings (memory_preflight off: the profile as written), and one
sample (diffusion: the final sample, --sample-steps steps; LLM: --tokens generated tokens).

    python bench/gpu_profiles.py                          # all profiles, about 6-8 minutes on one H100 / H200
    python bench/gpu_profiles.py --only FluxLORA,LLM-SFT  # some of them
    python bench/gpu_profiles.py --smoke                  # the same on the CPU with the tiny models (tests run it)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from gpu_models import materialise  # bench/gpu_models.py: python puts the script's folder on sys.path

from autotrain_gradio.events import EventWriter

PROFILES = ("FluxLORA", "FluxLORA-24GB", "FluxLORA-16GB", "FluxLORA-12GB", "FluxLORA-8GB", "SDXL-LoRA", "SD15-LoRA",
            "SDXL-FullTE", "LLM-SFT", "LLM-DPO")
PHASES = ("cache", "train", "sample")
GIB = 1024**3


# --- measuring one run: the trainer's own events mark the phases -------------------------------------------------


class PhaseEvents(EventWriter):
    """The run's event writer, noting the time and the CUDA peaks at each phase boundary: `start` ends loading +
    caching, a `sample` event ends training (the export is counted there), the caller ends the last phase."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.begin = self.last = time.time()
        self.steps: list[float] = []
        self.phases: dict[str, dict] = {}
        self.sample_steps = 1  # denoising steps of one sample

    def mark(self, phase: str, seconds: float, per_step: float | None = None) -> None:
        cuda = torch.cuda.is_available()
        self.phases[phase] = {
            "s": round(seconds, 3), "s_per_step": None if per_step is None else round(per_step, 4),
            "alloc_gib": round(torch.cuda.max_memory_allocated() / GIB, 2) if cuda else None,
            "reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 2) if cuda else None}
        if cuda:
            torch.cuda.reset_peak_memory_stats()

    def emit(self, type: str, **fields):
        now = time.time()
        if type == "start":
            self.mark("cache", now - self.begin)
        elif type == "step":
            self.steps.append(now)
        elif type == "sample" and "train" not in self.phases:
            self.end_training(self.last)
            self.mark("sample", now - self.last, (now - self.last) / self.sample_steps)
        self.last = now
        return super().emit(type, **fields)

    def end_training(self, now: float) -> None:
        if "train" in self.phases or not self.steps:
            return
        gaps = [b - a for a, b in zip(self.steps[:-1], self.steps[1:], strict=True)][WARMUP[0] - 1:] or [0.0]
        self.mark("train", now - self.phases.get("cache", {"s": 0})["s"] - self.begin, statistics.median(gaps))


WARMUP = [2]  # steps not timed (set from --warmup): compilation, allocator growth, the first optimizer step


# --- one profile --------------------------------------------------------------------------------------------------


def family_of(profile) -> str:
    return "llm" if profile.task == "llm" else profile.config["model_type"]


def make_data(family: str, profile, folder: Path, smoke: bool) -> Path:
    """A synthetic dataset the profile accepts: captioned images at its resolution, or chat / preference rows
    about as long as its model_max_length (the tiny byte-level tokenizer: one token per character)."""
    folder.mkdir(parents=True, exist_ok=True)
    if family == "llm":
        chars = 20 if smoke else profile.config.get("model_max_length", 1024) // 2 - 40
        text = ("the quick brown fox jumps over the lazy dog " * (chars // 44 + 1))[:chars]
        path = folder / "rows.jsonl"
        with path.open("w") as fh:
            for i in range(16):
                if profile.config.get("trainer") == "dpo":
                    row = {"prompt": f"{i} {text}", "chosen": text, "rejected": text[::-1]}
                else:
                    row = {"messages": [{"role": "user", "content": f"{i} {text}"},
                                        {"role": "assistant", "content": text}]}
                fh.write(json.dumps(row) + "\n")
        return path
    from PIL import Image

    side = 32 if smoke else profile.config.get("resolution", 1024)
    images = folder / "images"
    images.mkdir(exist_ok=True)
    for i in range(10):
        gradient = Image.linear_gradient("L").resize((side, side)).rotate(36 * i)
        Image.merge("RGB", (gradient, gradient.transpose(Image.FLIP_LEFT_RIGHT), gradient)).save(images / f"{i}.png")
        (images / f"{i}.txt").write_text(f"a photo of sks, picture {i}")
    return images


def overrides(family: str, base: Path, args) -> dict:
    """The profile as written, but: the random-weight model, few steps, no checkpoints, one short sample."""
    out = {"base_model": str(base), "max_steps": args.warmup + args.steps, "checkpoint_every": 0}
    if args.smoke:  # a quick pass through the same code: one micro-batch of one row per step
        out.update(batch_size=1, gradient_accumulation=1)
    if family == "llm":
        out.update(valid_split=0.0)
        if args.smoke:
            out.update(model_max_length=96, block_size=96)
        return out
    out.update(sample_every=0, sample_steps=args.sample_steps, sample_prompts=["a photo of {trigger}"],
               memory_preflight="off")
    if args.smoke:  # the tiny models: small images and prompts, no CUDA-only quantization, nothing to swap
        out.update(resolution=32, quantize_base="none", blocks_to_swap=0)
        if family == "flux":
            out.update(max_sequence_length=16)
    return out


def estimate(cfg, model_path: str) -> dict[str, float | None]:
    """The memory preflight's estimate per phase, GiB (the LLM preflight estimates the training step only)."""
    if cfg.task == "llm":
        from autotrain_gradio.tasks.llm.preflight import estimate_memory

        return {"cache": None, "train": estimate_memory(cfg, model_path).total / GIB, "sample": None}
    from autotrain_gradio.tasks.diffusion.preflight import OVERHEAD, estimate_memory

    est = estimate_memory(cfg, model_path)
    return {"cache": (est.caching + OVERHEAD) / GIB, "train": (est.training + OVERHEAD) / GIB,
            "sample": (est.sampling + OVERHEAD) / GIB}


def run_profile(name: str, args) -> dict:
    """Build (once) the family's model, prepare the data, train and sample; the measurements."""
    from autotrain_gradio import train
    from autotrain_gradio.pipeline.run import run_pipeline
    from autotrain_gradio.profiles import get_profile

    WARMUP[0] = args.warmup
    profile = get_profile(name)
    family = family_of(profile)
    cuda = torch.cuda.is_available()
    base = materialise(family, Path(args.scratch), smoke=args.smoke, device="cuda" if cuda else "cpu",
                       dtype=torch.bfloat16 if cuda else torch.float32)
    work = Path(args.scratch) / "work"
    data = make_data(family, profile, work / "data" / name, args.smoke)
    result = run_pipeline(str(data), name, dataset_name=name.lower().replace(".", "-"),
                          workspace=str(work), mode="prepare", force=True, quiet=True,
                          overrides=overrides(family, base, args))
    if result.exit_code != 0:
        raise SystemExit(f"{name}: prepare failed: {'; '.join(result.errors)}")
    ctx = train.open_context(str(work / "output" / result.name / "config.toml"), resume=False)
    ctx.events.close()
    events = ctx.events = PhaseEvents(ctx.paths.events)
    events.sample_steps = getattr(ctx.cfg, "sample_steps", 1)
    code = train.run(ctx)
    if code != 0:
        raise SystemExit(f"{name}: the trainer failed: {ctx.extra.get('error')}")
    events.end_training(time.time())
    if family == "llm":  # one generation: s per new token
        model, tokenizer = ctx.extra["model"], ctx.extra["processor"]
        model.config.use_cache = True
        inputs = tokenizer("the quick brown fox", return_tensors="pt").to(model.device)
        start = time.time()
        with torch.no_grad():
            model.generate(**inputs, max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False)
        events.mark("sample", time.time() - start, (time.time() - start) / args.tokens)
    cfg = ctx.cfg
    size = f"{cfg.model_max_length} tok" if family == "llm" else f"{cfg.resolution} px"
    return {"profile": name, "family": family, "size": size, "batch": cfg.batch_size, "phases": events.phases,
            "estimate_gib": estimate(cfg, str(base) if args.smoke else profile.config["base_model"])}


# --- the table ------------------------------------------------------------------------------------------------


def _num(value, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def table_row(r: dict) -> str:
    if "error" in r:
        return f"| {r['profile']} | failed: {r['error'][:150]} |" + " |" * 7
    ph, est = r["phases"], r["estimate_gib"]
    peaks = {p: ph.get(p, {}).get("reserved_gib") for p in PHASES}
    ratios = [peaks[p] / est[p] for p in PHASES if peaks[p] and est.get(p)]
    triple = lambda key: " / ".join(_num(ph.get(p, {}).get(key)) for p in PHASES)  # noqa: E731
    return (f"| {r['profile']} | {r['size']}, batch {r['batch']} | {_num(ph.get('cache', {}).get('s'), '{:.1f}')} "
            f"| {_num(ph.get('train', {}).get('s_per_step'), '{:.3f}')} "
            f"| {_num(ph.get('sample', {}).get('s_per_step'), '{:.3f}')} | {triple('alloc_gib')} "
            f"| {triple('reserved_gib')} | {' / '.join(_num(est.get(p)) for p in PHASES)} "
            f"| {_num(max(ratios) if ratios else None)} |")


def write_table(rows: list[dict], out: Path, device: str) -> Path:
    head = (f"# GPU profiles on {device}\n\ntorch {torch.__version__}; full-size architectures with random weights; "
            "phases: load + cache / train / sample; memory in GiB (peaks per phase); ratio = the largest "
            "peak reserved / preflight estimate of a phase.\n\n"
            "| profile | size | load + cache s | train s/step | sample s/step | peak alloc c/t/s | peak reserved "
            "c/t/s | preflight c/t/s | ratio |\n|---|---|---|---|---|---|---|---|---|\n")
    md = out.with_suffix(".md")
    md.write_text(head + "\n".join(table_row(r) for r in rows) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"device": device, "torch": torch.__version__, "rows": rows},
                                                   indent=2))
    return md


def device_name() -> str:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (smoke: tiny models)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated profiles (default: all GPU profiles)")
    parser.add_argument("--smoke", action="store_true", help="the CPU with the tiny models, in this process")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--sample-steps", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--scratch", default="", help="where the random-weight models go (default /dev/shm/...)")
    parser.add_argument("--out", default="", help="table path without suffix (default bench/results/gpu_profiles_"
                        "<card>)")
    parser.add_argument("--timeout", type=int, default=240, help="seconds per profile")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one profile in this process; its result as JSON on the last line
        print("RESULT " + json.dumps(run_profile(args.child, args)), flush=True)
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(PROFILES)
    if not args.smoke and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: use --smoke for the CPU run with the tiny models")
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() and not args.smoke else Path(tempfile.gettempdir())
    args.scratch = args.scratch or str(shm / f"autotrain-gpu-profiles-{os.getuid()}")
    device = device_name()
    slug = "".join(c if c.isalnum() else "_" for c in device).strip("_")
    default = Path(args.scratch) / "gpu_profiles_smoke" if args.smoke else \
        Path(__file__).parent / "results" / f"gpu_profiles_{slug}"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} on {device} ...", flush=True)
        start = time.time()
        try:
            row = run_profile(name, args) if args.smoke else _child(name, args, argv or sys.argv[1:])
        except (SystemExit, Exception) as err:  # noqa: BLE001 - one profile's failure is a row, not the end
            row = {"profile": name, "error": f"{type(err).__name__}: {err}"}
        rows.append(row)
        md = write_table(rows, out, device)
        print(f"[{i}/{len(names)}] {name} done in {time.time() - start:.0f} s\n{table_row(row)}", flush=True)
    print(f"\n{md.read_text()}\nwritten: {md} and {out.with_suffix('.json')}")
    return 0 if all("error" not in r for r in rows) else 1


def _child(name: str, args, argv: list[str]) -> dict:
    """Run one profile in a fresh process (its own CUDA peaks, an OOM ends that row only)."""
    cmd = [sys.executable, __file__, *argv, "--child", name, "--scratch", args.scratch]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=args.timeout)
    lines = proc.stdout.splitlines()
    print("\n".join("    " + line for line in lines if not line.startswith("RESULT ")), flush=True)
    result = next((line[7:] for line in reversed(lines) if line.startswith("RESULT ")), None)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"exit code {proc.returncode}; see the output above")
    return json.loads(result)


if __name__ == "__main__":
    sys.exit(main())
