# The two commands of the README are `make run` and `make test`; CI calls `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-dates system-packages lint unit integration faults bench bench-engine bench-latency bench-state bench-state-sweep bench-smoke clean

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/jiandu run

test: $(STAMP) system-packages lint
	$(BIN)/python -m pytest

# The suite with the clock set to other calendar days (month ends, a leap day, New Year), each from 23:59
# China time so that the run crosses midnight there. Only the test process travels in time (the processes
# tests start keep the real date); TEST_DATES and TEST_DATES_PATHS narrow it. The whole suite: ~10 min a day.
TEST_DATES ?= 2024-02-29 2025-01-31 2025-12-31 2026-01-01 2026-06-30
TEST_DATES_PATHS ?= tests
test-dates: $(STAMP) system-packages
	@for day in $(TEST_DATES); do \
		echo "== the suite on $$day"; \
		$(BIN)/python -m pytest -q -p no:cacheprovider --today=$$day $(TEST_DATES_PATHS) || exit 1; \
	done

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

bench-engine: $(STAMP)  # the engine benchmark alone; knobs: BENCH_ENGINE_RECORDS, _SEED, _LATENCY_SECONDS, _PROFILE, _WORKERS, _RECOVERY, _DEADLINE
	$(BIN)/python -m benchmarks engine

bench-latency: $(STAMP)  # lead latency of one live worker at 200, 1000, 2000 and 3000 records/s (≈ 2 min)
	$(BIN)/python -m benchmarks latency

bench-state: $(STAMP)  # worker memory and recovery at 100k persons (≈ 10 min)
	$(BIN)/python -m benchmarks state

bench-state-sweep: $(STAMP)  # the same at 100k, 1M and 3M persons, one after the other (hours): run it with nohup, read the log
	$(BIN)/python -m benchmarks state --persons 100000,1000000,3000000

bench-smoke: $(STAMP)  # the engine benchmark's harness on ~5k records: checks it runs, says nothing about speed
	$(BIN)/python -m benchmarks engine --records 5000 --latency-seconds 5

clean:
	rm -rf $(VENV) data .pytest_cache
