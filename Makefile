# Everything a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
# Override to pick another build, e.g. `make test TORCH="torch==2.5.1"`.
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out
# The 2D part of the demo: short runs at a larger learning rate than the paper-like configs.
DEMO_STEPS ?= 1500
DEMO_OVERRIDES ?= optim.g.lr=1e-3 optim.d.lr=1e-3 eval.w1_samples=1000

.PHONY: install test demo lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

test: install
	MPLBACKEND=Agg $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

demo: install
	mkdir -p $(OUT)
	$(BIN)/convergan dirac table | tee $(OUT)/dirac-table.txt
	$(BIN)/convergan dirac table --csv > $(OUT)/dirac-table.csv
	MPLBACKEND=Agg $(BIN)/convergan dirac figure --out $(OUT)/dirac
	MPLBACKEND=Agg $(BIN)/convergan study toy2d --problems circle --methods gan r1 \
		--steps $(DEMO_STEPS) --out $(OUT)/toy2d $(DEMO_OVERRIDES)
	@echo "figures and tables are in $(OUT)/"

# Writes under $(OUT)/bench (untracked); the README's numbers are benchmarks/results/dirac.json,
# refreshed on purpose with `python benchmarks/bench_dirac.py --out benchmarks/results/dirac.json`.
bench: install
	$(BIN)/python benchmarks/bench_dirac.py --out $(OUT)/bench/dirac.json

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
