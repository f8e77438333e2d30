# The two commands a new user needs: `make run` (install, then the main job on the
# embedded default) and `make test` (install, then the test suite). Both are idempotent.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# torch's CPU build lies in /opt/wheels on these machines; the lock pins it.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
export AUTODP_HOME ?= $(CURDIR)/.autodp

# The main job's dataset: MedQuAD from ../shared when present, else a built-in demo set.
DATASET ?= ../shared/datasets/medquad/medquad_all_flat.jsonl.gz
DATASET_MAP ?= --map instruction=question --map output=answer
DEMO_DATASET := $(AUTODP_HOME)/demo/healthcare_demo.jsonl
# The main job's search budget, small enough for two CPU cores (the defaults are SearchConfig's): candidates are
# scored by the gradient-flow signal (no fine-tune each; --steps applies under --signal reference), and only the
# top one is confirmed against raw (3 seeds per arm at the confirmation budget).
RUN_BUDGET ?= --steps 10 --candidates 2 --confirm-top 1

.PHONY: install run test test-faults docs docs-images ui search bench-scale bench-shards bench-ingest bench-operators bench-cache bench-sampling bench-search bench-quality bench-defects bench-scoring bench-agent bench-distill bench-ladder bench-speed lock clean

install: $(VENV)/.installed

# The install steps live in scripts/install.sh, shared with docker/Dockerfile.
$(VENV)/.installed: scripts/install.sh requirements.lock pyproject.toml include/autodp/review/static/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	scripts/install.sh $(BIN)/python
	touch $@

run: install
	@if [ -f "$(DATASET)" ]; then \
		$(BIN)/autodp run "$(DATASET)" $(DATASET_MAP) $(RUN_BUDGET); \
	else \
		echo "$(DATASET) not found: running on the built-in demo dataset"; \
		$(BIN)/autodp demo-data "$(DEMO_DATASET)" >/dev/null && $(BIN)/autodp run "$(DEMO_DATASET)" $(RUN_BUDGET); \
	fi

# The review-page tests drive Debian's chromium (installed here when missing).
test: install
	scripts/install-browser.sh
	$(BIN)/pytest

# The documentation site (MkDocs Material) from docs/, into site/; the reference pages are generated
# from the code. --strict: a broken link or a missing page fails the build (tests/test_docs.py builds it too).
docs: install
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The review app's screenshots that the browser tests took last (test-output/review/) into the site.
docs-images:
	cp test-output/review/1-trigger-form.png test-output/review/2-run-tab-search-page.png \
		test-output/review/3-search-page.png test-output/review/4-dataset-page.png \
		test-output/review/6-recipes-page.png test-output/review/7-governance-log.png \
		test-output/review/8-recipe-page.png docs/images/

# The fault suite alone, with the reader fuzz test at 10,000 generated files (make test runs
# the same suite with 600): SIGKILL and resume, S3 and disk faults, LLM endpoint faults, secrets.
test-faults: install
	AUTODP_FUZZ_FILES=10000 $(BIN)/pytest tests/faults

# Airflow's api-server, scheduler and dag-processor on the main job's Airflow home: the runs,
# the review app and its approve button in a browser (prints the URL and the login).
ui: install
	$(BIN)/autodp ui

# A full search with SmolLM2-135M-Instruct as the fine-tuned model, the agent, the data LLM
# and the judge, on Stanford Alpaca 5,000 (noisy) from ../shared: about 15 minutes on 2 cores.
SEARCH_DATASET ?= ../shared/datasets/alpaca/alpaca_5000.json
search: install
	$(BIN)/autodp search $(SEARCH_DATASET) --model smollm2 --method agent --iterations 2 --candidates 3 \
		--steps 30 --llm-judge

bench-ingest: install
	$(BIN)/python bench/ingest.py

bench-operators: install
	bench/setup-peers.sh
	$(BIN)/python bench/operators.py

bench-cache: install
	$(BIN)/python bench/cache.py

bench-sampling: install
	$(BIN)/python bench/sampling.py

bench-search: install
	$(BIN)/python bench/search.py

# Processed vs raw Alpaca 5,000 on a screened test set the searches never score: agent, random, one-shot, the
# top candidate confirmed as the main job does (about an hour on 2 cores).
QUALITY_ARGS ?= --confirm-top 1
bench-quality: install
	$(BIN)/python bench/quality.py $(QUALITY_ARGS)

# The augmentation model family distilled from the local SmolLM2 teacher on the Alpaca seed tasks: validity,
# diversity, win rate against the teacher, imitation and cost per task (about 40 minutes on 2 cores).
bench-distill: install
	$(BIN)/python bench/distill.py

# Planted defects in clean MedQuAD + LIMA: the pool's detection per class, then three searches at each of three
# search seeds, the top candidate confirmed as the main job does (DEFECTS_ARGS=--search-seeds 0 runs one seed).
DEFECTS_ARGS ?= --search-seeds 0 1 2 --confirm-top 1
bench-defects: install
	$(BIN)/python bench/defects.py $(DEFECTS_ARGS)

# The quality ladder: does each evaluation signal order datasets of known quality (the same clean rows with
# 0/10/30/50% defects planted; a tenth of them; a fifth repeated five times) as fine-tuning at a real budget
# does? Measures the cheap signals (about an hour cold on 2 cores; stored, so a rerun only prints) against the
# ground truth kept in bench/ladder-ground-truth-*.json (made once by bench/ladder.py --ground-truth).
bench-ladder: install
	$(BIN)/python bench/ladder.py

# The quality scorer and target selection against planted defects, and GPT-4 vs text-davinci-003 answers.
bench-scoring: install
	$(BIN)/python bench/scoring.py

# The share of the embedded agent's proposals that are its own, valid and new.
bench-agent: install
	$(BIN)/python bench/agent.py

# 1,000,000 and 4,000,000 synthetic rows through ingest, profile and a rule-only strategy:
# rows/s and peak RSS per step, and how both grow with the rows.
bench-scale: install
	$(BIN)/python bench/scale.py

# The same 1,000,000 synthetic rows applied in shards of 250,000, 1, 2 and 4 shard tasks at a
# time, each task a process of its own: wall time, peak RSS per task, the scaling ratio, and
# the one-task apply beside them.
bench-shards: install
	$(BIN)/python bench/shards.py

# Where the main job's time goes: embeddings float32 vs bfloat16 (speed and the decisions of
# each consumer), a fresh worker on a warm store, LoRA and scoring tokens/s, then the main
# job cold and warm (SPEED_ARGS=--no-main-job skips that hour; --main-job-only runs only it).
bench-speed: install
	$(BIN)/python bench/speed.py $(SPEED_ARGS)

# Re-resolve the full dependency set after editing pyproject.toml.
lock: install
	$(BIN)/python -m uv pip compile pyproject.toml --extra test --extra docs --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-build $(FIND_LINKS) --quiet -o requirements.lock

clean:
	rm -rf $(VENV) .autodp .pytest_cache .hypothesis
