#!/usr/bin/env bash
# Print the path of timm's tests folder for the installed timm, downloading its sdist once into the cache.
# The folder is renamed timm_tests so that its package name does not clash with our tests/ package.
set -euo pipefail
PY=${PYTHON:-python}
VER=$("$PY" -c 'import timm; print(timm.__version__)')
CACHE=${VIZATTN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vizattn}/timm-src-$VER
if [ ! -f "$CACHE/timm_tests/test_models.py" ]; then
  TMP=$(mktemp -d)
  # the sdist (not the wheel) ships tests/; pip builds its metadata with pdm-backend from the index
  "$PY" -m pip download -q --no-deps --no-binary :all: -d "$TMP" "timm==$VER" >&2
  tar -xzf "$TMP"/timm-"$VER".tar.gz -C "$TMP"
  mkdir -p "$(dirname "$CACHE")"
  rm -rf "$CACHE" && mkdir -p "$CACHE" && mv "$TMP/timm-$VER/tests" "$CACHE/timm_tests"
  rm -rf "$TMP"
fi
echo "$CACHE/timm_tests"
