# Everything runs from the project's own venv (.venv) and Airflow home (.airflow), both git-ignored.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8
ENV := source ./env.sh

.PHONY: help install airflow-home airflow services browser test demo chaos migrate lock simulator bench clean

help:
	@echo "make airflow    a local Airflow (PostgreSQL metadata, LocalExecutor, demo shop + simulator); Ctrl-C stops it"
	@echo "                EXECUTOR=celery: the Celery layout of docker-compose.yaml (Redis broker, two workers as two machines)"
	@echo "make demo       two demo shops + two simulated warehouses + one receiver, the six flows through Airflow, a report"
	@echo "make chaos      the five flows under faults, kills, twin runs and callback attacks; last line lost=N duplicated=M"
	@echo "make test       install everything, start the databases, run the whole suite (in parallel: XDIST_WORKERS)"
	@echo "make migrate    create/upgrade the integration store of the configured connection (deploy step)"
	@echo "make simulator  run the Qimen WMS simulator on 127.0.0.1:8710 (secret sim-secret, customerId 82073683308314625)"
	@echo "make lock       re-compile requirements.txt from requirements.in"
	@echo "make bench      every benchmark figure, printed and written to \$$BENCH_OUT (bench-results.json)"

# `-e .` (the last line of requirements.txt) leaves setuptools' juxing_wms_bridge.egg-info in the
# repository root. Whenever the root is on sys.path (`python -m airflow ...` from it, as `make airflow`
# runs the api-server) Airflow would find the project twice and register its plugins twice ("Plugin
# Import Errors" on Home): the editable install lives in .venv's dist-info, so the leftover goes.
# requirements.txt is what production runs (the image installs only it); requirements-dev.txt adds the
# test libraries and tools/ (simulator, demo, chaos, synthetic shops, local Airflow).
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml tools/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "uv==$(UV_VERSION)"
	$(UV) pip install -q -p $(PY) -r requirements.txt -r requirements-dev.txt
	rm -rf juxing_wms_bridge.egg-info tools/juxing_wms_bridge_tools.egg-info
	touch $@

install: $(VENV)/.installed

$(VENV)/.airflow-ready: $(VENV)/.installed
	$(ENV)
	mkdir -p "$$AIRFLOW_HOME"
	airflow db migrate > "$$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -40 "$$AIRFLOW_HOME/db-migrate.log"; exit 1; }
	airflow pools set wms_warehouse $${WMS_POOL_SLOTS:-4} "Every request to the warehouse, all DAGs" > /dev/null
	touch $@

airflow-home: $(VENV)/.airflow-ready

services:
	bash .ci/services

# A local Airflow in the browser: http://127.0.0.1:8080 (login printed). AIRFLOW_ARGS="--fresh" starts
# from a new demo shop; WMS_SHOP_URL / WMS_QIMEN_URL ... point it at real systems (docs/local-airflow.md).
# EXECUTOR=celery: CeleryExecutor with celery.env's settings (the compose file's), Redis at 127.0.0.1:6379
# and two Celery workers, each like a machine of its own (docs/celery.md).
EXECUTOR ?= local
airflow: install services
	$(ENV)
	exec python -m wmsbridge_tools.localairflow --executor $(EXECUTOR) $(AIRFLOW_ARGS)

# Debian's Chromium, its driver and a CJK font for the browser test (tests/airflow_local/test_browser.py).
browser:
	command -v chromium > /dev/null && command -v chromedriver > /dev/null && fc-list :lang=zh | grep -q . || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver fonts-wqy-microhei; }

# The suite runs on XDIST_WORKERS pytest-xdist workers (most tests wait on databases and HTTP, so more
# workers than cores pay); tests marked xdist_group share a worker. PYTEST_ARGS comes last and wins:
# make test PYTEST_ARGS="-n0 tests/store" runs one folder serially.
XDIST_WORKERS ?= 3
test: install airflow-home services browser
	$(ENV)
	python -m pytest -n $(XDIST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The store's deploy step: tasks only check the revision. MIGRATE_ARGS: e.g. --conn-id store_db or --url URL.
migrate: install airflow-home
	$(ENV)
	python -m wmsbridge.store upgrade $(MIGRATE_ARGS)

demo: install airflow-home
	$(ENV)
	python -m wmsbridge_tools.demo $(DEMO_ARGS)

# Fault injection (docs/chaos.md). CHAOS_ARGS: e.g. --seed 42, --orders 1000, --store postgresql.
chaos: install airflow-home
	$(ENV)
	python -m wmsbridge_tools.chaos $(CHAOS_ARGS)

# The current pins seed the compile (uv keeps them unless requirements.in needs otherwise): adding one
# package does not upgrade the others. The dev lock is constrained by the runtime lock.
lock: install
	grep -v '^-e ' requirements.txt > requirements.lock.tmp
	$(UV) pip compile -q requirements.in -p 3.11 --no-header -o requirements.lock.tmp
	grep -v '^-e ' requirements-dev.txt > requirements-dev.lock.tmp
	$(UV) pip compile -q requirements-dev.in -c requirements.lock.tmp -p 3.11 --no-header -o requirements-dev.lock.tmp
	{ echo "# Full lock, compiled from requirements.in by 'make lock'. Do not edit by hand."; \
	  cat requirements.lock.tmp; \
	  echo "# this project's runtime: the qimen library, the bridge, the Airflow provider (no tools)"; echo "-e ."; \
	} > requirements.txt
	{ echo "# Development and test lock, compiled from requirements-dev.in by 'make lock' (constrained by"; \
	  echo "# requirements.txt). Do not edit by hand. Never installed into the image."; \
	  sed 's#-c requirements.lock.tmp#-c requirements.txt#' requirements-dev.lock.tmp; \
	  echo "# the tools beside the bridge: the WMS simulator, demo, chaos, synthetic shops, local Airflow"; \
	  echo "-e ./tools"; } > requirements-dev.txt
	rm -f requirements.lock.tmp requirements-dev.lock.tmp

simulator: install
	$(ENV)
	python -m wms_simulator --host 127.0.0.1 --port $${PORT:-8710} \
	  --secret "$${SIM_SECRET:-sim-secret}" --customer-id "$${SIM_CUSTOMER_ID:-82073683308314625}" $(SIM_ARGS)

bench: install airflow-home services
	$(ENV)
	python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .airflow .pytest_cache
