"""The tas space end to end on the built-in digits task, tiny settings, in a temporary cache."""

from __future__ import annotations

import pytest
import torch

from search_spaces import EvalContext, SpaceError, get_space_class, make_space
from search_spaces.params import Categorical, Float, Int
from search_spaces.tas import TasSpace, counted_flops
from search_spaces.tas.arch import Arch, flops
from search_spaces.tasks.cache import cache_dir

TINY = {"blocks": 1, "teacher_epochs": 2, "kd_epochs": 2, "search_epochs": 1, "width_fractions": [0.5, 1.0]}
CONFIG = {"flops_target": 0.5, "tau_start": 5.0, "tau_end": 0.5, "cost_weight": 2.0, "search_epochs": 1}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("NAS_CACHE_DIR", str(tmp_path_factory.mktemp("nas-cache")))
    yield cache_dir("tas")
    mp.undo()


@pytest.fixture(scope="module")
def space(cache) -> TasSpace:
    return make_space("tas", TINY)


class Recorder:
    def __init__(self, stop_after: int | None = None) -> None:
        self.steps: list[tuple[int, dict[str, float]]] = []
        self.stop_after = stop_after

    def __call__(self, step: int, values: dict[str, float]) -> bool:
        self.steps.append((step, values))
        return self.stop_after is None or step < self.stop_after


def test_space_runs_with_no_options_and_declares_the_search_settings_and_objectives():
    s = make_space("tas")
    assert get_space_class("tas") is TasSpace
    assert list(s.params) == ["flops_target", "tau_start", "tau_end", "cost_weight", "search_epochs"]
    assert s.params["flops_target"] == Float(0.2, 0.9) and s.params["search_epochs"] == Int(2, 6)
    assert [(o.name, o.direction) for o in s.objectives] == [("accuracy", "max"), ("flops", "min")]


def test_a_trial_searches_distils_and_reports_counted_flops_each_epoch_and_the_architecture(space, cache):
    rec = Recorder()
    ev = space.evaluate(CONFIG, EvalContext(on_step=rec))
    arch_json = ev.artifacts["arch"]
    arch = Arch(arch_json["stem"], tuple(arch_json["widths"]), tuple(tuple(i) for i in arch_json["inner"]))
    assert ev.values["flops"] == flops(arch, space.geometry) < ev.metrics["unpruned_flops"]
    assert arch_json["depths"] == [1, 1] and all(w in (8, 16, 32) for w in arch_json["widths"])
    assert 0.0 <= ev.values["accuracy"] <= 1.0 and ev.metrics["teacher_accuracy"] > 0.5
    assert 0.0 < ev.metrics["argmax_flops_ratio"] <= 1.0
    assert [s for s, _ in rec.steps] == [1, 2] and rec.steps[-1][1]["accuracy"] == ev.values["accuracy"]
    assert all(v["flops"] == ev.values["flops"] for _, v in rec.steps)
    assert len(list(cache.glob("digits-resnet-*-seed0.pt"))) == 1


def test_a_false_step_stops_distillation_after_that_epoch(space):
    rec = Recorder(stop_after=1)
    ev = space.evaluate(CONFIG, EvalContext(on_step=rec))
    assert [s for s, _ in rec.steps] == [1] and ev.metrics["kd_epochs_run"] == 1


def test_the_unpruned_network_is_trained_once_per_seed_and_reused(space, cache):
    space.teacher  # noqa: B018 - trains or loads
    (path,) = cache.glob("digits-resnet-*-seed0.pt")
    stamp = path.stat().st_mtime_ns
    again = make_space("tas", TINY)
    for a, b in zip(again.teacher.parameters(), space.teacher.parameters(), strict=True):
        assert torch.equal(a, b)
    assert path.stat().st_mtime_ns == stamp
    assert counted_flops(again.teacher, again.example()) == flops(again.teacher.arch, again.geometry)


def test_an_option_with_one_value_holds_that_setting_fixed():
    s = TasSpace({"flops_target": 0.4, "search_epochs": 3, "tau_end": [0.1, 0.2]})
    assert s.params["flops_target"] == Categorical((0.4,)) and s.params["search_epochs"] == Categorical((3,))
    assert s.params["tau_end"] == Float(0.1, 0.2)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"flops_target": 1.5}, r"flops_target=1.5 must be a number in \(0.0, 1.0\]"),
        ({"flops_target": 0}, r"flops_target=0 must be a number in \(0.0, 1.0\]"),
        ({"flops_target": [0.5, 1.2]}, r"flops_target=\[0.5, 1.2\] must be"),
        ({"width_fractions": []}, r"width_fractions=\[\] is an empty or missing candidate list"),
        ({"width_fractions": [0.5, 2]}, r"width_fractions=\[0.5, 2\] must hold numbers in \(0, 1\]"),
        ({"tau_start": 0}, r"tau_start=0 must be a number in \(0.0, 100.0\]"),
        ({"tau_end": [-0.1, 1.0]}, r"tau_end=\[-0.1, 1.0\] must be a number in \(0.0, 100.0\]"),
        ({"search_epochs": 0}, r"search_epochs=0 must be an integer in \[1, 100\]"),
        ({"task": "cifar"}, r"task='cifar' is unknown; choose one of \['digits', 'mnist1d'\]"),
        ({"widths": [0.5]}, r"unknown option\(s\) \['widths'\]; allowed: task"),
    ],
)
def test_bad_options_raise_space_error_naming_option_value_and_allowed(options, pattern):
    with pytest.raises(SpaceError, match=pattern):
        TasSpace(options)


def test_a_bad_configuration_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    s = TasSpace(TINY)
    with pytest.raises(SpaceError, match=r"'flops_target': 1.5 is outside \[0.2, 0.9\]"):
        s.evaluate({**CONFIG, "flops_target": 1.5}, EvalContext())
    with pytest.raises(SpaceError, match=r"'tau_start': 0.0 is outside \[1.0, 10.0\]"):
        s.evaluate({**CONFIG, "tau_start": 0.0}, EvalContext())
    assert not (tmp_path / "cache").exists()
