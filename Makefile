# Quick start on a fresh machine: `make run`, then `make test`. Each installs what it needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo's PII hash key; real projects take it from a secret store (see archival.yaml).
export ARCHIVAL_PII_KEY ?= demo-only-not-a-secret
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: install run test bench bench-ops bench-prefect bench-scale lint schemas clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

data/helpdesk.db: | $(STAMP)
	$(BIN)/python -m archival.demo.helpdesk $@

run: $(STAMP) data/helpdesk.db
	$(BIN)/archival validate
	$(BIN)/archival plan
	$(BIN)/archival run --ignore-quiet-hours  # the demo declares quiet hours; a manual run may override them
	$(BIN)/archival verify --deep

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# `make bench` compares archival with its peers on ROWS rows (default 5M, ~25 min). Sections land in
# $BENCH_RESULTS (bench/results/), joined into <date>-<host>.md. A quick look that keeps the committed
# results: `make bench ROWS=100000 REPEAT=1 PEERS=--no-peers BENCH_RESULTS=/tmp/bench`.
export BENCH_RESULTS ?= bench/results
BENCH_REPORT = $(BENCH_RESULTS)/$$(date +%F)-$$(uname -n)
bench: $(STAMP)
	$(BIN)/python bench/export_pg.py --rows $${ROWS:-5000000} --repeat $${REPEAT:-3} $${PEERS:-}
	$(BIN)/python bench/export_mysql.py --rows $${ROWS:-5000000} --repeat $${REPEAT:-3}
	$(BIN)/python bench/incremental_pg.py --rows $${ROWS:-5000000} --changes 10000
	cat $(BENCH_REPORT)-export-pg.md $(BENCH_REPORT)-export-mysql.md $(BENCH_REPORT)-incremental-pg.md \
		> $(BENCH_REPORT).md

# Purge rate and the app's latency meanwhile (5M rows, ~6 min); what `reconcile: after_run` costs (1M rows).
bench-ops: $(STAMP)
	$(BIN)/python bench/purge_pg.py --rows $${ROWS:-5000000}
	$(BIN)/python bench/after_run_pg.py --rows $${AFTER_RUN_ROWS:-1000000}

# The Prefect layer: Dask workers 1/2/4 and the per-unit overhead (bench/dask_scale.py, ~15 min).
bench-prefect: $(STAMP)
	$(BIN)/python bench/dask_scale.py --scale $${SCALE:-1} --repeat $${REPEAT:-3}

# Throughput and scale: archival run (direct, and a flow against a running server) against DuckDB COPY
# at 5M rows, with an estimate for 8 and 16 cores; what the HMAC, the contract and Prefect add to it;
# 1,000 small units; the demo's start-up; planning
# against S3 with latency (~27 min).
bench-scale: $(STAMP)
	$(BIN)/python bench/run_vs_copy.py --rows $${ROWS:-5000000} --repeat $${REPEAT:-3}
	$(BIN)/python bench/run_stages.py --rows $${ROWS:-5000000} --repeat $${REPEAT:-3}
	$(BIN)/python bench/small_units.py --tables $${TABLES:-1000}
	$(BIN)/python bench/startup.py --repeat $${REPEAT:-5}
	$(BIN)/python bench/plan_s3.py --tables $${PLAN_TABLES:-300}
	$(BIN)/python bench/plan_s3.py --daily-periods $${PLAN_PERIODS:-391}
	$(BIN)/python bench/plan_s3.py --tables $${RUN_TABLES:-100} --run

lint: $(STAMP)
	$(BIN)/ruff check archival flows tests bench

# Regenerate what is derived from the spec rules (tests fail when these are stale).
schemas: $(STAMP)
	$(BIN)/archival schema --kind project > schemas/project.schema.json
	$(BIN)/archival schema --kind domain > schemas/domain.schema.json
	$(BIN)/archival schema --docs > docs/specs.md
	$(BIN)/archival schema --types > docs/types.md
	$(BIN)/archival schema --kind manifest > schemas/manifest.schema.json

clean:
	rm -rf $(VENV) archive data .prefect .pytest_cache
