#!/usr/bin/env bash
# Our tests plus timm's own tests/test_models.py on every vizattn model (via tests/timm_plugin.py).
#   tools/run_tests.sh          the CI suite (not heavy)
#   tools/run_tests.sh heavy    only the heavy tests (torch.compile, big variants)
# Extra arguments go to pytest. pytest's "no tests collected" (exit 5) is not a failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=$ROOT/.venv/bin/python
MARK="not heavy"
if [ "${1:-}" = heavy ]; then MARK="heavy"; shift; fi
TIMM_TESTS=$(PYTHON=$PY bash tools/get_timm_tests.sh) || exit 1
"$PY" -m pytest -p tests.timm_plugin tests "$TIMM_TESTS/test_models.py" -m "$MARK" -q -rfE --durations=20 "$@"
rc=$?
[ $rc -eq 5 ] && rc=0
exit $rc
