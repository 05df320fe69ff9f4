"""Every bad spec gets an error naming the field, the value and the fix, and writes nothing."""

from __future__ import annotations

import copy

import pytest

from nas import SpecError, create_study
from storage import Store
from tests.helpers import zdt_spec


def _custom(name: str) -> dict:
    return {
        "name": name,
        "space": {"name": "custom", "params": {"x": {"type": "float", "low": 0, "high": 1}}},
        "objectives": [{"name": "acc", "direction": "max"}, {"name": "cost", "direction": "min"}],
        "budget": {"trials": 5},
    }


def _with(spec: dict, path: tuple, value: object) -> dict:
    spec = copy.deepcopy(spec)
    node = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return spec


BAD = [
    # (what, spec builder, words the message must contain)
    ("unknown space", lambda n: _with(zdt_spec(n), ("space", "name"), "nope"), ["space.name", "'nope'", "synthetic"]),
    ("unknown objective", lambda n: _with(zdt_spec(n), ("objectives",), [{"name": "f9"}]),
     ["objectives[0].name", "'f9'", "f1"]),
    ("duplicate objective", lambda n: _with(zdt_spec(n), ("objectives",), [{"name": "f1"}, {"name": "f1"}]),
     ["objectives[1].name", "'f1'", "twice"]),
    ("bad direction", lambda n: _with(_custom(n), ("objectives", 0, "direction"), "upward"),
     ["objectives[0].direction", "'upward'", "'min' or 'max'"]),
    ("no objectives", lambda n: _with(zdt_spec(n), ("objectives",), []), ["objectives", "at least one"]),
    ("low >= high", lambda n: _with(_custom(n), ("space", "params", "x", "low"), 2),
     ["space.params.x", "low (2)", "smaller than high (1)"]),
    ("budget <= 0", lambda n: _with(zdt_spec(n), ("budget", "trials"), 0), ["budget.trials", "0", "greater than 0"]),
    ("unknown option", lambda n: _with(zdt_spec(n), ("space", "options", "problem"), "zdt9"),
     ["space", "'zdt9'", "zdt1"]),
    ("typo'd field", lambda n: _with(zdt_spec(n), ("budjet",), {"trials": 3}), ["budjet", "unknown field"]),
    ("custom without objectives", lambda n: {k: v for k, v in _custom(n).items() if k != "objectives"},
     ["custom", "objectives"]),
    ("bad evaluator path", lambda n: _with(_custom(n), ("space", "evaluator"), "justamodule"),
     ["space.evaluator", "module:function"]),
    ("unknown optimizer", lambda n: _with(zdt_spec(n), ("optimizer", "name"), "magic"),
     ["optimizer.name", "'magic'", "random"]),
]


@pytest.mark.parametrize("what,build,words", BAD, ids=[b[0] for b in BAD])
def test_each_bad_spec_gets_a_clear_error_and_leaves_the_database_unchanged(storage_url, study_name, what, build,
                                                                            words):
    before = [s.name for s in Store(storage_url).list_studies()]
    with pytest.raises(SpecError) as err:
        create_study(build(study_name), storage=storage_url)
    for w in words:
        assert w in str(err.value), f"{what}: {w!r} not in {err.value}"
    assert [s.name for s in Store(storage_url).list_studies()] == before


def test_a_name_already_used_by_a_different_spec_is_refused(storage_url, study_name):
    from storage import StudyExistsError

    create_study(zdt_spec(study_name), storage=storage_url)
    with pytest.raises(StudyExistsError, match=f"{study_name}.*different spec"):
        create_study(_with(zdt_spec(study_name), ("optimizer", "seed"), 7), storage=storage_url)
    assert len([s for s in Store(storage_url).list_studies() if s.name == study_name]) == 1


def test_the_same_spec_again_returns_the_stored_study_and_may_raise_its_budget(storage_url, study_name):
    a = create_study(zdt_spec(study_name, trials=5), storage=storage_url)
    b = create_study(zdt_spec(study_name, trials=9), storage=storage_url)
    assert a.id == b.id and b.budget == 9


def test_yaml_and_json_spec_files_load_alike(tmp_path):
    import json

    import yaml

    from nas.spec import load_spec_file, parse_spec

    spec = zdt_spec("files")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "s.json").write_text(json.dumps(spec))
    a = parse_spec(load_spec_file(tmp_path / "s.yaml"))
    b = parse_spec(load_spec_file(tmp_path / "s.json"))
    assert a == b
    with pytest.raises(SpecError, match="does not exist"):
        load_spec_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec_file(tmp_path / "bad.yaml")
