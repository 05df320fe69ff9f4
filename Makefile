# Both targets do all the set-up on a fresh machine: a .venv with torch 2.13.0 (CPU build,
# installed first so nothing pulls a CUDA build), then the project with its dev extras.
PY_SYS ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-storage clean browser

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PY_SYS) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $(STAMP)

# The demo: a sensitivity report of the built-in CNN (table + demo-sensitivity.png), then a
# hawq study on two Ray workers stored in demo.db, ending with its Pareto front.
demo: $(STAMP)
	rm -f demo.db demo.db-wal demo.db-shm
	$(VENV)/bin/nas sensitivity --space hawq --png demo-sensitivity.png
	$(VENV)/bin/nas run examples/hawq-demo.yaml --storage sqlite:///demo.db

# The dashboard's browser test drives Debian's chromium; install it where missing (skipped, loudly, if that fails).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ( (apt-get update -q && apt-get install -y -q chromium chromium-driver) >/dev/null 2>&1 || \
	    (sudo apt-get update -q && sudo apt-get install -y -q chromium chromium-driver) >/dev/null 2>&1 || \
	    echo "WARNING: cannot install chromium + chromium-driver: the dashboard browser test will be skipped" )

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench-storage: $(STAMP)
	$(PY) benchmarks/storage.py

clean:
	rm -rf $(VENV) demo.db* .pytest_cache
