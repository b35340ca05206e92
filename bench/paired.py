"""What every bench shares: CPU seconds of a child process, paired A B A B runs, and a median of ratios with its
spread. CPU seconds (user + system, the process and the children it waited for) hold on a loaded machine; wall time
does not (the kernel shares the cores among everyone), so the table reports both and judges on CPU.

Both sides of a pair always run in the same arrangement (each as a fresh child process here), so neither gets a
scheduling advantage (a process in its own session gets its own CPU share under load)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Sample:
    cpu_s: float
    wall_s: float


@dataclass
class Pairs:
    """Paired samples of ours and the reference, in run order."""

    name: str
    target: float | None = None
    ours: list[Sample] = field(default_factory=list)
    reference: list[Sample] = field(default_factory=list)
    note: str = ""

    def ratios(self, attr: str) -> list[float]:
        return [getattr(o, attr) / getattr(r, attr) for o, r in zip(self.ours, self.reference, strict=False)
                if getattr(r, attr) > 0]

    def row(self) -> str:
        """One table row: median ours / reference (CPU and wall), median of paired ratios with min-max."""
        def cell(attr: str) -> str:
            ratios = self.ratios(attr)
            if not ratios:
                return f"{'-':>22s}"
            return f"{statistics.median(ratios):6.3f} [{min(ratios):.2f}-{max(ratios):.2f}]".rjust(22)

        ours = statistics.median(s.cpu_s for s in self.ours) if self.ours else float("nan")
        ref = statistics.median(s.cpu_s for s in self.reference) if self.reference else float("nan")
        target = f"<= {self.target:.2f}" if self.target else ""
        cpu = self.ratios("cpu_s")
        verdict = "" if not self.target or not cpu else ("ok" if statistics.median(cpu) <= self.target else "OVER")
        return (f"{self.name:34s} {ours:9.3f} {ref:9.3f} {cell('cpu_s')} {cell('wall_s')} {len(cpu):3d} "
                f"{target:8s} {verdict:4s} {self.note}")


HEADER = (f"{'bench':34s} {'ours cpu':>9s} {'ref cpu':>9s} {'cpu ratio [min-max]':>22s} {'wall ratio [min-max]':>22s} "
          f"{'n':>3s} {'target':8s}")


def run_child(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> tuple[Sample, str]:
    """Run cmd to its end; its CPU seconds (it and its waited-for children) and wall seconds, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(cpu, wall), out.stdout


def proc_cpu_s(pid: int) -> float:
    """CPU seconds so far of a live process (all its threads, plus its waited-for children), from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks  # utime stime cutime cstime


def paired(pairs: Pairs, ours: Callable[[int], Sample], reference: Callable[[int], Sample], reps: int) -> Pairs:
    """A B A B ...: each rep runs reference then ours, the next rep ours then reference (drift hits both)."""
    for rep in range(reps):
        order = (("reference", reference), ("ours", ours)) if rep % 2 == 0 else (("ours", ours),
                                                                                 ("reference", reference))
        for side, fn in order:
            getattr(pairs, side).append(fn(rep))
        print(f"  {pairs.name} rep {rep}: ours {pairs.ours[-1].cpu_s:.4g} cpu s {pairs.ours[-1].wall_s:.4g} wall s, "
              f"reference {pairs.reference[-1].cpu_s:.4g} cpu s {pairs.reference[-1].wall_s:.4g} wall s", flush=True)
    return pairs


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} (1 / 5 min) on {os.cpu_count()} cores"
