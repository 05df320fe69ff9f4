"""The hawq space end to end on the built-in digits task (trained once into a temp cache)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from search_spaces import EvalContext, SpaceError, get_space_class, make_space
from search_spaces.hawq import HawqSpace
from search_spaces.hawq.model import cache_dir

FAST = {"hessian_iters": 16, "hessian_batches": 1}
LAYERS = ["conv1", "conv2", "conv3", "fc1", "fc2"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("NAS_CACHE_DIR", str(tmp_path_factory.mktemp("nas-cache")))
    yield cache_dir()
    mp.undo()


@pytest.fixture(scope="module")
def space(cache) -> HawqSpace:
    return make_space("hawq", FAST)


def test_space_runs_with_no_options_and_names_one_param_per_layer_in_order(cache):
    s = make_space("hawq")
    assert get_space_class("hawq") is HawqSpace
    assert list(s.params) == [f"bits.{n}" for n in LAYERS]
    assert all(p.choices == (2, 3, 4, 5, 6, 7, 8) for p in s.params.values())
    assert [o.name for o in s.objectives] == ["accuracy", "size_mb", "bops", "omega"]
    assert [(o.name, o.direction) for o in s.default_objectives] == [
        ("accuracy", "max"), ("size_mb", "min"), ("bops", "min")]


def test_8_bit_accuracy_is_close_to_float_and_2_bit_is_clearly_worse(space):
    e8 = space.evaluate(space.config_of([8] * 5), EvalContext())
    e2 = space.evaluate(space.config_of([2] * 5), EvalContext())
    fp = e8.metrics["float_accuracy"]
    assert fp > 0.9
    assert e8.metrics["test_accuracy"] >= fp - 0.01
    assert e2.metrics["test_accuracy"] < fp - 0.1
    assert e2.values["accuracy"] < e8.values["accuracy"] - 0.1
    # the objective is measured on the validation split; the test split only reports
    assert e8.values["accuracy"] == space.measure(dict.fromkeys(LAYERS, 8), space.task.val)[0]
    assert e8.metrics["test_accuracy"] == space.quantized_accuracy(dict.fromkeys(LAYERS, 8))
    assert e2.values["size_mb"] < e8.values["size_mb"] and e2.values["bops"] == e8.values["bops"] / 4
    assert e2.values["omega"] > e8.values["omega"] == e8.metrics["omega"]
    assert e8.artifacts["bits"] == dict.fromkeys(LAYERS, 8)


def test_evaluation_is_well_under_a_second_once_the_model_is_ready(space):
    rng = np.random.default_rng(0)
    space.evaluate(space.config_of([8] * 5), EvalContext())
    for _ in range(5):
        config = space.config_of([int(b) for b in rng.integers(2, 9, size=5)])
        assert space.evaluate(config, EvalContext()).metrics["eval_s"] < 0.5


def test_cached_model_is_reused_by_a_new_space(space, cache):
    space.task  # noqa: B018 - trains or loads the model
    files = sorted(cache.glob("digits-cnn-*seed0.pt"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = make_space("hawq", FAST)
    assert again.task.float_accuracy == space.task.float_accuracy
    assert files[0].stat().st_mtime_ns == stamp
    for a, b in zip(again.task.model.parameters(), space.task.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert again.sensitivity().seconds == 0.0  # traces read back from the cache too
    assert again.sensitivity().traces == space.sensitivity().traces
    # the traces are cached under the model's own versioned name: a retrained model never reads them
    assert [p.name.split("-traces-")[0] for p in cache.glob("digits-*-traces-*.json")] == [files[0].stem]


@pytest.mark.parametrize(("options", "pattern"), [
    ({"tsk": "digits"}, r"unknown option\(s\) \['tsk'\]; allowed: task"),
    ({"task": "cifar"}, r"task='cifar' is unknown; choose one of \['digits', 'mnist1d'\]"),
    ({"bits": [1, 4]}, r"bits=\[1, 4\] must be .* from 2 to 16"),
    ({"bits": [4, 4]}, r"bits=\[4, 4\] must be .* distinct"),
    ({"per_channel": "yes"}, r"per_channel='yes' must be true or false"),
    ({"act_bits": 32}, r"act_bits=32 must be an integer from 2 to 16"),
    ({"hessian_tol": 0}, r"hessian_tol=0 must be a number in \(0.0, 1.0\]"),
    ({"model": "nocolon"}, r"model='nocolon' must be 'package.module:function'"),
    ({"model": "no_such_mod:f"}, r"option model: model 'no_such_mod:f' cannot be imported"),
    ({"model": "tests.search_spaces.test_hawq_space:bad_task"}, r"must return \(model, train_batches"),
    ({"model": "m:f", "task": "digits"}, r"either task='digits' or model='m:f'"),
])
def test_bad_options_raise_space_error_naming_option_value_and_allowed(options, pattern):
    with pytest.raises(SpaceError, match=pattern):
        HawqSpace(options)


def test_bad_configuration_names_the_parameter(space):
    with pytest.raises(SpaceError, match=r"bits.fc1.*9 is not one of"):
        space.evaluate({**space.config_of([8] * 5), "bits.fc1": 9}, EvalContext())


def tiny_task(hidden: int = 8) -> tuple[nn.Module, list, list]:
    """A user model function: a 2-layer MLP fitted in a few steps on a linear problem."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=g)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model, [(x[:64], y[:64])], [(x[64:], y[64:])]


def bad_task() -> nn.Module:
    return nn.Linear(2, 2)


def test_user_model_function_with_kwargs_becomes_the_space(cache):
    s = make_space("hawq", {"model": "tests.search_spaces.test_hawq_space:tiny_task",
                            "model_kwargs": {"hidden": 6}, "bits": [2, 8], **FAST})
    assert list(s.params) == ["bits.0", "bits.2"]
    e = s.evaluate({"bits.0": 8, "bits.2": 8}, EvalContext())
    assert e.values["accuracy"] > 0.9
    assert e.values["size_mb"] == pytest.approx((4 * 6 + 6 * 2 + 4 * (6 + 2)) / 1e6)
    assert not list(cache.glob("*tiny_task*"))  # user models are not cached


def test_measured_pick_is_never_worse_on_validation_than_uniform_of_the_same_size(space):
    from search_spaces.hawq.allocate import checked_allocation

    assert space.task.val and space.task.test  # the built-in task has both held-out splits
    for b in (2, 3, 4):
        uniform = dict.fromkeys(LAYERS, b)
        limit = space.costs.totals([b] * len(LAYERS))["size_mb"]
        choice = checked_allocation(space, {"size_mb": limit})
        assert choice.checked_on == "validation" and choice.picked in choice.candidates
        assert choice.picked.accuracy == max(c.accuracy for c in choice.candidates)
        assert all(c.costs["size_mb"] <= limit * (1 + 1e-9) for c in choice.candidates)
        assert choice.ilp.omega == min(c.omega for c in choice.candidates)  # the ILP optimum comes first
        assert choice.picked.accuracy >= space.measure(uniform, space.task.val)[0]


def tiny_task_with_val() -> dict:
    model, train, test = tiny_task(hidden=5)
    return {"model": model, "train": train, "test": test, "val": test[:1]}


def test_user_model_mapping_gives_validation_and_without_it_choices_are_checked_on_train(cache):
    from search_spaces.hawq.allocate import checked_allocation

    with_val = make_space("hawq", {"model": "tests.search_spaces.test_hawq_space:tiny_task_with_val",
                                   "bits": [2, 8], **FAST})
    assert len(with_val.task.val) == 1
    plain = make_space("hawq", {"model": "tests.search_spaces.test_hawq_space:tiny_task", "bits": [2, 8], **FAST})
    top = plain.costs.totals([8, 8])["size_mb"]
    assert checked_allocation(with_val, {"size_mb": top}).checked_on == "validation"
    assert checked_allocation(plain, {"size_mb": top}).checked_on == "train"


def tiny_task_bad_mapping() -> dict:
    model, train, test = tiny_task(hidden=3)
    return {"model": model, "train": train, "tests": test}


def test_user_mapping_with_wrong_keys_is_named(cache):
    with pytest.raises(SpaceError, match=r"missing key\(s\) \['test'\].*unknown key\(s\) \['tests'\]"):
        make_space("hawq", {"model": "tests.search_spaces.test_hawq_space:tiny_task_bad_mapping", **FAST})
