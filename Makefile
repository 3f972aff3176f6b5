# Every target sets up .venv/ first (idempotent; the first run builds mmcv once, ~15 min).
PY := .venv/bin/python

.PHONY: setup demo quickstart test test-heavy bench

setup:
	bash tools/setup_env.sh

demo: setup
	bash tools/demo.sh

quickstart: setup
	$(PY) tools/quickstart.py --model biformer_t

test: setup
	bash tools/run_tests.sh

test-heavy: setup
	bash tools/run_tests.sh heavy

bench: setup
	$(PY) tools/benchmark.py --model biformer_s --batch-size 8 --img-size 224 --official /tmp/official/BiFormer
