# Two commands do all set-up on a fresh machine:
#   make demo   run the benchmark on the embedded MojiChat dataset
#   make test   run the test suite
# make lint checks style (ruff); CI runs it before the tests.
# Both create .venv on first use. TORCH pins the torch build (a CUDA build from PyPI also runs on CPU).

PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stickerbench-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m benchmark run $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_throughput.py $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
