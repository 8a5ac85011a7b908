# braid: two commands on a fresh machine.
#   make run    build, generate the demo consortium if missing, run the nightly job
#   make test   every test (Rust unit and integration tests, Python reader tests)
#   make bench  benchmarks, written to BENCHMARKS.md
#   make lint   clippy on every target, warnings as errors

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BRAID := $(abspath $(TARGET_DIR)/debug/braid)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test build demo bench release docs clean py lint

build:
	$(CARGO) build

demo: build
	@test -d var/demo/inputs || $(BRAID) demo

run: demo
	@$(BRAID) run; code=$$?; \
	if [ $$code -ne 0 ] && [ $$code -ne 5 ]; then exit $$code; fi; \
	echo; echo "Report: $(CURDIR)/var/publish/latest/index.html"; \
	echo "Partner data-quality reports: $(CURDIR)/var/partner-reports/"; \
	echo "Query the warehouse: $(BRAID) sql \"SELECT count(*) FROM person\"  (or $(BRAID) shell)"

# Python packages for the second-reader and S3 tests, in a local virtualenv.
$(PY): tests/python/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	@touch $(PY)

py: $(PY)

# Azurite, the Azure Blob Storage emulator (npm), for the Azure source test;
# kept outside the clone so repeated runs reuse it.
AZURITE_DIR ?= $(HOME)/.cache/braid-azurite
AZURITE := $(AZURITE_DIR)/node_modules/.bin/azurite-blob

$(AZURITE):
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed for the Azure source test" >&2; exit 1; }
	mkdir -p $(AZURITE_DIR)
	npm install --prefix $(AZURITE_DIR) --no-audit --no-fund --silent azurite@3.37.0

test: $(PY) $(AZURITE)
	$(CARGO) test --workspace
	BRAID_BIN=$(BRAID) AZURITE_BIN=$(AZURITE) $(PY) -m pytest -q tests/python

release:
	$(CARGO) build --release

bench: $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(CARGO) build --release
	BRAID_BIN=$(abspath $(TARGET_DIR)/release/braid) $(PY) bench/run.py $(BENCH)

docs: build
	$(BRAID) docs data-model > docs/data-model.md

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf var
