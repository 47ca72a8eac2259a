# Everything a fresh machine needs: `make demo` and `make test` (and `make docs`).
PYTHON ?= python3
# Override to pick another build, e.g. `make test TORCH="torch==2.5.1"`.
TORCH ?= torch==2.13.0
# torch-fidelity's Inception-v3 (FID/IS) requires torchvision, whose build must match torch
# exactly (0.28.0 requires torch 2.13.0). PyPI's torchvision is built for a CUDA torch: beside
# a CPU torch its operators do not load and `import torchvision` (so torchmetrics) fails. It is
# therefore installed, together with the torch pin so pip cannot swap torch, only where torch
# is a CUDA build; torch-fidelity goes in with --no-deps (its other requirements are ours) and
# its Inception module imports without torchvision (src/convergan/metrics/fidelity.py).
TORCHVISION ?= torchvision==0.28.0
TORCH_FIDELITY ?= torch-fidelity==0.4.0
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out
# The 2D part of the demo: short runs at a larger learning rate than the paper-like configs.
DEMO_STEPS ?= 1500
DEMO_OVERRIDES ?= optim.g.lr=1e-3 optim.d.lr=1e-3 eval.w1_samples=1000

.PHONY: install test test-fast demo docs lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "make install: a virtual environment in $(VENV) (a few minutes; torch alone is a large download)"
	$(PYTHON) -m venv $(VENV)
	@echo "make install: $(TORCH)"
	$(BIN)/pip install --progress-bar on "$(TORCH)"
	if $(BIN)/python -W ignore -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then \
		echo "make install: $(TORCHVISION) (torch is a CUDA build)"; \
		$(BIN)/pip install --progress-bar on "$(TORCH)" "$(TORCHVISION)"; fi
	@echo "make install: convergan and its dependencies (pyproject.toml, with the dev and docs extras)"
	$(BIN)/pip install --progress-bar on -e '.[dev,docs]'
	@echo "make install: $(TORCH_FIDELITY) (Inception features for FID)"
	$(BIN)/pip install --progress-bar on --no-deps "$(TORCH_FIDELITY)"
	touch $@
	@echo "make install: done; the command is $(BIN)/convergan"

# The suite runs on up to PYTEST_WORKERS processes (pytest-xdist; one per core, at most 4).
# `make test` runs every test; `make test-fast`, the edit loop, leaves out the end-to-end ones
# marked `slow` (subprocesses, trainings to convergence, whole studies).
PYTEST_WORKERS ?= auto
PYTEST := MPLBACKEND=Agg $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --maxprocesses 4 --dist worksteal

test: install
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not slow"

# The docs site, built from docs/ and the code (reference pages are generated) into site/.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@echo "the docs site is in site/ (open site/index.html)"

lint: install
	$(BIN)/ruff check src tests benchmarks docs/hooks
	$(BIN)/ruff format --check src tests benchmarks docs/hooks

demo: install
	mkdir -p $(OUT)
	$(BIN)/convergan dirac table | tee $(OUT)/dirac-table.txt
	$(BIN)/convergan dirac table --csv > $(OUT)/dirac-table.csv
	MPLBACKEND=Agg $(BIN)/convergan dirac figure --out $(OUT)/dirac
	MPLBACKEND=Agg $(BIN)/convergan study toy2d --problems circle ring8 --methods gan r1 \
		--steps $(DEMO_STEPS) --out $(OUT)/toy2d $(DEMO_OVERRIDES)
	@echo "figures and tables are in $(OUT)/"

# Writes under $(OUT)/bench (untracked); the published numbers are benchmarks/results/dirac.json,
# refreshed on purpose with `python benchmarks/bench_dirac.py --out benchmarks/results/dirac.json`.
bench: install
	$(BIN)/python benchmarks/bench_dirac.py --out $(OUT)/bench/dirac.json

clean:
	rm -rf $(VENV) $(OUT) site .pytest_cache
