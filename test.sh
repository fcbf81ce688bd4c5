#!/usr/bin/env bash
# One command for the tests: sets up everything it needs (apt, .venv, pip), then runs ruff, the import layer
# contracts (import-linter, [tool.importlinter] in pyproject.toml) and pytest.
set -euo pipefail
cd "$(dirname "$0")"
local/setup_env.sh
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache --no-logo
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
