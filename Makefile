# ipex-tune: the two commands of the README, and the steps behind them.
# Every target provisions what it needs first (scripts/bootstrap is
# idempotent and near-instant once done).
CARGO ?= cargo
BIN := target/release/ipex-tune

.PHONY: setup build demo test lint fuzz bench bench-peer bench-plan bench-int8-fallback fixtures clean-stack

setup:
	scripts/bootstrap

build: setup
	$(CARGO) build --release

# The main job on a bundled model: the host checks, what the CNN is, then
# the tuning run (stock vs the rules-guided candidates, in child processes).
demo: build
	$(BIN) doctor
	$(BIN) inspect tests/fixtures/cnn.pt
	$(BIN) run tests/fixtures/cnn.pt --suite cv --budget 3m --output reports/runs/demo-cnn-cv.json

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# The tests need the browser (the HTML report's check) and the project's
# Python with torch (the inductor backend's compile step).
test: lint
	scripts/bootstrap --browser --fixtures
	$(CARGO) test

# Every fuzz target (src/fuzz.rs) for FUZZ_SECS seconds each with fresh
# random seeds, two at a time (`make test` runs a fixed seeded batch).
FUZZ_SECS ?= 600
fuzz: setup
	IPEX_TUNE_FUZZ_SECS=$(FUZZ_SECS) $(CARGO) test --release --bin ipex-tune fuzz:: -- --test-threads 2 --nocapture

# The proof benchmark of the optimized runtime, with every allocator, and
# the comparison of the rules-guided search with the grid (long: the grid
# measures every coherent configuration).
bench: build
	$(BIN) bench --allocators glibc,glibc-tuned,jemalloc,tcmalloc --json reports/bench.json
	$(BIN) bench-search

# Time and peak memory of `plan` on every recorded host (tests/fixtures/hosts).
bench-plan: build
	python3 benches/plan_hosts.py

# The expert's documented recipes (torch.jit trace/script + freeze; IPEX fp32,
# bf16 and int8) against ipex-tune, per model at its serving shape:
# torchvision resnet18, mobilenet_v3_small (scripted), efficientnet_b0,
# convnext_tiny; HF BERT, DistilBERT, GPT-2, ViT (random weights). The bar is
# the best accurate recipe. Long: about an hour (ipex-tune --budget 5m per
# model); needs the fixture venv with torch, IPEX, transformers, torchvision.
# Options: benches/peer/run.py --help (--models, --shapes all, --budget, ...).
bench-peer: build
	scripts/bootstrap --fixtures
	.stack/fixture-venv/bin/python benches/peer/run.py

# The accuracy-aware int8 fallback on a wide outlier MLP: plain int8 misses
# the tolerance; the mix it finds against the best fp32, in one run.
bench-int8-fallback: build
	scripts/bootstrap --fixtures
	.stack/fixture-venv/bin/python benches/int8_fallback.py

# Regenerate tests/fixtures and assets/quant (needs Python torch; downloads
# the full CUDA wheel set into .stack/fixture-venv).
fixtures:
	scripts/bootstrap --fixtures
	.stack/fixture-venv/bin/python tests/fixtures/generate.py

clean-stack:
	rm -rf .stack
