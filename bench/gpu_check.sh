#!/usr/bin/env bash
# GPU acceptance check for the training engine, for a bare GPU machine: torch and torchvision
# only (no Django, no pip installs), about 5 minutes on one H100 / H200.
#   1. throughput table (bench/train_throughput.py): ResNet-101 and VGG-16, bf16, channels_last,
#      with and without torch.compile, synthetic vs. real data path, five-crop evaluation;
#   2. a 2-epoch ResNet-101 fine-tune (single disease, paper rebalancing) on a generated dataset
#      through the CLI, metrics.json checked;
#   3. resume on CUDA: stop after epoch 1, resume, compare with an uninterrupted run.
# Usage: bash bench/gpu_check.sh            (COMPILE="off" to skip torch.compile, faster)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"
COMPILE="${COMPILE:-off on}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
stamp() { echo "== [$((SECONDS - start)) s] $*"; }

stamp "environment"
"$PY" -c "import sys, torch, torchvision; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.__version__, torchvision.__version__, torch.cuda.get_device_name(0)); \
import training.engine.runner; assert 'django' not in sys.modules"

stamp "generating a 4,096-image 256x256 dataset"
"$PY" -c "from training.engine.data import make_synthetic_dataset as m; \
m('$WORK/ds', 4096, size=256, n_labels=10, seed=0)"

stamp "throughput"
# shellcheck disable=SC2086
"$PY" bench/train_throughput.py --dataset "$WORK/ds" --archs resnet101 vgg16 --compile $COMPILE \
    --batch 256 --steps 30 --warmup 8

stamp "2-epoch fine-tune (resnet101, single_disease, five-crop evaluation)"
"$PY" -m training.engine train dataset="$WORK/ds" output="$WORK/finetune" arch=resnet101 \
    task=single_disease epochs=2 batch_size=128 lr=0.02 warmup_epochs=0.5 eval_crops=five \
    log_every=10
"$PY" - "$WORK/finetune/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t = m["test"]
print(f"test accuracy {t['accuracy']:.3f}, macro AUC {t['macro_auc']:.3f}, "
      f"multi-disease mean AP {m['multi_disease']['test']['mean_ap']:.3f}")
assert t["macro_auc"] > 0.55, "fine-tune did not learn the generated signal"
PY

stamp "resume on CUDA (resnet50, deterministic)"
common=(dataset="$WORK/ds" arch=resnet50 task=normal_abnormal epochs=2 batch_size=64
        deterministic=true eval_crops=center log_every=1000)
"$PY" -m training.engine train "${common[@]}" output="$WORK/straight"
"$PY" -m training.engine train "${common[@]}" output="$WORK/halves" stop_after_epoch=1
"$PY" -m training.engine train "${common[@]}" output="$WORK/halves" resume=auto
"$PY" - "$WORK/straight/last.pt" "$WORK/halves/last.pt" <<'PY'
import sys, torch
a, b = (torch.load(p, map_location="cpu", weights_only=True) for p in sys.argv[1:3])
assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]), "resume did not reach the same step"
diff = max((a["model"][k].float() - b["model"][k].float()).abs().max().item() for k in a["model"])
same = all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
print(f"resumed vs uninterrupted: bit-identical={same}, max |difference|={diff:.3g}")
assert diff < 1e-2, "resumed weights drifted from the uninterrupted run"
PY
stamp "gpu_check passed"
