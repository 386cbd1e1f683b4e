# Agent warehouse: Airflow 3.3 rollups for public.agent_runs.
# `make demo` and `make test` are all a new user needs; `make help` lists the rest.

SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__EXECUTOR ?= LocalExecutor
export AIRFLOW__CORE__PARALLELISM ?= 8
# Warnings some imports print on stdout would break `airflow ... -o json`.
export PYTHONWARNINGS ?= ignore:Could not import graphviz:UserWarning,ignore:Using `httpx` with `starlette.testclient` is deprecated

# Starts the embedded PostgreSQL unless AIRFLOW_CONN_WAREHOUSE (and the metadata
# database) are already set, and exports where they are.
WITH_DB = eval "$$($(PY) -m tools.devdb env)" &&

.PHONY: help install demo test lint migrate schema airflow airflow-db db-stop clean bench bench-backfill bench-peer up down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install the pinned requirements (idempotent)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

migrate: install ## Create or upgrade the warehouse schema (safe to rerun)
	$(WITH_DB) $(PY) -m agent_warehouse.db.migrations

schema: install ## Regenerate docs/schema.sql, the schema the migrations build (a test checks it)
	$(PY) -m tools.schema

# Airflow's metadata database, migrated, with the project's DAGs serialized into it.
AIRFLOW_DB := $(AIRFLOW_HOME)/.db-ready
airflow-db: $(AIRFLOW_DB)
$(AIRFLOW_DB): $(STAMP) $(wildcard dags/*.py plugins/*.py agent_warehouse/*.py agent_warehouse/*/*.py)
	@mkdir -p $(AIRFLOW_HOME)
	@$(WITH_DB) { $(PY) -m tools.airflow_services prepare && $(VENV)/bin/airflow dags reserialize; } \
	  > $(AIRFLOW_HOME)/setup.log 2>&1 || { cat $(AIRFLOW_HOME)/setup.log; exit 1; }
	@touch $@

demo: install airflow-db migrate ## Load a synthetic day and roll it up through Airflow
	$(WITH_DB) AGENT_WAREHOUSE_DEADLINES=off AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING \
	  AGENT_WAREHOUSE_SIGNALS_PROVIDERS=$${AGENT_WAREHOUSE_SIGNALS_PROVIDERS:-file,synthetic} $(PY) -m tools.demo

test: install ## Unit tests, then the integration suite (real PostgreSQL, real Airflow runs)
	$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)
	$(VENV)/bin/python -m pytest tests/integration $(PYTEST_ARGS)

lint: install ## ruff, mypy (strict on the package) and sqlfluff on include/sql
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/sqlfluff lint include/sql

# `dags test` runs without DeadlineAlerts (Airflow 3.3.2 fails them there; NOTES in README).
airflow: airflow-db ## The Airflow CLI in this project: make airflow ARGS="dags list"
	@if [ "$(firstword $(ARGS))" = standalone ]; then \
	  echo "airflow standalone is not supported here: 'make up' starts the same services (make down stops them)" >&2; exit 2; fi
	@$(WITH_DB) $(if $(findstring dags test,$(ARGS)),AGENT_WAREHOUSE_DEADLINES=off) $(VENV)/bin/airflow $(ARGS)

PORT ?= 8080
up: airflow-db migrate ## Start Airflow in the background (UI on http://localhost:$(PORT)); prints the login
	@$(WITH_DB) $(PY) -m tools.airflow_services up --port $(PORT)

down: install ## Stop what `make up` started
	@$(PY) -m tools.airflow_services down

db-stop: install ## Stop the embedded PostgreSQL
	$(PY) -m tools.devdb stop

clean: db-stop ## Remove the venv, the embedded database and Airflow's home
	rm -rf $(VENV) .pgdata $(AIRFLOW_HOME)

bench: install airflow-db ## Benchmark against the naive seed SQL; writes bench/results.json
	$(WITH_DB) AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING $(PY) -m tools.bench

bench-backfill: install ## Only the benchmark's 24 hourly runs through a real scheduler (tools/bench_backfill.py)
	$(WITH_DB) AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING $(PY) -m tools.bench_backfill $(if $(REPEAT),--repeat $(REPEAT))

# Its own PostgreSQL 15 cluster in .pgdata-peer (the Debian packages it needs are installed if
# missing, as root); the embedded server and the machine's PostgreSQL are not used.
bench-peer: install ## Side by side with pg_cron + pg_partman + tdigest on PostgreSQL 15; writes bench/peer_results.json
	AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING $(PY) -m tools.bench_peer

# Signal aggregation (docs/signals.md): run daily_signal_aggregation through Airflow for DAY
# (default yesterday, UTC) and print the ranked emerging companies. WORKSPACE, PACK optional.
SIGNALS_ARGS = $(if $(WORKSPACE),--workspace $(WORKSPACE)) $(if $(PACK),--pack $(PACK)) $(if $(DAY),--day $(DAY))
.PHONY: signals-daily
signals-daily: install airflow-db migrate ## Signal aggregation for a day: make signals-daily WORKSPACE=<uuid> PACK=<id>
	$(WITH_DB) AGENT_WAREHOUSE_SIGNALS_PROVIDERS=$${AGENT_WAREHOUSE_SIGNALS_PROVIDERS:-file,synthetic} \
	  AGENT_WAREHOUSE_DEADLINES=off AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING \
	  $(PY) -m tools.signals_daily $(SIGNALS_ARGS)
