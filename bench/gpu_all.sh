#!/usr/bin/env bash
# Everything issue 18 measures, for a bare GPU machine with torch and torchvision only (no
# Django, no pip installs). Designed for <= 8 minutes on one H200 with compile on (an estimate
# until a run shows it: each stage prints its elapsed time). Each table is written to
# $RESULTS/<name>.md as soon as it is done, so a run cut short keeps what it finished:
#   1. throughput.md  the engine's step: synthetic vs. the data path, compile off / CUDA graphs,
#                     five-crop evaluation, compile time, host syncs and H2D copies per step;
#                     and the same for a plain torchvision step (the baseline);
#   2. paper.md       the paper's protocol on 16,569 generated images: both architectures, tasks
#                     1-3, "paper" (batch 60) and "fast" (batch 256, compiled) rows: wall time,
#                     phases, training images/s, test metrics; the task-2 ResNet-101 must learn;
#   3. cache.md       the same compiled job twice in fresh processes: the second compile reads
#                     the per-host inductor cache under CXR_DATA_DIR (goal: <= 20% of the first);
#   4. resume.md      resume on the device (deterministic): bit-identical to an uninterrupted run.
# Usage: bash bench/gpu_all.sh            (RESULTS=dir, default ./gpu_results)
#        bash bench/gpu_all.sh --smoke    (CPU, tiny sizes: proves the script runs end to end)
# Knobs: STEPS (timed steps, 20), PAPER_EPOCHS (4), MODES ("off graphs"), ARCHS ("resnet101 vgg16").
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"
RESULTS="$(realpath -m "${RESULTS:-gpu_results}")"
mkdir -p "$RESULTS"
rm -f "$RESULTS"/{throughput,paper,cache,resume}.md
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
stamp() { echo "== [$((SECONDS - start)) s] $*"; }

if [[ "${1:-}" == "--smoke" ]]; then
    DEVICE=cpu ARCHS="tiny" MODES="off" N_BENCH=96 N_PAPER=600 SIZE=64 CROP=56
    TP=(--batch 8 --steps "${STEPS:-2}" --warmup 1 --eval-images 16)
    PAPER_EXTRA='{"crop": 56, "min_count": 20, "compile": false, "amp": "off",
                  "eval_batch_size": 64}'
    PAPER_EPOCHS="${PAPER_EPOCHS:-1}" CACHE_BATCH=16 RESUME_ARCH=tiny RESUME_BATCH=32
    CACHE_EXTRA=(crop=56 amp=off) RESUME_EXTRA=(crop=56)
else
    DEVICE=cuda ARCHS="${ARCHS:-resnet101 vgg16}" MODES="${MODES:-off graphs}"
    N_BENCH=4096 N_PAPER=16569 SIZE=256 CROP=224
    TP=(--batch 256 --steps "${STEPS:-20}" --warmup 5 --eval-images 2048)
    PAPER_EXTRA='{}' PAPER_EPOCHS="${PAPER_EPOCHS:-4}" CACHE_BATCH=256
    RESUME_ARCH=resnet50 RESUME_BATCH=64 CACHE_EXTRA=() RESUME_EXTRA=()
fi
read -r -a ARCH_LIST <<< "$ARCHS"
read -r -a MODE_LIST <<< "$MODES"

stamp "environment"
"$PY" -c "import sys, torch, torchvision; \
ok = '$DEVICE' == 'cpu' or torch.cuda.is_available(); assert ok, 'no CUDA device'; \
name = torch.cuda.get_device_name(0) if '$DEVICE' == 'cuda' else 'CPU (smoke run)'; \
print(torch.__version__, torchvision.__version__, name); \
import training.engine.runner; assert 'django' not in sys.modules"

stamp "generating datasets: $N_BENCH and $N_PAPER images of ${SIZE}x${SIZE}"
"$PY" -c "from training.engine.data import make_synthetic_dataset as m; \
m('$WORK/bench', $N_BENCH, size=$SIZE, n_labels=10, seed=0); \
m('$WORK/paper', $N_PAPER, size=$SIZE, n_labels=10, seed=1)"

stamp "1. throughput (engine step and plain torchvision step)"
"$PY" bench/train_throughput.py --device "$DEVICE" --dataset "$WORK/bench" --archs "${ARCH_LIST[@]}" \
    --compile "${MODE_LIST[@]}" --size "$CROP" "${TP[@]}" --baseline --profile \
    --out "$RESULTS/throughput.md"

stamp "2. the paper's protocol ($N_PAPER images, $PAPER_EPOCHS epochs)"
"$PY" bench/paper_protocol.py protocol --device "$DEVICE" --dataset "$WORK/paper" \
    --archs "${ARCH_LIST[@]}" --epochs "$PAPER_EPOCHS" --extra "$PAPER_EXTRA" \
    --out "$RESULTS/paper.md"
"$PY" - "$RESULTS/paper.md" <<'PY'
import re, sys
rows = [line for line in open(sys.argv[1]) if line.startswith("| 2 single disease")]
aucs = [float(m.group(1)) for m in (re.search(r"macro AUC ([0-9.]+)", r) for r in rows) if m]
print(f"task 2 macro AUC per row: {aucs}")
assert aucs and max(aucs) > 0.55, "no task-2 run learned the generated signal"
PY

stamp "3. compile cache: the same compiled job twice"
"$PY" bench/paper_protocol.py cache --device "$DEVICE" --dataset "$WORK/bench" \
    --archs "${ARCH_LIST[0]}" --batch "$CACHE_BATCH" --override "${CACHE_EXTRA[@]}" \
    --out "$RESULTS/cache.md"

stamp "4. resume on the device ($RESUME_ARCH, deterministic)"
common=(dataset="$WORK/bench" arch="$RESUME_ARCH" task=normal_abnormal epochs=2
        batch_size="$RESUME_BATCH" deterministic=true eval_crops=center log_every=1000
        device="$DEVICE" "${RESUME_EXTRA[@]}")
"$PY" -m training.engine train "${common[@]}" output="$WORK/straight" > /dev/null
"$PY" -m training.engine train "${common[@]}" output="$WORK/halves" stop_after_epoch=1 > /dev/null
"$PY" -m training.engine train "${common[@]}" output="$WORK/halves" resume=auto > /dev/null
"$PY" - "$WORK/straight/last.pt" "$WORK/halves/last.pt" "$RESULTS/resume.md" <<'PY'
import sys, torch
a, b = (torch.load(p, map_location="cpu", weights_only=True) for p in sys.argv[1:3])
assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]), "resume did not reach the same step"
diff = max((a["model"][k].float() - b["model"][k].float()).abs().max().item() for k in a["model"])
same = all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
line = f"resumed vs uninterrupted: bit-identical={same}, max |difference|={diff:.3g}"
open(sys.argv[3], "w").write(f"\n### Resume\n\n{line}\n")
print(line)
assert same, "the resumed run is not bit-identical to the uninterrupted one"
PY
stamp "gpu_all passed; tables in $RESULTS"
cat "$RESULTS"/{throughput,paper,cache,resume}.md
