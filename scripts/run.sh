#!/usr/bin/env bash
# Sets up (first run only) and starts Vitrina on the bundled demo catalog, or on a catalog given.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python main.py "$@"
