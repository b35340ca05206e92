"""The job store: one SQLite (WAL) table in `<workspace>/jobs.db`, one row per job.

Every process that touches jobs (the background worker, the CLI, the app, a notebook) opens its own `JobStore`;
SQLite's locking is what makes them agree. Claiming a job is a single `BEGIN IMMEDIATE` transaction, so two
workers (or a worker and a stale one) can never start the same job twice. Parameterised SQL only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from autotrain_gradio.jobs.launch import pid_start_time
from autotrain_gradio.workspace import jobs_db

STATUSES = ("queued", "running", "completed", "failed", "cancelled")
FINAL = ("completed", "failed", "cancelled")

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
    kill_grace REAL NOT NULL DEFAULT 30,
    owner TEXT NOT NULL DEFAULT ''   -- who submitted it (a Space's OAuth user, an --auth login); '' = local user
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, queued_at, id);
"""


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
    owner: str = ""

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
        if "owner" not in have:  # a store made before jobs had owners: they all belong to the local user
            self.conn.execute("ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT ''")

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
        """The job with this id, or None."""
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
            gpu_ids: list[int] | None = None, num_gpus: int = 1, max_concurrent: int = 1,
            resume: bool = False, kill_grace: float = 30.0, running_pid: int | None = None, owner: str = "") -> Job:
        """Append a queued job and return it. With `running_pid`, the row starts as running under that process
        (a foreground run that the queue must count and `train list` must show, but no worker may launch)."""
        now = time.time()
        status, started = ("running", now) if running_pid else ("queued", None)
        pid_start = pid_start_time(running_pid) if running_pid else None
        cur = self.conn.execute(
            "INSERT INTO jobs (name, profile, status, gpu_ids, num_gpus, max_concurrent, config_path, output_dir,"
            " resume, created, queued_at, kill_grace, started, pid, pid_start, owner) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, profile, status, json.dumps(gpu_ids) if gpu_ids is not None else None, max(1, num_gpus),
             max(1, max_concurrent), str(Path(config_path).resolve()), str(Path(output_dir).resolve()), int(resume),
             now, now, kill_grace,
             started, running_pid, pid_start, owner),
        )
        return self.get(cur.lastrowid)  # type: ignore[return-value]

    def update(self, job_id: int, *, where_status: str | None = None, **values: Any) -> bool:
        """Set columns of one job; with `where_status` only if it still has that status. True if a row changed."""
        bad = set(values) - set(_COLUMNS) - {"id"}
        if bad or "id" in values:
            raise ValueError(f"unknown job columns: {sorted(bad | ({'id'} & set(values)))}")
        for key in ("gpu_ids", "assigned_gpus"):
            if key in values and values[key] is not None:
                values[key] = json.dumps(values[key])
        sets = ", ".join(f"{k} = ?" for k in values)  # keys checked against the dataclass above
        sql, params = f"UPDATE jobs SET {sets} WHERE id = ?", [*values.values(), int(job_id)]
        if where_status is not None:
            sql += " AND status = ?"
            params.append(where_status)
        return self.conn.execute(sql, params).rowcount == 1

    def claim(self, free_gpus: list[int] | None) -> Job | None:
        """Atomically move the head of the queue to 'running' if it may start now, and return it.

        It may start when fewer than its max_concurrent jobs run and its GPUs are free: its own `gpu_ids`, or
        `num_gpus` of `free_gpus` (None: the machine has no GPUs, jobs run on the CPU). Strict FIFO: when the
        head must wait, nothing behind it jumps ahead.
        """
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute(
                "SELECT * FROM jobs WHERE status = 'queued' ORDER BY queued_at, id LIMIT 1").fetchone()
            if row is None:
                self.conn.execute("COMMIT")
                return None
            job = _row_to_job(row)
            running = self.conn.execute("SELECT assigned_gpus FROM jobs WHERE status = 'running'").fetchall()
            busy = {g for (gpus,) in running for g in json.loads(gpus)}
            gpus: list[int] = []
            if free_gpus is not None:
                free = [g for g in free_gpus if g not in busy]
                if job.gpu_ids is not None:
                    gpus = list(job.gpu_ids)
                    ok = not (set(gpus) & busy)
                else:
                    gpus = free[: job.num_gpus]
                    ok = len(gpus) == min(job.num_gpus, len(free_gpus))
            else:
                ok = True
            if len(running) >= job.max_concurrent or not ok:
                self.conn.execute("COMMIT")
                return None
            self.conn.execute(
                "UPDATE jobs SET status = 'running', started = ?, assigned_gpus = ?, pid = NULL, pid_start = NULL,"
                " finished = NULL, exit_code = NULL, error = '', cancel_requested = NULL"
                " WHERE id = ? AND status = 'queued'",
                (time.time(), json.dumps(gpus), job.id),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return self.get(job.id)

    def finish(self, job_id: int, status: str, *, error: str = "", exit_code: int | None = None,
               last_step: int | None = None, total_steps: int | None = None) -> bool:
        """Record a running job's end once; a second caller (worker vs. cancel vs. monitor) changes nothing."""
        if status not in FINAL:
            raise ValueError(f"final status must be one of {FINAL}, got {status!r}")
        values: dict[str, Any] = {"status": status, "error": error, "exit_code": exit_code, "finished": time.time()}
        if last_step is not None:
            values["last_step"] = last_step
        if total_steps is not None:
            values["total_steps"] = total_steps
        return self.update(job_id, where_status="running", **values)

    def requeue(self, job_id: int, *, resume: bool = True) -> bool:
        """Put a cancelled or failed job at the back of the queue (with --resume by default)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            changed = self.conn.execute(
                "UPDATE jobs SET status = 'queued', resume = ?, queued_at = ?, started = NULL, finished = NULL,"
                " pid = NULL, pid_start = NULL, exit_code = NULL, error = '', cancel_requested = NULL"
                " WHERE id = ? AND status IN ('cancelled', 'failed')",
                (int(resume), time.time(), int(job_id)),
            ).rowcount
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return changed == 1
