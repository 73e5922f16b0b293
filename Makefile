# ipex-tune: the two commands of the README, and the steps behind them.
# Every target provisions what it needs first (scripts/bootstrap is
# idempotent and near-instant once done).
CARGO ?= cargo
BIN := target/release/ipex-tune

.PHONY: setup build demo test lint bench fixtures clean-stack

setup:
	scripts/bootstrap

build: setup
	$(CARGO) build --release

# The main job on the bundled models: what the CNN is, then the proof that the
# optimized runtime is real (medians vs stock, output differences).
demo: build
	$(BIN) inspect tests/fixtures/cnn.pt
	$(BIN) bench --models cnn,mlp,encoder --min-time 1

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: lint
	$(CARGO) test

# The full proof benchmark, with every allocator.
bench: build
	$(BIN) bench --allocators glibc,glibc-tuned,jemalloc,tcmalloc --json reports/bench.json

# Regenerate tests/fixtures and assets/quant (needs Python torch; downloads
# the full CUDA wheel set into .stack/fixture-venv).
fixtures:
	scripts/bootstrap --fixtures
	.stack/fixture-venv/bin/python tests/fixtures/generate.py

clean-stack:
	rm -rf .stack
