# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := data/demo

.PHONY: install demo test ui validate clean

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

validate: install
	FTW_OUTPUT_DIR=$(DEMO_DIR) $(BIN)/dagster definitions validate -m ftw_assets

ui: install
	@test -f $(DEMO_DIR)/dataset.json || $(MAKE) demo
	$(BIN)/ftwd ui $(DEMO_DIR)

clean:
	rm -rf $(DEMO_DIR) data/demo_fields.gpkg
