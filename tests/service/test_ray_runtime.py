"""Studies submitted to one server share its one Ray runtime (the session's Ray here)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import zdt_spec
from tests.service.conftest import ThreadServer, settings_for, wait_state


@pytest.mark.usefixtures("ray_session")
def test_concurrent_studies_run_together_on_the_shared_ray(tmp_path: Path) -> None:
    with ThreadServer(settings_for(f"sqlite:///{tmp_path}/nas.db", ray=True)) as s, s.client() as c:
        names = ["ray-a", "ray-b"]
        for n in names:
            spec = zdt_spec(n, trials=8, executor={"name": "ray", "workers": 2})
            assert c.post("/studies", json=spec).status_code == 201, n
        spans = {}
        for n in names:
            done = wait_state(c, n, {"complete", "failed"}, timeout=120)
            assert done["state"] == "complete" and done["complete"] == 8, done
            trials = c.get(f"/studies/{n}/trials").json()["trials"]
            assert len({t["number"] for t in trials}) == 8
            assert all(":" in (t["worker_id"] or "") for t in trials)
            spans[n] = (
                min(datetime.fromisoformat(t["started_at"]) for t in trials),
                max(datetime.fromisoformat(t["finished_at"]) for t in trials),
            )
    # Neither waited for the other to finish: their running windows overlap.
    (a0, a1), (b0, b1) = spans.values()
    assert a0 < b1 and b0 < a1
