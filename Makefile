# Everything a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
# Override to pick another build, e.g. `make test TORCH="torch==2.5.1"`.
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: install test demo lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

test: install
	MPLBACKEND=Agg $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

demo: install
	$(BIN)/convergan dirac table
	$(BIN)/convergan dirac table --csv > $(OUT)/dirac-table.csv 2>/dev/null || (mkdir -p $(OUT) && $(BIN)/convergan dirac table --csv > $(OUT)/dirac-table.csv)
	MPLBACKEND=Agg $(BIN)/convergan dirac figure --out $(OUT)/dirac

bench: install
	$(BIN)/python benchmarks/bench_dirac.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
