# Two commands do all set-up on a fresh machine:
#   make demo   run the benchmark on the embedded MojiChat dataset
#   make test   run the test suite
# make lint checks style (ruff); CI runs it before the tests.
# Both create .venv on first use. TORCH pins the torch build (a CUDA build from PyPI also runs on CPU).
# make test-open-clip runs the CLIP selector's open_clip backend tests in a venv of its own,
# .venv-open-clip: open_clip needs torchvision, which loads only beside the torch it was built for
# (OPEN_CLIP_TORCH: here a CUDA build, the venv takes about 6 GB); make test leaves those tests to it.

PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stickerbench-installed
OPEN_CLIP_TORCH ?= torch==2.14.1 torchvision==0.29.1
OPEN_CLIP_VENV := .venv-open-clip
OPEN_CLIP_STAMP := $(OPEN_CLIP_VENV)/.stickerbench-installed
OPEN_CLIP_TESTS := tests/test_open_clip_backend.py

.PHONY: demo test test-open-clip lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m benchmark run --jobs auto $(ARGS)

$(OPEN_CLIP_STAMP): pyproject.toml Makefile
	test -x $(OPEN_CLIP_VENV)/bin/python || $(PYTHON) -m venv $(OPEN_CLIP_VENV)
	$(OPEN_CLIP_VENV)/bin/python -m pip install --quiet $(OPEN_CLIP_TORCH)
	$(OPEN_CLIP_VENV)/bin/python -m pip install --quiet -e ".[test,open-clip]"
	touch $(OPEN_CLIP_STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest --ignore=$(OPEN_CLIP_TESTS) $(ARGS)

test-open-clip: $(OPEN_CLIP_STAMP)
	$(OPEN_CLIP_VENV)/bin/python -m pytest $(OPEN_CLIP_TESTS) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Regression benchmarks (pytest-benchmark, benchmarks/test_regressions.py) on MojiChat at MOD's size, timed in
# CPU seconds; ARGS="--benchmark-autosave" saves a run, ARGS="--benchmark-compare" compares with the last saved.
bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-timer=time.process_time \
		--benchmark-columns=min,median,mean,stddev,rounds --benchmark-sort=name $(ARGS)

clean:
	rm -rf $(VENV) $(OPEN_CLIP_VENV) runs .pytest_cache
