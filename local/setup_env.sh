#!/usr/bin/env bash
# Idempotent set-up: Debian packages, .venv at the repo root, pinned pip requirements, editable install.
# Fast when already done: a stamp file records the hash of requirements.txt + pyproject.toml.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { echo "$(date '+%F %T') (setup) $*" >&2; }

need_apt=()
for bin in espeak-ng sox; do command -v "$bin" >/dev/null || need_apt+=("$bin"); done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing ${need_apt[*]}: run 'sudo apt-get install espeak-ng sox libsox-fmt-all' and retry"; exit 1
  fi
  log "installing Debian packages: espeak-ng sox libsox-fmt-all"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends espeak-ng sox libsox-fmt-all >/dev/null
fi

stamp=.venv/.setup-stamp
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
py=${PYTHON:-python3}
"$py" -c 'import sys; assert sys.version_info >= (3, 10), "python >= 3.10 needed"'
[ -x .venv/bin/python ] || { log "creating .venv"; "$py" -m venv .venv; }
log "installing requirements (torch CPU wheel, lhotse, ...)"
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
log "environment ready: $root/.venv"
