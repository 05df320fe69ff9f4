"""SIGKILL the server mid-study, restart it: the study shows as interrupted, and resume
finishes exactly its budget with unique trial numbers (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.service.conftest import ProcessServer, slow_spec, wait_state


def test_resume_after_server_kill_finishes_the_exact_budget(storage_url: str, study_name: str, tmp_path: Path) -> None:
    budget = 10
    first = ProcessServer(storage_url, tmp_path / "serve.log")
    try:
        s = first.start()
        with s.client() as c:
            assert c.post("/studies", json=slow_spec(study_name, budget)).status_code == 201
            end = time.monotonic() + 60
            while c.get(f"/studies/{study_name}").json()["complete"] < 3:
                assert time.monotonic() < end, "no progress"
                time.sleep(0.05)
        first.kill()  # SIGKILL, mid-trial
    finally:
        first.kill()
    second = ProcessServer(storage_url, tmp_path / "serve.log")
    try:
        s = second.start()
        with s.client() as c:
            before = c.get(f"/studies/{study_name}").json()
            assert before["state"] == "interrupted" and before["complete"] < budget
            assert c.post(f"/studies/{study_name}/resume").status_code == 202
            done = wait_state(c, study_name, {"complete", "failed"}, timeout=90)
            trials = c.get(f"/studies/{study_name}/trials").json()["trials"]
    finally:
        second.kill()
    assert done["state"] == "complete", done
    numbers = [t["number"] for t in trials]
    assert len(numbers) == len(set(numbers))
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    lost = [t for t in trials if t["state"] == "FAILED"]
    # The budget counts finished trials; a trial killed mid-run is FAILED and re-queued, its retry counts.
    assert len(complete) == budget and all("re-queued" in (t["error"] or "") for t in lost)
    assert len({t["number"] for t in complete}) == budget
