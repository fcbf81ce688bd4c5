#!/usr/bin/env bash
# Builds KenLM's estimator `lmplz` and `build_binary` from the PyPI kenlm sdist (it holds the whole KenLM tree),
# once, into a cache folder outside git; prints that folder's bin/ (absolute) on stdout (logs go to stderr).
#
#   local/build_kenlm.sh                     # -> .venv/kenlm/bin/{lmplz,build_binary}
#   local/build_kenlm.sh --prefix DIR        # -> DIR/bin/...
#   bin=$(local/build_kenlm.sh)              # how run.sh --lm auto calls it
#
# Only run when an LM is asked for (run.sh --lm auto): never on the default ./run.sh or ./test.sh path.
# Cached: nothing is done when both binaries exist and DIR/.done holds the same version, sdist digest and
# maximum order. Needs cmake, g++ and Debian's boost program-options/system/thread/test + zlib headers
# (apt-get installs them when run as root). The compile runs under `nice -n 15` with 2 jobs (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=.venv/kenlm
jobs=2
options=" prefix jobs "
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; echo "Options (--name value):${options//_/-}"; }
. local/parse_options.sh
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, not '$jobs'"

version=0.3.0
sdist_sha256=c4628bb9fb63c8a6f9240035b8b037385cfc404cb72e933cf48878291edac1e8
max_order=6  # KenLM's default KENLM_MAX_ORDER; the recipe uses order 3 or 4
key="kenlm $version sha256=$sdist_sha256 max_order=$max_order"
bin=$prefix/bin
if [ -x "$bin/lmplz" ] && [ -x "$bin/build_binary" ] && [ "$(cat "$prefix/.done" 2>/dev/null)" = "$key" ]; then
  log "KenLM $version already built in $bin, nothing to do"
  cd "$bin" && pwd   # the absolute path, whatever the caller's directory
  exit 0
fi

debs=(cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev)
missing=()
for d in "${debs[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "KenLM needs ${missing[*]}: run 'sudo apt-get install ${missing[*]}' and retry"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py=${PYTHON:-.venv/bin/python}
work=$prefix/build-tmp
rm -rf "$work" && mkdir -p "$work"
log "downloading the kenlm $version sdist"
# --no-binary kenlm (not :all:): the sdist of kenlm only; --no-build-isolation: preparing its metadata must not
# compile its build dependencies (cmake) from source
"$py" -m pip download -q --disable-pip-version-check "kenlm==$version" --no-binary kenlm --no-deps \
  --no-build-isolation -d "$work" >&2
tarball=$work/kenlm-$version.tar.gz
[ -f "$tarball" ] || die "pip did not download $tarball"
echo "$sdist_sha256  $tarball" | sha256sum -c --quiet - || die "$tarball: sha256 differs from $sdist_sha256"
tar xzf "$tarball" -C "$work"

log "compiling lmplz and build_binary (nice -n 15, $jobs jobs) in $work"
src=$work/kenlm-$version
nice -n 15 cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=$max_order >&2
nice -n 15 cmake --build "$work/build" --target lmplz build_binary -j "$jobs" >&2
mkdir -p "$bin"
for exe in lmplz build_binary; do
  install -m 755 "$work/build/bin/$exe" "$bin/$exe.tmp" && mv -f "$bin/$exe.tmp" "$bin/$exe"
done
cp "$src/COPYING" "$src/LICENSE" "$prefix/" 2>/dev/null || true  # LGPL: the licence travels with the binaries
rm -rf "$work"
echo "$key" > "$prefix/.done"
log "KenLM $version built: $bin/lmplz, $bin/build_binary"
cd "$bin" && pwd
