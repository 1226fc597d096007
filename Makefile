# Two commands on a fresh machine:  `make demo`  (the main job)  and  `make test`  (the test suite).
# Both create or reuse .venv and install what they need; CPU PyTorch is installed first so that
# pip never pulls a multi-GB CUDA build.  Override with  make TORCH_SPEC="torch==2.5.1" ...
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint docs bench bench-scale bench-hostile clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mpcl-sklearn demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile tests

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_model.py --repeats 3 --compile

bench-scale: $(STAMP)
	$(PY) benchmarks/bench_scale.py --sizes 10000 100000 1000000

bench-hostile: $(STAMP)
	$(PY) benchmarks/hostile_counts.py

clean-venv:
	rm -rf $(VENV)
