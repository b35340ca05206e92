"""The light side of in-process training: request rules, ZeroGPU detection and grant sizing, the grant time limit,
the stop check, and a cancel of an in-process job that only sets its flag (its pid is this very process)."""

from __future__ import annotations

import os
import time

import pytest

from autotrain_gradio import jobs
from autotrain_gradio.config import ConfigError
from autotrain_gradio.jobs import inprocess
from autotrain_gradio.pipeline.request import make_request
from autotrain_gradio.tasks.common import GRANT_ENDED


def test_request_rules():
    assert make_request(dataset_path="d", profile="p", in_process=True).in_process
    with pytest.raises(ConfigError, match="dry_run and in_process together"):
        make_request(dataset_path="d", profile="p", in_process=True, dry_run=True)
    with pytest.raises(ConfigError, match="in_process trains in this very process; with backend ray"):
        make_request(dataset_path="d", profile="p", in_process=True, backend="ray")


def test_zerogpu_detection_and_grant_size(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert not inprocess.on_zerogpu()  # the spaces package is not installed here
    assert inprocess.grant_seconds(0) == inprocess.ZEROGPU_MAX_SECONDS
    assert inprocess.grant_seconds(30) == 30
    assert inprocess.grant_seconds(10_000) == inprocess.ZEROGPU_MAX_SECONDS


def test_timed_grant_enforces_its_limit():
    assert inprocess.timed_grant(lambda: 7, 1) == 7
    with pytest.raises(inprocess.GrantExpired, match=r"took \d+\.\d s of its 0 s"):
        inprocess.timed_grant(lambda: time.sleep(0.01), 0)


def test_cancel_of_an_in_process_job_sets_the_flag_and_signals_nothing(tmp_path):
    config = tmp_path / "output" / "toy" / "config.toml"
    store = jobs.JobStore(tmp_path)
    job = store.add(name="toy", profile="TinyFluxLORA", config_path=config, output_dir=config.parent,
                    running_pid=os.getpid(), in_process=True)
    check = inprocess._stop_check(store, job.id, deadline=None, margin=0, poll=0)
    assert check() == ""
    after = jobs.cancel(tmp_path, job.id, wait=False)  # were it signalled, this test process would be gone
    assert after.status == "running" and after.cancel_requested and after.in_process
    assert check() == "cancelled"
    late = inprocess._stop_check(store, job.id, deadline=time.monotonic() + 0.5, margin=1.0, poll=0)
    assert late() == GRANT_ENDED  # less than the margin left in the grant
    store.close()
