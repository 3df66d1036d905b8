# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := data/demo
STAC_BROWSER := $(VENV)/share/ftw-assets/stac-browser/ftw-stac-browser.json

.PHONY: install stac-browser train-stack ftw-fit demo test bench bench-scale bench-registry cluster-demo bench-cluster ui validate clean

install: $(STAMP) $(STAC_BROWSER)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Radiant Earth's STAC Browser for `ftwd browse`, built from its npm package (needs node and npm; made once).
stac-browser: $(STAC_BROWSER)
$(STAC_BROWSER): $(STAMP) ftw_assets/core/stac/browser.py
	$(BIN)/python -m ftw_assets.core.stac.browser install

demo: install
	$(BIN)/ftwd demo $(DEMO_DIR)

# The FTW training stack (torch CPU, torchgeo, ftw-tools), then one short epoch of `ftw model fit` on the
# demo dataset exported in the FTW layout (a tiny model with random weights; nothing is downloaded).
train-stack: install
	bash ftw_assets_tests/train_stack.sh $(BIN)/python

ftw-fit: train-stack demo
	$(BIN)/ftwd export $(DEMO_DIR) data/ftw --format ftw --country austria
	$(BIN)/ftw model fit -c ftw_assets/core/export/ftw_fit_config.yaml -- \
	  --data.dict_kwargs.root=data/ftw --trainer.default_root_dir=data/ftw-fit-logs

# Two test processes (pytest-xdist): on 2 cores the suite spent about half its time waiting on the servers
# and subprocesses it starts. worksteal: each process starts on its own run of files (their module fixtures
# made once) and takes tests from the other's queue at the end (test_bad_input.py alone is a quarter of the work).
test: install
	$(BIN)/python -m pytest -n 2 --dist worksteal

# Benchmarks, not tests, each side by side in one run: the download step against a naive per-chip
# baseline and the minimum bytes (a generated 40 km archive served on 127.0.0.1), and with 50 ms added to
# every request (the fault proxy); Dagster's own cost
# per chip-year in an empty graph, its default storage against this project's instance; and
# `ftwd create-dataset` end to end, 420 chips, this checkout against a baseline commit, with a profile.
bench: install
	$(BIN)/python -m ftw_assets_tests.bench
	$(BIN)/python -m ftw_assets_tests.bench.latency
	$(BIN)/python -m ftw_assets_tests.bench.dagster_floor
	$(BIN)/python -m ftw_assets_tests.bench.end_to_end

# The per chip-year cost of a masks-only create-dataset at 400, 2,025 and 10,000 chips (fields over two
# UTM zones and several MGRS tiles), with each build's peak RSS, event database size and `ftwd status` time.
bench-scale: install
	$(BIN)/python -m ftw_assets_tests.bench.scale
	$(BIN)/python -m ftw_assets_tests.bench.registry --chips 50000 --years 2

# Only the 50,000 x 2 chip-year registry (event database size, `ftwd status`, the UI's partitions page in Chromium).
bench-registry: install
	$(BIN)/python -m ftw_assets_tests.bench.registry --chips 50000 --years 2

# The demo built through a deployment on this machine (ftw_assets_tests/cluster): PostgreSQL, Redis, the Dagster
# daemon and webserver and two Celery workers, the workers in network namespaces of their own (needs root); one
# worker killed mid-run; the result compared with the in-process build. Cleans up what it started, also on failure.
cluster-demo: install
	$(BIN)/python -m ftw_assets_tests.cluster

# Throughput of that deployment with 1 and 2 workers on the 420-chip bench fields (with images), side by side;
# then again with each worker host held to one core of its own.
bench-cluster: install
	$(BIN)/python -m ftw_assets_tests.cluster.bench

validate: install
	FTW_OUTPUT_DIR=$(DEMO_DIR) $(BIN)/dagster definitions validate -m ftw_assets

# The Dagster UI over the demo dataset on http://127.0.0.1:$(UI_PORT) (`make ui UI_PORT=3001` for another port).
UI_PORT ?= 3000
ui: install
	@test -f $(DEMO_DIR)/dataset.json || $(MAKE) demo
	$(BIN)/ftwd ui $(DEMO_DIR) --port $(UI_PORT)

clean:
	rm -rf $(DEMO_DIR) data/demo_fields.gpkg data/demo_calendar data/bench data/ftw data/ftw-fit-logs
