"""The ``wpca`` space: options, one tiny evaluation, the per-layer report, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search_spaces import EvalContext, SpaceError, make_space

TINY = {
    "max_layers": 2,
    "hidden": [32, 64],
    "heads": [1, 2],
    "ffn": [32, 64],
    "max_length": 64,
    "batches": 1,
    "batch_size": 8,
}
CONFIG = {"layers": 2, "hidden": 32, "heads": 2, "ffn.0": 64, "ffn.1": 32, "ffn_type": "glu", "norm": "pre"}


def test_space_runs_with_no_options_and_declares_directions():
    space = make_space("wpca")
    assert {o.name: o.direction for o in space.objectives} == {"score": "max", "params": "min", "latency_ms": "min"}
    assert {"layers", "hidden", "heads", "ffn.0", "ffn.3", "ffn_type", "norm"} <= set(space.params)


def test_a_trial_scores_each_ffn_layer_and_is_fast():
    space = make_space("wpca", TINY)
    assert len(space.task.train) > 1000  # data loaded (and tokenised once, then cached) before timing
    start = time.perf_counter()
    ev = space.evaluate(CONFIG, EvalContext())
    took = time.perf_counter() - start
    k = [ev.metrics["k.0"], ev.metrics["k.1"]]
    assert 1 <= k[0] <= 64 and 1 <= k[1] <= 32
    assert ev.values["score"] == ev.metrics["non_embedding_params"] * sum(k)
    assert ev.values["params"] > ev.metrics["non_embedding_params"] > 0 and ev.values["latency_ms"] > 0
    assert ev.artifacts["arch"]["ffn"] == [64, 32]
    assert took < 10  # generous on a shared machine; a trial takes well under 2 s alone


def test_another_proxy_is_the_score_when_asked():
    ev = make_space("wpca", {**TINY, "proxy": "params"}).evaluate(CONFIG, EvalContext())
    assert ev.values["score"] == ev.values["params"] and "k.0" not in ev.metrics


def test_layer_report_gives_width_and_count_per_layer():
    report = make_space("wpca", TINY).layer_report(CONFIG)
    assert report.widths == [64, 32] and len(report.counts) == 2
    assert report.wpca == report.non_embedding_params * sum(report.counts)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"eta": 0}, r"eta=0 must be a number in \(0, 1\]"),
        ({"eta": 1.2}, r"eta=1.2"),
        ({"hidden": [100], "heads": [3]}, r"hidden size 100 is not divisible by 3 heads"),
        ({"proxy": "zen"}, r"proxy='zen' is unknown; choose one of \[.*'wpca'"),
        ({"ffn_types": ["moe"]}, r"ffn_types=\['moe'\] must be .* \['mlp', 'glu'\]"),
        ({"norms": ["side"]}, r"norms=\['side'\]"),
        ({"layers": 3}, r"unknown option\(s\) \['layers'\]"),
    ],
)
def test_bad_options_name_option_value_and_what_is_allowed(options, pattern):
    with pytest.raises(SpaceError, match=pattern):
        make_space("wpca", options)


def test_bad_configuration_names_the_parameter():
    with pytest.raises(SpaceError, match="'hidden'"):
        make_space("wpca", TINY).evaluate({**CONFIG, "hidden": 48}, EvalContext())


SCRIPT = """
import json, sys
from search_spaces import EvalContext, make_space
space = make_space("wpca", {**json.loads(sys.argv[1]), "seed": int(sys.argv[3])})
print(json.dumps(space.evaluate(json.loads(sys.argv[2]), EvalContext()).values["score"]))
"""


def fresh_score(seed: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(TINY), json.dumps(CONFIG), str(seed)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def test_same_seed_gives_the_same_score_in_a_fresh_process():
    here = make_space("wpca", {**TINY, "seed": 0}).evaluate(CONFIG, EvalContext()).values["score"]
    assert fresh_score(0) == here
