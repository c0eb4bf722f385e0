# latentlab — `make demo` trains the CS236 VAE protocol and writes its report;
# `make test` runs the test suite. Each first builds the virtual environment.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The datasets: ../shared/data when it sits beside the checkout, else ./data.
LATENTLAB_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(CURDIR)/data)
export LATENTLAB_DATA

.PHONY: demo test bench lint venv clean
venv: $(VENV)/.installed

# torch is pinned through constraints.txt so that nothing resolves a newer build
# (which would pull gigabytes of CUDA packages).
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

demo: venv
	$(BIN)/latentlab train cs236_vae

test: venv
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/latentlab bench

lint: venv
	$(BIN)/python -m compileall -q src tests bench

clean:
	rm -rf $(VENV) build src/*.egg-info
