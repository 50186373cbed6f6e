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

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install -e '.[lab,test]'
	touch $@

lab: $(BIN)/.installed
	LABLIB_BACKEND=$(LABLIB_BACKEND) $(BIN)/jupyter lab --notebook-dir=labs \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $(ROOT_FLAG) $(LAB_ARGS)

# The system packages the tests need (chromium, hey, a real etcd + kube-apiserver): installed when apt and root
# or sudo are there, otherwise it stops at once with the exact command to run.
system-deps:
	tools/system-deps.sh

test: system-deps $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

bench: $(BIN)/.installed
	$(BIN)/python -m bench

clean:
	-$(BIN)/python -m lablib cleanup
	rm -rf $(VENV) test-artifacts .pytest_cache
