#!/usr/bin/env bash
# The peers' own virtualenv for bench/operators.py: py-data-juicer and datatrove, pinned,
# beside (never inside) autodp's environment. torch's CPU build goes in first, or
# data-juicer installs a CUDA torch at its first import. datatrove 0.10.1 hashes str with
# xxhash, which xxhash 4 refuses; its MinHash word tokenizer needs spacy (no model).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-peers/bin/python ] || python3.11 -m venv .venv-peers
.venv-peers/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
find_links=(); [ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
.venv-peers/bin/uv pip install --quiet --python .venv-peers/bin/python "${find_links[@]}" \
  "torch==2.13.0" py-data-juicer==1.6.1 datatrove==0.10.1 aiohttp tokenizers spacy "xxhash<4" \
  duckdb==1.5.5 pyarrow
