#!/usr/bin/env bash
# The main job on the bundled data: train a small vizattn backbone through OpenMMLab and evaluate it with the real
# metrics, for classification (top-1), detection (COCO box mAP) and segmentation (mIoU), on CPU.
#
#   bash tools/demo.sh            # cls, det, seg
#   bash tools/demo.sh det        # one task
#   WORK_DIR=work_dirs/demo THREADS=2 bash tools/demo.sh
#
# Data: tools/make_data.py writes data/shapes/ (ImageNet-style folders, COCO json, ADE20K-style masks) once.
# Each task: tools/train.py (logs, checkpoints, work_dirs/demo/<task>/), tools/test.py on the last checkpoint
# (metrics JSON), tools/analyze_logs.py (curves.png). The detection and segmentation backbones start from the
# classification run's weights (init_cfg=Pretrained, prefix='model.'), as ImageNet pre-training would, when that
# run exists. A summary with the chance levels is printed at the end and written to work_dirs/demo/summary.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python
WORK=${WORK_DIR:-work_dirs/demo}
export OMP_NUM_THREADS=${THREADS:-2} MKL_NUM_THREADS=${THREADS:-2}
TASKS=${*:-cls det seg}

declare -A CONFIG=(
  [cls]=configs/cls/van-b0_shapes-cls.py
  [det]=configs/det/retinanet_van-b0_fpn_shapes.py
  [seg]=configs/seg/fpn_van-b0_shapes.py
)

"$PY" tools/make_data.py
START=$(date +%s)
for task in $TASKS; do
  cfg=${CONFIG[$task]}
  wd=$WORK/$task
  rm -rf "$wd"
  extra=()
  pre=$WORK/cls/last.pth
  if [ "$task" != cls ] && [ -f "$pre" ]; then
    extra=(--cfg-options "model.backbone.init_cfg.type=Pretrained" "model.backbone.init_cfg.checkpoint=$pre"
           "model.backbone.init_cfg.prefix=model.")
  fi
  t0=$(date +%s)
  echo "== $task: $cfg"
  "$PY" tools/train.py "$cfg" --work-dir "$wd" "${extra[@]}"
  ckpt=$(cat "$wd/last_checkpoint")
  [ "$task" = cls ] && cp "$ckpt" "$pre"
  "$PY" tools/test.py "$cfg" "$ckpt" --work-dir "$wd" --out "$wd/test_metrics.json" | grep '^metrics:'
  "$PY" tools/analyze_logs.py "$wd" --out "$wd/curves.png" --title "$task: $(basename "$cfg" .py)" | tail -1
  echo "$task took $(( $(date +%s) - t0 ))s"
done

"$PY" - "$WORK" $TASKS <<'EOF'
import json, os, sys
work, tasks = sys.argv[1], sys.argv[2:]
# chance levels on the generated val splits: uniform guessing over 4 shapes; a detector that finds nothing;
# a segmenter that labels everything background (IoU of background ~0.85, the 4 shapes 0, over 5 classes)
main = {'cls': ('accuracy/top1', 25.0), 'det': ('coco/bbox_mAP', 0.0), 'seg': ('mIoU', 17.0)}
summary = {}
for t in tasks:
    m = json.load(open(os.path.join(work, t, 'test_metrics.json')))['metrics']
    key, chance = main[t]
    summary[t] = dict(metric=key, value=m[key], chance=chance, all=m)
    print(f'{t:4s} {key:16s} {m[key]:8.3f}   (chance {chance})')
json.dump(summary, open(os.path.join(work, 'summary.json'), 'w'), indent=2)
EOF
echo "demo finished in $(( $(date +%s) - START ))s; results in $WORK/"
