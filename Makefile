# Two entry points (see README): `make demo` and `make test`.
# Both create the virtual environment on first use; nothing but Python 3.11+ is needed.
#   make demo TORCH=                              use the PyTorch already in the environment (no install)
#   make demo VENV_FLAGS=--system-site-packages   a venv that sees the system's packages (an installed PyTorch)
PYTHON ?= python3
VENV ?= .venv
VENV_FLAGS ?=
BIN := $(VENV)/bin
TORCH ?= torch==2.14.1 torchvision==0.29.1
# the reference implementation (a test-only oracle) must not try to build its CUDA extension
export SAM2_BUILD_CUDA := 0

.PHONY: demo test test-fast test-slow venv browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(if $(strip $(TORCH)),$(BIN)/python -m pip install -q $(TORCH),@echo "TORCH is empty: using the PyTorch the environment has")
	touch $@

$(VENV)/.runtime: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e '.[coco]'
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# the studio's browser tests drive Debian's chromium (browser downloads are not available here)
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: could not install chromium; the studio's browser tests will fail"

venv: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/samstream demo --out demo_out --force

test: $(VENV)/.test browser
	$(BIN)/python -m pytest -q -p no:cacheprovider

# a quick subset for local work: no parity, studio, Ray or ONNX tests
test-fast: $(VENV)/.test
	$(BIN)/python -m pytest -q -p no:cacheprovider -m 'not slow and not parity' \
		--ignore=tests/studio --ignore=tests/batch --ignore=tests/onnx

test-slow: $(VENV)/.test browser
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow

clean:
	rm -rf $(VENV) demo_out test-artifacts
