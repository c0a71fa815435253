# Fraud-detection MLOps platform. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BIN ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := prometheus prometheus-pushgateway redis-server openjdk-17-jre-headless
# Synthetic days for the demo, or a parquet file to load instead (e.g. DATA=../shared/data/fraud-handbook-transactions.parquet).
DAYS ?= 80
# Days of `make batch` (ISO dates; default: the lake's last day).
DATE_FROM ?=
DATE_TO ?=
# Arguments of `make train` (see python -m pipelines.run_local --help), e.g. TRAIN_ARGS="--model-type torch".
TRAIN_ARGS ?=
DATA ?=

.PHONY: help install system-deps up serve batch down status data features train compile compile-check demo test test-unit lint clean-state \
	bench-training bench-realtime bench-batch bench-stream stream select-model

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## Debian packages: Prometheus, Pushgateway, Redis, Java 17 (only what is missing)
	@missing=""; \
	for pair in prometheus:prometheus prometheus-pushgateway:prometheus-pushgateway redis-server:redis-server java:openjdk-17-jre-headless; do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m fraudcore.spark fetch-jars
	@touch $@

install: system-deps $(VENV)/.installed ## virtualenv with pinned packages + Debian packages (idempotent)

up: install ## start the local runtime (SeaweedFS S3, Tansu Kafka, MLflow, Pushgateway, Prometheus)
	$(PY) -m infra.local up

down: ## stop every local server (reports each; fails if one cannot be stopped)
	@if [ -x $(PY) ]; then $(PY) -m infra.local down; else echo "no virtualenv: nothing was started"; fi

batch: up ## score DATE_FROM..DATE_TO (default: the lake's last day) on Spark with the champion; predictions to s3://fraud/predictions/
	$(PY) -m batch $(if $(DATE_FROM),--date-from $(DATE_FROM)) $(if $(DATE_TO),--date-to $(DATE_TO))

stream: up ## start the stream scoring consumers (services), replay DATE_FROM..DATE_TO into Kafka (default: the lake's last day), print counts
	$(PY) -m infra.local up stream
	$(PY) -m streaming produce $(if $(DATE_FROM),--date-from $(DATE_FROM)) $(if $(DATE_TO),--date-to $(DATE_TO)) --malformed 5
	$(PY) -m streaming summary

serve: up ## start the real-time scoring service (BentoML, port 3000) against the local stack
	$(PY) -m infra.local up serving

status: ## show each local server's state (exit 1 if one is not healthy)
	$(PY) -m infra.local status

data: up ## fill the raw lake: DAYS synthetic days, or DATA=path.parquet
	@if [ -n "$(DATA)" ]; then $(PY) -m fraudcore.data load "$(DATA)"; \
	else $(PY) -m fraudcore.data generate --days $(DAYS); fi

features: up ## feature job over the whole lake, feast apply, materialize the online store
	$(PY) -m features all

train: up ## run the KFP training pipeline locally (KFP local runner) against the local stack
	$(PY) -m pipelines.run_local $(TRAIN_ARGS)

compile: install ## compile the pipeline to pipelines/fraud_training_pipeline.yaml (upload it in the KFP UI)
	$(PY) -m pipelines.compile

demo: data ## the main job: stack up, data into the lake, train + register a champion, evaluation table
	$(PY) -m pipelines.run_local $(TRAIN_ARGS)
	$(PY) -m features materialize
	$(PY) -m infra.local up serving
	@echo; $(PY) -m pipelines.report
	@echo; echo "A prediction over HTTP:"; $(PY) -m serving.sample
	@echo; echo "Batch scoring of the lake's last day on Spark:"; $(MAKE) --no-print-directory batch
	@echo; echo "Streaming the lake's last day through Kafka (5 malformed events included):"; $(MAKE) --no-print-directory stream
	@echo; echo "Services:"; $(PY) -m infra.local status

test: install ## all tests, including end-to-end runs against the real local servers
	$(PY) -m pytest

test-unit: install ## fast tests only (no servers)
	$(PY) -m pytest -m "not integration"

bench-training: up ## benchmark: one-month training pipeline + DuckDB vs Dask point-in-time retrieval (reference data in the lake)
	$(PY) -m benchmarks.training

bench-realtime: serve ## benchmark: /predict at 50/200/500/1000 rps open loop beside the in-process floor (needs make demo's champion and online store)
	$(PY) -m benchmarks.realtime

bench-stream: up ## benchmark: one stream consumer's events/s beside the in-memory floor, latency at 2,000 events/s
	$(PY) -m benchmarks.stream

bench-batch: up ## benchmark: Spark batch rows/s (features + scoring, scoring alone) beside the in-process floor, and the six-month job
	$(PY) -m benchmarks.batch

select-model: install ## choose features and LightGBM parameters on four validation weeks (reference data)
	$(PY) -m benchmarks.model_selection

lint: install ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean-state: ## stop everything, then delete the state folder (FRAUD_STATE_DIR; refused while a server still runs)
	@if [ -x $(PY) ]; then $(PY) -m infra.local clean; else echo "no virtualenv: nothing to clean"; fi
