# Two entry points (see README): `make demo` and `make test`.
# Both create the virtual environment on first use; nothing but Python 3.11+ is needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1
# the reference implementation (a test-only oracle) must not try to build its CUDA extension
export SAM2_BUILD_CUDA := 0

.PHONY: demo test test-slow venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH)
	touch $@

$(VENV)/.runtime: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e '.[coco]'
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/samstream demo --out demo_out --force

test: $(VENV)/.test
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-slow: $(VENV)/.test
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow

clean:
	rm -rf $(VENV) demo_out
