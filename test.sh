#!/usr/bin/env bash
# One command for the tests: sets up everything it needs (apt, .venv, pip), then runs ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")"
local/setup_env.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
