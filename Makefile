# latentlab — `make demo` trains the CS236 VAE protocol and writes its report;
# `make test` runs the test suite. Each first builds the virtual environment.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The datasets: ../shared/data when it sits beside the checkout, else ./data.
LATENTLAB_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(CURDIR)/data)
export LATENTLAB_DATA

.PHONY: demo test notebooks bench lint venv browser clean
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

test: venv browser
	$(BIN)/python -m pytest

# Executes every notebooks/*.ipynb top to bottom at its quick budget (notebooks/execute.py); the executed
# copies, their HTML exports and their runs go to notebooks/executed/ (git-ignored). Prints each one's time.
notebooks: venv
	$(BIN)/python notebooks/execute.py

# The report tests open pages in headless Chromium (Debian's chromium and chromium-driver). Installed
# here when missing and apt-get can; otherwise those tests are skipped, saying why.
browser:
	@command -v chromedriver >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver >/dev/null 2>&1; } ; } || true
	@command -v chromedriver >/dev/null 2>&1 || echo "make: chromium-driver is not installed and apt-get could not install it; the browser tests will be skipped"

bench: venv
	$(BIN)/latentlab bench

lint: venv
	$(BIN)/python -m compileall -q src tests bench

clean:
	rm -rf $(VENV) build src/*.egg-info
