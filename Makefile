# The README's two commands are `make run` and `make test`; the rest are steps of those.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# `make check` is the fast loop: the lint gates and the unit tier, nothing installed once .venv exists.
.PHONY: run test check lint install system-deps proto proto-check native bench bench-longdoc bench-load bench-gateway bench-memory clean

run: install
	scripts/run-local.sh

test: install
	scripts/test-all.sh

lint: install
	scripts/lint.sh

check: install
	scripts/lint.sh
	$(VENV)/bin/pytest -m unit -q

# System packages (redis-server, chromium, ...) the tests and `make run` use.
system-deps:
	scripts/install-system-deps.sh

install: $(STAMP)

# Reinstalls (and rebuilds aitext._native) when the package metadata or the Rust sources change.
$(STAMP): pyproject.toml rust_ext/Cargo.toml Cargo.lock $(shell find rust_ext/src -name '*.rs')
	@command -v cargo >/dev/null || { echo "cargo is required to build aitext._native (https://rustup.rs)"; exit 1; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Rebuild the Rust extension in place after editing rust_ext/.
native:
	$(VENV)/bin/maturin develop --release -q

proto: install
	scripts/gen-proto.sh

# Fails when the committed generated code differs from what `make proto` writes.
proto-check: install
	scripts/gen-proto.sh --check

bench: install
	$(VENV)/bin/aitext bench keys
	$(VENV)/bin/aitext bench cache
	$(VENV)/bin/aitext bench chunks

# What an edit of a 1 MB document costs: model calls and wall time, with a counting provider.
bench-longdoc: install
	$(PY) bench/longdoc.py

# Service load with ghz, 3 repeats (about 13 min); rewrites the tables in docs/benchmarks.md.
# `$(PY) bench/load/run.py --quick` is a one-minute smoke run that leaves the docs alone.
bench-load: install
	$(PY) bench/load/run.py

# The gateway's cost with h2load (nghttp2-client): direct, a bare proxy, and the gateway
# over gRPC, gRPC-Web and REST, with CPU per request (about 4 min); prints a table.
bench-gateway: install
	$(PY) bench/load/gateway_cost.py

# A worker's RSS while 100,000 distinct answers fill a 64 MiB L1 (about 10 min).
bench-memory: install
	$(PY) bench/load/memory.py --docs

clean:
	rm -rf $(VENV) target
