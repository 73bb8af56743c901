# Two entry points for a fresh machine with Python 3.11: `make demo` and `make test`.
# Both create (or reuse) the virtual environment .venv in this checkout first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
IMDB   ?= ../shared/data/imdb
DATA   ?= runs/data/imdb

.PHONY: venv demo demo-synthetic test test-fast clean

venv: $(STAMP)

# chainer 7.8.1 ships only an sdist whose setup.py imports pkg_resources: it builds
# with setuptools<70 already installed and --no-build-isolation; numpy must stay <2.
$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools<70" wheel
	$(BIN)/python -m pip install --quiet "numpy<2"
	$(BIN)/python -m pip install --quiet --no-build-isolation -e ".[dev]"
	touch $(STAMP)

# The main job (grows with the project): prepare real IMDB and print Table 2.
# Falls back to the built-in synthetic corpus when $(IMDB) is absent.
demo: venv
	@if [ -d "$(IMDB)" ]; then \
		$(BIN)/iadv prepare "$(IMDB)" --out $(DATA); \
	else \
		echo "$(IMDB) not found: using the synthetic corpus (set IMDB=... for real data)"; \
		$(MAKE) --no-print-directory demo-synthetic; \
	fi

demo-synthetic: venv
	$(BIN)/iadv synthetic --out runs/data/synthetic_raw
	$(BIN)/iadv prepare runs/data/synthetic_raw --out runs/data/synthetic

test: venv
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not imdb"

clean:
	rm -rf $(VENV) runs .pytest_cache
