# Two entry points for a fresh machine with Python 3.11: `make demo` and `make test`.
# Both create (or reuse) the virtual environment .venv in this checkout first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
IMDB   ?= ../shared/data/imdb
DATA   ?= runs/data/imdb

.PHONY: venv venv-gpu demo table2 demo-synthetic reproduce-small table4 paper-trial reproduce-paper lm-term test test-fast \
        clean clean-runs

venv: $(STAMP)

# chainer 7.8.1 ships only an sdist whose setup.py imports pkg_resources: it builds
# with setuptools<70 already installed and --no-build-isolation; numpy must stay <2.
$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools<70" wheel
	$(BIN)/python -m pip install --quiet "numpy<2"
	$(BIN)/python -m pip install --quiet --no-build-isolation -e ".[dev,mpi]"
	touch $(STAMP)

# The main job: the whole chain (prepare, LM, five classifiers, Table 1, Table 3, figures)
# on the built-in synthetic corpus, offline, in about 7 minutes. Results in runs/tiny/, the report in
# runs/tiny/report/index.html (its path printed at the end).
demo: venv
	PRESET=tiny bash experiments/reproduce_small.sh

# Table 2 from the real IMDB copy (../shared/data/imdb by default; IMDB=... for another).
table2: venv
	$(BIN)/iadv prepare "$(IMDB)" --out $(DATA)

# The small reproduction of Tables 1, 3 and 4 on real IMDB on this CPU, seeds 0-2, resumable: about 3 h 20 min on 2 cores
# (the paper rows and the control 85-100 minutes with the LM, the VAT family 91 more, Table 4 about 20); KINDS=paper for the five alone.
reproduce-small: venv
	PRESET=small IMDB="$(IMDB)" bash experiments/reproduce_small.sh

# Table 4 (every classifier under one common word-substitution attack, robust accuracy) and the significance tables
# for runs already trained by reproduce-small; trains nothing (about 4-6 minutes per seed here). PRESET=tiny for the demo.
table4: venv
	PRESET=$(or $(PRESET),small) bash experiments/table4.sh

# The paper's sizes on a CUDA 12 GPU (README "Reproduce the paper on a GPU"): CuPy into .venv; a trial of every
# stage (a few hundred updates each, this GPU's cost estimate, the plateau check; exits 1 if Pretrained stays at
# chance); then the full run (about 30 GPU-hours per seed on an H200 for the paper's rows, SEEDS and KINDS apply).
venv-gpu: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-build-isolation -e ".[gpu]"

paper-trial: venv-gpu
	PRESET=paper DEVICE=0 IMDB="$(IMDB)" bash experiments/paper_trial.sh

reproduce-paper: paper-trial
	PRESET=paper DEVICE=0 IMDB="$(IMDB)" bash experiments/reproduce_small.sh

# Beyond the paper (equation 9): the LM-term rows on top of reproduce-small (about 100 minutes more)
lm-term: reproduce-small
	PRESET=small IMDB="$(IMDB)" bash experiments/lm_term.sh

demo-synthetic: demo

test: venv
	$(BIN)/python -m pytest -q -rs

test-fast: venv
	$(BIN)/python -m pytest -q -rs -m "not imdb"

# Removes the environment and caches only; results in runs/ stay (clean-runs removes them, after asking).
clean:
	rm -rf $(VENV) .pytest_cache

clean-runs:
	@printf 'remove runs/ (every run, table and figure in it)? [y/N] '; read answer; \
	  if [ "$$answer" = y ] || [ "$$answer" = yes ]; then rm -rf runs && echo "runs/ removed"; else echo "kept runs/"; fi
