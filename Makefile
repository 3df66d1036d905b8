# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := data/demo

.PHONY: install demo test bench ui validate clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(BIN)/ftwd demo $(DEMO_DIR)

test: install
	$(BIN)/python -m pytest

# A benchmark, not a test: the download step against a naive per-chip baseline and the minimum
# bytes, side by side in one run, over a generated 40 km archive served on 127.0.0.1.
bench: install
	$(BIN)/python -m ftw_assets_tests.bench

validate: install
	FTW_OUTPUT_DIR=$(DEMO_DIR) $(BIN)/dagster definitions validate -m ftw_assets

ui: install
	@test -f $(DEMO_DIR)/dataset.json || $(MAKE) demo
	$(BIN)/ftwd ui $(DEMO_DIR)

clean:
	rm -rf $(DEMO_DIR) data/demo_fields.gpkg data/demo_calendar data/bench
