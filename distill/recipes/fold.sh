#!/usr/bin/env bash
# Trains one ETH-UCY fold end to end with the shipped settings (fixed seeds): the teacher, its
# sampler chosen on the fold's val split, then the reflow, MDT-dist and IMLE students, and copies
# the exported models to models/<scene>/.
# Every stage checkpoints each epoch and resumes: after an interruption, rerun the same command.
#
# usage: distill/recipes/fold.sh SCENE [THREADS]      (SCENE: eth, hotel, univ, zara1, zara2)
# Students of a shipped teacher: `fewstep-distill import --model models/SCENE/teacher.onnx
# --out runs/SCENE/teacher` first; the teacher stage then sees teacher.onnx and is skipped.
# env:   FEWSTEP_DISTILL  the binary (default: target/release/fewstep-distill; build it first with
#                         `cargo build --release -p fewstep-distill`)
#        STAGES           which stages to run (default: "teacher sampler reflow imle mdt")
#        RUN              the training folder (default: runs/SCENE)
#        SCALE_AUG        speed augmentation factor of the teacher and its students (default: 1,
#                         off; the shipped ETH fold uses 2: see models/README.md)
#        TEACHER_EPOCHS   length of the teacher's schedule (default 36; 24 before session 8)
#        WTA_RELAX        the teacher's relaxed winner-takes-all weight (default 0.05; 0 is the
#                         plain best-of-K loss of the models shipped before session 6)
#        WTA_RELAX_BY_T   1 (default): --wta-relax-by-t, the relaxed weight ε·(1 − t) per item;
#                         0: a constant ε (session 6's HOTEL, UNIV and ZARA2 teachers)
#        TEACHER_PATIENCE the teacher stops early after this many epochs without a better val
#                         (default: never; sessions 6 and 7 used 4, which cut independent-modes
#                         teachers short of the end of their schedule, where they do best)
#        INPUT_DROP       set to a midpoint (MoFlow: 0.5) for the teacher's time-dependent input
#                         dropout (--input-drop)
#        INDEPENDENT_MODES 1 (default): --independent-modes, no attention across the K modes
#                         (session 7; see models/README.md); 0: attention across the modes
#        FEATURES         the teacher's (and so its students') input layout: v1 (default, the
#                         track alone), v2-scene (plus the scene position and heading;
#                         session 10, see models/README.md) or v3-social (plus the four
#                         nearest neighbours in the agent's frame; session 11)
#        REVERSE_AUG      1: the teacher's time-reversal augmentation (--reverse-aug; session 12,
#                         see models/README.md); default 0, off
#        TEACHER_SEED     the teacher's --seed (default 0; the shipped ZARA2 teacher uses 2,
#                         session 13); the students keep seed 0
#        TEACHER_STEPS    Euler steps of the teacher samples the students distil (default 10,
#                         as shipped; session 15 measured reflow from the val-chosen N, e.g. 2)
#
# The teacher's card samples 100 uniform Euler steps as exported; the sampler stage then sets it
# to the Euler step count in {1, 2, 3, 4, 5, 10, 20} with the lowest whole-val minADE + minFDE
# over noise seeds 0 and 1 (`fewstep-distill choose-sampler --write`; models/README.md, sessions
# 14-16). The students distil the teacher at 10 steps whatever its card says (TEACHER_STEPS).
#
# Budget on the 2-core development machine (eth fold, about 30,000 training windows): teacher
# ~33 min (36 epochs of ~55 s), teacher samples ~1 min, reflow ~8 min, IMLE ~9 min, MDT-dist ~3 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
scene=${1:?usage: distill/recipes/fold.sh SCENE [THREADS]}
threads=${2:-2}
bin=${FEWSTEP_DISTILL:-target/release/fewstep-distill}
stages=${STAGES:-teacher sampler reflow imle mdt}
run=${RUN:-runs/$scene}
aug=(--scale-aug "${SCALE_AUG:-1}")
by_t=(); [ "${WTA_RELAX_BY_T:-1}" = 1 ] && by_t=(--wta-relax-by-t)
indep=(); [ "${INDEPENDENT_MODES:-1}" = 1 ] && indep=(--independent-modes)
features=(--features "${FEATURES:-v1}")
reverse=(); [ "${REVERSE_AUG:-0}" = 1 ] && reverse=(--reverse-aug)
common=(--scene "$scene" --threads "$threads" --resume "${aug[@]}")
student=(train student "${common[@]}" --seed 0 --teacher "$run/teacher" --teacher-steps "${TEACHER_STEPS:-10}"
         --max-val-windows 1000 --steps 1)

for stage in $stages; do
  case $stage in
    teacher)
      [ -f "$run/teacher/teacher.onnx" ] || "$bin" train teacher "${common[@]}" --seed "${TEACHER_SEED:-0}" --out "$run/teacher" \
        --epochs "${TEACHER_EPOCHS:-36}" --batch 64 --lr 5e-4 --d-model 96 --layers 2 --heads 4 \
        --max-val-windows 1000 --val-steps 10 --export-steps 100 --wta-relax "${WTA_RELAX:-0.05}" "${by_t[@]}" \
        ${INPUT_DROP:+--input-drop "$INPUT_DROP"} "${indep[@]}" "${features[@]}" "${reverse[@]}" \
        ${TEACHER_PATIENCE:+--patience "$TEACHER_PATIENCE"} ;;
    sampler)
      "$bin" choose-sampler --model "$run/teacher/teacher.onnx" --write ;;
    reflow)
      [ -f "$run/reflow/student.onnx" ] || "$bin" "${student[@]}" --method reflow --out "$run/reflow" \
        --epochs 8 --batch 64 --lr 3e-4 ;;
    imle)
      [ -f "$run/imle/student.onnx" ] || "$bin" "${student[@]}" --method imle --out "$run/imle" \
        --epochs 5 --lr 3e-4 --candidates 20 --max-windows 12000 ;;
    mdt)
      [ -f "$run/mdt/student.onnx" ] || "$bin" "${student[@]}" --method mdt --out "$run/mdt" \
        --epochs 1 --lr 3e-5 --lambda 1 --dt 0.01 --target-decay 0.999 ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done

mkdir -p "models/$scene"
if [ -f "$run/teacher/teacher.onnx" ]; then cp "$run/teacher/teacher.onnx" "models/$scene/teacher.onnx"; fi
for m in reflow imle mdt; do
  if [ -f "$run/$m/student.onnx" ]; then cp "$run/$m/student.onnx" "models/$scene/$m.onnx"; fi
done
# test metrics into the cards (what models/README.md and benches/models.py report)
if [ -f "models/$scene/teacher.onnx" ]; then
  "$bin" eval --scenes "$scene" --model "models/$scene/teacher.onnx" \
    --steps 1 --steps 2 --steps 10 --steps 100 --write-metrics
  "$bin" eval --scenes "$scene" --model "models/$scene/teacher.onnx" --write-metrics   # its card's sampler
fi
for m in reflow mdt; do
  if [ -f "models/$scene/$m.onnx" ]; then
    "$bin" eval --scenes "$scene" --model "models/$scene/$m.onnx" --steps 1 --steps 2 --write-metrics
  fi
done
for m in reflow imle mdt; do
  if [ -f "models/$scene/$m.onnx" ]; then
    "$bin" eval --scenes "$scene" --model "models/$scene/$m.onnx" --write-metrics
  fi
done
ls -l "models/$scene"
