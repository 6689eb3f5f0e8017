# Two commands for a new user: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := shared model producer scorer monitors alerter trustwatch

.PHONY: install demo test lint unit integration integration-kafka reliability bench clean kafka

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, found " + sys.version)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/trustwatch demo $(ARGS)

# Apache Kafka (KRaft, fetched from Maven Central with mvn, cached) on 127.0.0.1:$(KAFKA_PORT), in
# the foreground; the compose file's kafka settings. Stop it with Ctrl-C or by the PID it prints.
KAFKA_PORT ?= 9092
kafka: install
	$(BIN)/trustwatch broker --kafka --port $(KAFKA_PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest --doctest-modules --doctest-glob=README.md tests README.md $(PACKAGES)

unit: install
	$(BIN)/python -m pytest --doctest-modules tests/unit $(PACKAGES)

integration: install
	$(BIN)/python -m pytest tests/integration

# the same suites (integration, end to end, reliability) on Apache Kafka, as `make kafka` runs it
integration-kafka: install
	TRUSTWATCH_TEST_BROKER=kafka $(BIN)/python -m pytest tests/integration

reliability: install
	$(BIN)/python -m pytest -m reliability tests/integration

# Benchmarks print tables, write JSON and plots under bench/results; never part of `make test`.
bench: install
	$(BIN)/python -m bench.monitors $(ARGS)
	$(BIN)/python -m bench.detection $(DETECTION_ARGS)
	$(BIN)/python -m bench.pipeline $(PIPELINE_ARGS)
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache .hypothesis
