# Mend — the two commands a newcomer runs: `make demo` and `make test`.
# Both install what they need on a fresh Debian machine (as root, or with sudo).

SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libsqlite3-dev libpg-query-dev sqlite3 postgresql python3-venv chromium libnats-dev nats-server openssl
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
VENV := .venv
# Seconds per libFuzzer target in `make test`; `make fuzz FUZZ_SECONDS=600` runs longer.
FUZZ_SECONDS ?= 20

.PHONY: demo test fuzz deps build release bench venv format clean

# Installs the Debian packages that are missing; `apt-get update` runs once, only if needed.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found: install the Swift 6 toolchain (https://swift.org/install)"; exit 1; }

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

demo: build
	$$($(SWIFT) build --show-bin-path)/mend demo

# Python peers used by the tests: squawk (guard cross-check), the official MCP SDK
# (end-to-end client of `mend mcp` and `mend serve`), nats-py (publishes for the `mend consume` tests).
venv:
	@[ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check squawk-cli psycopg[binary] mcp nats-py >/dev/null

# The whole suite against a real SQLite file and a throwaway PostgreSQL on loopback,
# which scripts/with-postgres.sh starts as the postgres user and always stops, and a throwaway
# nats-server with JetStream (scripts/with-nats.sh, same promise).
test: deps venv
	$(SWIFT) build --build-tests
	SQUAWK_BIN=$(CURDIR)/$(VENV)/bin/squawk scripts/with-nats.sh scripts/with-postgres.sh $(SWIFT) test --skip-build
	scripts/fuzz.sh $(FUZZ_SECONDS)

# libFuzzer on MendCore's JSON parser and flattener (Tests/Fuzz, docs/security.md "Fuzzing").
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench: deps release
	scripts/bench.sh
	scripts/bench_pg.sh scripts/bench_repair.sh 20
	scripts/bench_drift.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build .build-* $(VENV)
