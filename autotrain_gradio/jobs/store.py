"""The job store: one SQLite (WAL) table in `<workspace>/jobs.db`, one row per job.

Every process that touches jobs (the background worker, the CLI, the app, a notebook) opens its own `JobStore`;
SQLite's locking is what makes them agree. Claiming a job is a single `BEGIN IMMEDIATE` transaction, so two
workers (or a worker and a stale one) can never start the same job twice. Parameterised SQL only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from autotrain_gradio.events import END_STATUSES
from autotrain_gradio.jobs.pids import pid_start_time
from autotrain_gradio.workspace import jobs_db

FINAL = END_STATUSES
BACKENDS = ("local", "ray", "hf-jobs")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'queued',
    gpu_ids TEXT,                  -- JSON list the user asked for, NULL: any free GPUs
    assigned_gpus TEXT NOT NULL DEFAULT '[]',
    num_gpus INTEGER NOT NULL DEFAULT 1,
    max_concurrent INTEGER NOT NULL DEFAULT 1,
    pid INTEGER,
    pid_start INTEGER,             -- /proc start time of pid, so a reused pid is not mistaken for ours
    config_path TEXT NOT NULL,
    output_dir TEXT NOT NULL,
    resume INTEGER NOT NULL DEFAULT 0,
    events_offset INTEGER NOT NULL DEFAULT 0,  -- size of events.jsonl at launch: older runs' events are skipped
    created REAL NOT NULL,
    queued_at REAL NOT NULL,       -- FIFO key; a resumed job goes to the back of the queue
    started REAL,
    finished REAL,
    last_step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    error TEXT NOT NULL DEFAULT '',
    cancel_requested REAL,         -- when `cancel` sent SIGTERM; SIGKILL follows after kill_grace seconds
    kill_grace REAL NOT NULL DEFAULT 30
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, queued_at, id);
CREATE TABLE IF NOT EXISTS queues (
    backend TEXT PRIMARY KEY,      -- local | ray | hf-jobs: each backend is a queue of its own
    max_concurrent INTEGER NOT NULL DEFAULT 1
);
"""

# Columns added after the first release: (name, declaration). Older databases get them on open.
_ADDED = [
    ("backend", "TEXT NOT NULL DEFAULT 'local'"),
    ("remote_id", "TEXT"),          # the backend's id for the run: Ray submission id, HF job id
    ("launch_key", "TEXT"),         # set at claim, in the trainer's environment: finds it after a worker crash
    ("secrets_id", "TEXT"),         # the handle the worker holds the submitter's secrets under (never the values)
    ("options", "TEXT NOT NULL DEFAULT '{}'"),  # backend options (ray address, flavor ...), JSON
    ("owner", "TEXT NOT NULL DEFAULT ''"),  # who submitted it (a Space's OAuth user, an --auth login); '' = local
    ("in_process", "INTEGER NOT NULL DEFAULT 0"),  # trains inside process `pid` (a notebook, a ZeroGPU app)
]

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER: every job id is at most this


@dataclass
class Job:
    """One row of the store, with JSON columns decoded."""

    id: int
    name: str
    profile: str
    status: str
    gpu_ids: list[int] | None
    assigned_gpus: list[int]
    num_gpus: int
    max_concurrent: int
    pid: int | None
    pid_start: int | None
    config_path: str
    output_dir: str
    resume: bool
    events_offset: int
    created: float
    queued_at: float
    started: float | None
    finished: float | None
    last_step: int
    total_steps: int
    exit_code: int | None
    error: str
    cancel_requested: float | None
    kill_grace: float
    backend: str = "local"
    remote_id: str | None = None
    launch_key: str | None = None
    secrets_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    owner: str = ""
    in_process: bool = False  # the process `pid` trains it itself: a cancel sets the flag, never a signal

    @property
    def events_path(self) -> Path:
        return Path(self.output_dir) / "log" / "events.jsonl"

    @property
    def log_path(self) -> Path:
        """The trainer's stdout and stderr."""
        return Path(self.output_dir) / "log" / "train.log"

    @property
    def done(self) -> bool:
        return self.status in FINAL

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


_COLUMNS = [f.name for f in fields(Job)]


def _row_to_job(row: sqlite3.Row) -> Job:
    data: dict[str, Any] = dict(row)
    data["gpu_ids"] = json.loads(data["gpu_ids"]) if data["gpu_ids"] is not None else None
    data["assigned_gpus"] = json.loads(data["assigned_gpus"])
    data["resume"] = bool(data["resume"])
    data["in_process"] = bool(data["in_process"])
    data["options"] = json.loads(data["options"])
    return Job(**data)


class JobStore:
    """Jobs in `<workspace>/jobs.db`. Cheap to create; each instance holds one connection (not thread-safe)."""

    def __init__(self, workspace: str | Path):
        self.path = jobs_db(Path(workspace))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves, so a claim is exactly one immediate transaction.
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout=30000")
        self._use_wal()
        self.conn.executescript(_SCHEMA)
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(jobs)")}
        for name, decl in _ADDED:
            if name not in have:
                try:
                    self.conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
                except sqlite3.OperationalError as err:  # another process added it a moment ago
                    if "duplicate column" not in str(err):
                        raise

    def _use_wal(self) -> None:
        # Switching a new database to WAL needs a moment alone with it, and SQLite answers "database is locked"
        # at once (no busy wait) when other processes are opening it too: retry briefly. WAL then persists.
        for attempt in range(200):
            try:
                if self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or attempt == 199:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.conn.close()

    # --- reading ---------------------------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        """The job with this id, or None (also for an id no SQLite integer can hold: such a job cannot exist)."""
        if not 0 < int(job_id) <= MAX_ID:
            return None
        row = self.conn.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        return _row_to_job(row) if row else None

    def list(self, status: str | tuple[str, ...] | None = None) -> list[Job]:
        """Jobs in id order, optionally only those with the given status(es)."""
        if status is None:
            rows = self.conn.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        else:
            wanted = (status,) if isinstance(status, str) else tuple(status)
            marks = ",".join("?" * len(wanted))
            rows = self.conn.execute(f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY id", wanted).fetchall()
        return [_row_to_job(r) for r in rows]

    def list_owned(self, owner: str) -> list[Job]:
        """The jobs one user submitted, in id order (what a visitor of a shared app may see)."""
        rows = self.conn.execute("SELECT * FROM jobs WHERE owner = ? ORDER BY id", (owner,)).fetchall()
        return [_row_to_job(r) for r in rows]

    def queued(self) -> list[Job]:
        """The queue in the order it will run (FIFO)."""
        rows = self.conn.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY queued_at, id").fetchall()
        return [_row_to_job(r) for r in rows]

    # --- writing ---------------------------------------------------------------------------------------------

    def add(self, *, name: str, profile: str, config_path: str | Path, output_dir: str | Path,
            gpu_ids: list[int] | None = None, num_gpus: int = 1, max_concurrent: int | None = None,
            resume: bool = False, kill_grace: float = 30.0, running_pid: int | None = None,
            backend: str = "local", options: dict[str, Any] | None = None, secrets_id: str | None = None,
            owner: str = "", in_process: bool = False) -> Job:
        """Append a queued job and return it. `max_concurrent`, when given, becomes the setting of the backend's
        queue (see `set_max_concurrent`). With `running_pid`, the row starts as running under that process (a
        foreground run that the queue must count and `train list` must show, but no worker may launch);
        `in_process`: that process trains it itself (jobs/inprocess.py)."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        now = time.time()
        status, started = ("running", now) if running_pid else ("queued", None)
        pid_start = pid_start_time(running_pid) if running_pid else None
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if max_concurrent is not None:
                self._set_max_concurrent(backend, max_concurrent)
            cur = self.conn.execute(
                "INSERT INTO jobs (name, profile, status, gpu_ids, num_gpus, max_concurrent, config_path, output_dir,"
                " resume, created, queued_at, kill_grace, started, pid, pid_start, backend, options, secrets_id, owner,"
                " in_process) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, profile, status, json.dumps(gpu_ids) if gpu_ids is not None else None, max(1, num_gpus),
                 self.max_concurrent(backend), str(Path(config_path).resolve()), str(Path(output_dir).resolve()),
                 int(resume), now, now, kill_grace, started, running_pid, pid_start, backend,
                 json.dumps(options or {}), secrets_id, owner, int(in_process)),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return self.get(cur.lastrowid)  # type: ignore[return-value]

    # --- queue settings --------------------------------------------------------------------------------------

    def max_concurrent(self, backend: str = "local") -> int:
        """How many jobs of this backend's queue may run at once (1 until someone sets it)."""
        row = self.conn.execute("SELECT max_concurrent FROM queues WHERE backend = ?", (backend,)).fetchone()
        return int(row[0]) if row else 1

    def set_max_concurrent(self, backend: str, value: int) -> None:
        """Set the queue's max-concurrent; it applies to every job of that backend from the next launch on."""
        self._set_max_concurrent(backend, value)

    def _set_max_concurrent(self, backend: str, value: int) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if int(value) < 1:
            raise ValueError(f"max_concurrent must be 1 or more, got {value}")
        self.conn.execute("INSERT INTO queues (backend, max_concurrent) VALUES (?, ?) ON CONFLICT(backend)"
                          " DO UPDATE SET max_concurrent = excluded.max_concurrent", (backend, int(value)))

    # --- writing ---------------------------------------------------------------------------------------------

    def update(self, job_id: int, *, where_status: str | None = None, **values: Any) -> bool:
        """Set columns of one job; with `where_status` only if it still has that status. True if a row changed."""
        bad = set(values) - set(_COLUMNS) - {"id"}
        if bad or "id" in values:
            raise ValueError(f"unknown job columns: {sorted(bad | ({'id'} & set(values)))}")
        for key in ("gpu_ids", "assigned_gpus", "options"):
            if key in values and values[key] is not None:
                values[key] = json.dumps(values[key])
        sets = ", ".join(f"{k} = ?" for k in values)  # keys checked against the dataclass above
        sql, params = f"UPDATE jobs SET {sets} WHERE id = ?", [*values.values(), int(job_id)]
        if where_status is not None:
            sql += " AND status = ?"
            params.append(where_status)
        return self.conn.execute(sql, params).rowcount == 1

    def delete(self, job_id: int) -> bool:
        """Remove a finished job's row (completed, failed or cancelled only). True if a row went."""
        marks = ",".join("?" * len(FINAL))
        return self.conn.execute(f"DELETE FROM jobs WHERE id = ? AND status IN ({marks})",
                                 (int(job_id), *FINAL)).rowcount == 1

    def claim(self, free_gpus: list[int] | None, backend: str = "local", launch_key: str | None = None) -> Job | None:
        """Atomically move the head of the backend's queue to 'running' if it may start now, and return it.

        It may start when fewer than the queue's max-concurrent jobs run and, on the local backend, its GPUs are
        free: its own `gpu_ids`, or `num_gpus` of `free_gpus` (None: no GPUs, jobs run on the CPU). Remote
        backends leave GPUs to the cluster. Strict FIFO: when the head must wait, nothing behind it jumps ahead.
        `launch_key` is recorded with the claim; the launcher puts it in the trainer's environment.
        """
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT * FROM jobs WHERE status = 'queued' AND backend = ?"
                                    " ORDER BY queued_at, id LIMIT 1", (backend,)).fetchone()
            if row is None:
                self.conn.execute("COMMIT")
                return None
            job = _row_to_job(row)
            running = self.conn.execute("SELECT assigned_gpus FROM jobs WHERE status = 'running' AND backend = ?",
                                        (backend,)).fetchall()
            busy = {g for (gpus,) in running for g in json.loads(gpus)}
            gpus: list[int] = []
            if free_gpus is not None and backend == "local":
                free = [g for g in free_gpus if g not in busy]
                if job.gpu_ids is not None:
                    gpus = list(job.gpu_ids)
                    ok = not (set(gpus) & busy)
                else:
                    gpus = free[: job.num_gpus]
                    ok = len(gpus) == min(job.num_gpus, len(free_gpus))
            else:
                ok = True
            if len(running) >= self.max_concurrent(backend) or not ok:
                self.conn.execute("COMMIT")
                return None
            self.conn.execute(
                "UPDATE jobs SET status = 'running', started = ?, assigned_gpus = ?, pid = NULL, pid_start = NULL,"
                " finished = NULL, exit_code = NULL, error = '', cancel_requested = NULL, remote_id = NULL,"
                " launch_key = ? WHERE id = ? AND status = 'queued'",
                (time.time(), json.dumps(gpus), launch_key, job.id),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return self.get(job.id)

    def finish(self, job_id: int, status: str, *, error: str = "", exit_code: int | None = None,
               last_step: int | None = None, total_steps: int | None = None, finished: float | None = None) -> bool:
        """Record a running job's end once; a second caller (worker vs. cancel vs. monitor) changes nothing.
        `finished` is when the trainer ended (its `end` event), not when somebody noticed; default now."""
        if status not in FINAL:
            raise ValueError(f"final status must be one of {FINAL}, got {status!r}")
        values: dict[str, Any] = {"status": status, "error": error, "exit_code": exit_code,
                                  "finished": finished or time.time()}
        if last_step is not None:
            values["last_step"] = last_step
        if total_steps is not None:
            values["total_steps"] = total_steps
        return self.update(job_id, where_status="running", **values)

    def requeue(self, job_id: int, *, resume: bool = True, secrets_id: str | None = None) -> bool:
        """Put a cancelled or failed job at the back of the queue (with --resume by default), with the secrets
        handle of whoever asked (a resumed job runs with the resumer's token, not a stale one)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            changed = self.conn.execute(
                "UPDATE jobs SET status = 'queued', resume = ?, queued_at = ?, started = NULL, finished = NULL,"
                " pid = NULL, pid_start = NULL, exit_code = NULL, error = '', cancel_requested = NULL,"
                " remote_id = NULL, launch_key = NULL, secrets_id = ?, in_process = 0"
                " WHERE id = ? AND status IN ('cancelled', 'failed')",
                (int(resume), time.time(), secrets_id, int(job_id)),
            ).rowcount
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return changed == 1
