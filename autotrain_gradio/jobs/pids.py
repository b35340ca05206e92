"""Processes by pid, Linux /proc first: is it alive (and the same process as before), signal its group, and find
a trainer by the launch key in its environment (how a worker that died between starting a trainer and recording
its pid finds it again, instead of starting a second one)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

LAUNCH_KEY_VAR = "AUTOTRAIN_LAUNCH_KEY"


def pid_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), None if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and ')': split after the last ')'.
    rest = stat[stat.rfind(")") + 2:].split()
    return int(rest[19]) if len(rest) > 19 else None


def pid_alive(pid: int | None, start: int | None = None) -> bool:
    """True if pid runs (not a zombie) and, when `start` is given, is the same process that started then."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists but belongs to someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2:].startswith("Z"):
            return False
    except OSError:
        return sys.platform != "linux"  # no /proc: trust os.kill
    return start is None or pid_start_time(pid) == start


def signal_group(pid: int, sig: int) -> bool:
    """Send sig to the process group led by pid (the trainer's session). False if it is already gone."""
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def find_launched(key: str) -> int | None:
    """The pid of the live process group leader whose environment holds LAUNCH_KEY_VAR=key, or None."""
    needle = f"{LAUNCH_KEY_VAR}={key}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pid = int(entry.name)
                if os.getpgid(pid) == pid and pid_alive(pid):
                    return pid
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return None
