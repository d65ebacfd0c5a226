# Two commands do all the set-up on a fresh machine:
#   make demo   build the demo dataset from the embedded synthetic inputs into results/
#   make test   run the whole test suite (but the SLURM tests)
#   make test-slurm   run the workflow on a real single-node SLURM cluster (root, Debian)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: demo test test-slurm venv clean

$(BIN)/snakemake: envs/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r envs/requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/snakemake

demo: venv
	$(BIN)/snakemake --cores $(CORES)

test: venv
	$(BIN)/python -m pytest -m "not slurm"

test-slurm: venv
	tests/slurm/run.sh

clean:
	rm -rf results .snakemake
