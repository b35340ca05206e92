"""What the step-time benches share: run `ours` and `reference` as child processes, interleaved rep by rep (so drift
in machine load hits both), each printing one JSON line {"step_s", "rss_mb"}; then print medians, peak RSS and the
ratio. Each rep's two runs are neighbours in time, so their paired ratio cancels most of the load of other
processes."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys


def interleave(script: str, child_args: list[str], reps: int, env: dict[str, str], title: str,
               target: float) -> dict[str, list[dict]]:
    """Run `script --child SIDE --rep N *child_args` for each rep and side; print the results and the ratio."""
    results: dict[str, list[dict]] = {"ours": [], "reference": []}
    for rep in range(reps):
        for side in ("ours", "reference"):
            cmd = [sys.executable, script, "--child", side, "--rep", str(rep), *child_args]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                sys.exit(f"{side} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
            results[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"rep {rep} {side:9s} {results[side][-1]['step_s'] * 1000:8.2f} ms/step  "
                  f"peak RSS {results[side][-1]['rss_mb']:7.0f} MB", flush=True)
    ours = statistics.median(r["step_s"] for r in results["ours"])
    ref = statistics.median(r["step_s"] for r in results["reference"])
    print(f"\n{title}")
    print(f"ours      {ours * 1000:8.2f} ms/step   peak RSS {max(r['rss_mb'] for r in results['ours']):7.0f} MB")
    print(f"reference {ref * 1000:8.2f} ms/step   peak RSS {max(r['rss_mb'] for r in results['reference']):7.0f} MB")
    paired = statistics.median(o["step_s"] / r["step_s"]
                               for o, r in zip(results["ours"], results["reference"], strict=True))
    print(f"ratio ours/reference = {ours / ref:.3f} (medians), {paired:.3f} (median of per-rep ratios); "
          f"target <= {target:.2f}")
    return results
