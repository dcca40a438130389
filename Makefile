# Two commands do everything on a fresh machine (see README.md):
#   make book   -- install, execute every notebook in the quick profile, write _build/html
#   make test   -- install, run the unit tests and nbval on every notebook
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
export RMM_PROFILE ?= quick
export RMM_PROGRESS ?= 0

.PHONY: book test install notebooks bench clean check-book

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per extra: re-installs when pyproject.toml or the pins change.
$(VENV)/.installed-%: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[$*]"
	touch $@

install: $(VENV)/.installed-book $(VENV)/.installed-test

book: $(VENV)/.installed-book
	$(BIN)/jupyter-book build . -W -n --keep-going

# The built book in a real browser with no network: equations typeset, every slider dragged to both
# ends, nothing wider than the column, figure text at 12 px or more, prose on every first screen
# (scripts/check_book.py; screenshots and page weights in _build/browser-check). Uses the
# chromium and chromedriver it finds (or $$CHROMIUM, $$CHROMEDRIVER); when they are missing, root
# installs Debian's with apt, and anyone else is told in one line how to install them.
check-book: $(VENV)/.installed-browser
	@$(BIN)/python scripts/check_book.py --find-browser >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else $(BIN)/python scripts/check_book.py --find-browser; exit 1; fi
	$(BIN)/python scripts/check_book.py

# Two steps, two workers each, one file per worker at a time (a notebook's cells share one kernel),
# one thread per worker (on a 2-core machine two torch threads per process fight for the cores and
# run 10-20x slower).
# 1. What must hold on any CPU runs under other floating-point kernels than this machine's: torch's
#    kernels for a CPU without AVX (as on an ARM laptop or an old x86). Every notebook's checked
#    outputs (nbval) and the sampled recompute of the trained grids' records. It runs first, so that
#    with an empty cache (CI's) the quick towers are pretrained under those kernels too, as on that
#    CPU; the later steps reuse them. Cross-CPU drift then fails here, on every change, not on a
#    reader's machine (benchmarks/kernel_drift.py measures it on more kernel paths).
# 2. The unit tests, on this machine's kernels.
OTHER_CPU := ATEN_CPU_CAPABILITY=default
OTHER_CPU_RECORDS := $(foreach g,intro mla trml trml_controls cmpt cmpt_controls compare compare-map,'tests/test_records.py::test_a_sample_of_cells_reproduces_the_record[$(g)]')

test: $(VENV)/.installed-test
	OMP_NUM_THREADS=1 $(OTHER_CPU) $(BIN)/python -m pytest -n 2 --dist loadfile notebooks $(OTHER_CPU_RECORDS) --nbval-lax
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile tests $(addprefix --deselect=,$(OTHER_CPU_RECORDS))

# After editing a notebook's .py source: sync its .ipynb and re-execute it (outputs are committed,
# nbval compares the cells marked NBVAL_CHECK_OUTPUT against them).
notebooks: $(VENV)/.installed-book
	$(BIN)/jupytext --sync notebooks/*.py
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace notebooks/*.ipynb

# Wall times of the test command, the book build and each notebook (not a test).
bench: install
	$(BIN)/python benchmarks/timings.py

clean:
	rm -rf _build runs
