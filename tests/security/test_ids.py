"""Out-of-range job ids are 'no job' (4xx), never a server error, on the REST routes and the named endpoints."""

from __future__ import annotations

from tests.security.conftest import TOKEN, call


def test_out_of_range_job_ids(app):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    alice = app.session("alice")
    for job_id in (2**64, 10**100, 2**63, -1, 0):
        for route in ("/api/logs", "/api/stop_training"):
            answer = alice.post(route, json={"job_id": job_id}, headers=auth)
            assert (answer.status_code, answer.json()["detail"]) == (404, f"no job with id {job_id} among your jobs")
        kind, message = call(alice, "job_status", job_id)
        assert (kind, message) == ("error", f"no job with id {job_id} among your jobs"), job_id
    kind, message = call(alice, "job_events", 10**30, 10**30)
    assert (kind, message) == ("error", f"no job with id {10**30} among your jobs")
