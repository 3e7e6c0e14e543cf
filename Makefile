# The two commands of the README are `make run` and `make test`; CI calls `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test system-packages lint unit integration faults bench bench-engine bench-smoke clean

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/jiandu run

test: $(STAMP) system-packages lint
	$(BIN)/python -m pytest

system-packages:  # Debian packages the tests start servers from (PostgreSQL, Chromium), installed only if missing
	sh scripts/install-system-packages.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/jiandu schemas

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

faults: $(STAMP)  # the long fault injection: kill -9 of broker, worker and archiver while records arrive (README, Durability)
	$(BIN)/python -m tests.faults --seeds 1 2 3 --persons 2000 --kills 8

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-engine: $(STAMP)  # the engine benchmark alone; knobs: BENCH_ENGINE_RECORDS, _SEED, _LATENCY_SECONDS, _PROFILE
	$(BIN)/python -m benchmarks engine

bench-smoke: $(STAMP)  # the engine benchmark's harness on ~5k records: checks it runs, says nothing about speed
	$(BIN)/python -m benchmarks engine --records 5000 --latency-seconds 5

clean:
	rm -rf $(VENV) data .pytest_cache
