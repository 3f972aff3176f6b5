#!/usr/bin/env bash
# Idempotent set-up of .venv/ in the repo root with the versions pinned in pins.txt.
# mmcv 2.1.0 has no wheel on PyPI: it is built once from its sdist with CPU ops and cached outside the clone.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=$ROOT/.venv
PIN=$ROOT/pins.txt
STAMP=$VENV/.vizattn-setup-$( (cat "$PIN" setup.py) | sha256sum | cut -c1-16)
[ -f "$STAMP" ] && exit 0

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q -c "$PIN" setuptools wheel
"${PIP[@]}" install -q -c "$PIN" torch torchvision numpy

pin() { grep -E "^$1==" "$PIN" | cut -d= -f3; }
MMCV=$(pin mmcv)
TORCH=$(pin torch)
PYV=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
CACHE=${VIZATTN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vizattn}/wheels/mmcv-$MMCV-torch$TORCH-$PYV-cpu
if ! ls "$CACHE"/mmcv-*.whl >/dev/null 2>&1; then
  echo "[setup] building mmcv $MMCV with CPU ops (about 13 minutes, once; cached in $CACHE)"
  BUILD=$(mktemp -d)
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation -d "$BUILD" "mmcv==$MMCV"
  tar -xzf "$BUILD"/mmcv-"$MMCV".tar.gz -C "$BUILD"
  # torch 2.14's headers need C++20; mmcv's setup.py hard-codes C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV/setup.py"
  mkdir -p "$CACHE"
  # -DNDEBUG: an assert in pixel_group aborts otherwise.
  (cd "$BUILD/mmcv-$MMCV" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=2 CFLAGS="-O3 -DNDEBUG -fwrapv" \
    "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$BUILD/dist" .)
  mv "$BUILD"/dist/mmcv-*.whl "$CACHE"/
  rm -rf "$BUILD"
fi
"${PIP[@]}" install -q -c "$PIN" "$CACHE"/mmcv-*.whl
"${PIP[@]}" install -q -c "$PIN" -e ".[mm,kernels,dev]"
# One opencv: remove whatever else a dependency pulled and reinstall the pinned pair.
"${PIP[@]}" install -q -c "$PIN" --force-reinstall --no-deps opencv-python opencv-python-headless
rm -f "$VENV"/.vizattn-setup-*
touch "$STAMP"
echo "[setup] .venv ready"
