"""`nas sensitivity --space psigmoid --gsearch`: bad input is one clear line, before anything runs.

(The G-Search itself is tested on an oracle metric in tests/search_spaces/test_psigmoid.py; a
real run needs the fine-tuned MiniLM and is in benchmarks/psigmoid.py.)
"""

from __future__ import annotations

import pytest

from nas.cli import main


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--space", "hawq", "--gsearch"], "--space psigmoid --gsearch"),
        (["--space", "psigmoid"], "--space psigmoid --gsearch"),
        (["--space", "psigmoid", "--gsearch", "--tolerance", "1.5"], "--tolerance 1.5"),
        (["--space", "psigmoid", "--gsearch", "--option", "budget=2"], "budget=2"),
        (["--space", "psigmoid", "--gsearch", "--option", "max_length=1000"], "max_length=1000"),
    ],
)
def test_gsearch_bad_input_is_a_clear_error_and_writes_nothing(args, needle, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))
    assert main(["sensitivity", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
