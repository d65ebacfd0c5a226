# Two commands do all the set-up on a fresh machine:
#   make demo   build the demo dataset from the embedded synthetic inputs into results/
#   make test   run the whole test suite: the SLURM tests on a real single-node cluster
#               (skipped with the reason where SLURM cannot be installed), then all the rest
# Parts: make lint (ruff, snakefmt, lint-imports: the wings' import contract, snakemake --lint), make test-slurm, make test-main
# (pytest -m "not slurm").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: demo test lint test-main test-slurm venv browser clean

# envs/requirements.txt is the complete set (a freeze): installed with --no-deps, so that pip
# resolves nothing (bigearthnet-common's `typer[all]`, an extra the pinned typer does not have,
# would print a warning); `pip check` then confirms that every requirement is met.
$(BIN)/snakemake: envs/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-deps -r envs/requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

venv: $(BIN)/snakemake

demo: venv
	$(BIN)/snakemake --cores $(CORES)

# Lint first (seconds), the main suite last, so that its pytest summary closes the output.
test: lint test-slurm test-main

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/lint-imports --no-cache
	$(BIN)/python .ci/snakemake_lint.py $(BIN)/snakemake

test-main: venv browser
	$(BIN)/python -m pytest -m "not slurm"

test-slurm: venv
	tests/slurm/run.sh

# Headless Chromium renders the report page in its test (Debian's package, as root); where it
# cannot be installed, that test is skipped with the reason.
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	  echo "chromium could not be installed: the report render test will be skipped"

clean:
	rm -rf results .snakemake
