#!/usr/bin/env bash
# Pretrains the demo's checkpoint from scratch with the recipe's own engine, on general Vietnamese speech, and
# writes it in the official folder format. Resumable: rerun the same command after a stop (every step below
# skips finished work; training continues from its newest checkpoint).
#
#   local/pretrain_demo.sh                        # corpus, stages 0-2 for it, torchrun training, release
#   local/pretrain_demo.sh --max-steps 8000       # a longer budget (continues a finished run)
set -euo pipefail
cd "$(dirname "$0")/.."

corpus=data/general_corpus
phase1_data_config=egs/callbot/conf/pretrain_phase1_data.yaml
phase1_model_config=egs/callbot/conf/demo_pretrain_phase1.yaml
data_config=egs/callbot/conf/pretrain_data.yaml
model_config=egs/callbot/conf/demo_pretrain.yaml
vocab=egs/callbot/demo/vocab.txt
data_dir=data/pretrain                 # <data_dir>/phase{1,2}/{manifests,fbank}
work_dir=exp/demo_pretrain             # <work_dir>/phase{1,2}
out_dir=egs/callbot/demo/pretrained
nproc=2                                # ranks of one thread each (docs/BENCHMARKS.md: beats threads on 2 cores)
max_steps=""                           # phase 2; default: model_config's trainer.max_steps
seed=1234

options=" corpus phase1_data_config phase1_model_config data_config model_config vocab data_dir work_dir out_dir"
options+=" nproc max_steps seed "
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; echo "Options (--name value):${options//_/-}"; }
. local/parse_options.sh

local/setup_env.sh
py=.venv/bin/python
export PYTHONUNBUFFERED=1

log "general corpus in $corpus"
$py local/make_general_corpus.py --out-dir "$corpus"

launcher=("$py")
[ "$nproc" -gt 1 ] && launcher=(.venv/bin/torchrun --standalone --nproc_per_node "$nproc")
# train PHASE DATA_CONFIG MODEL_CONFIG [train options]: stages 0-2 of the phase's data, then the engine
train() {
  local phase=$1 dc=$2 mc=$3 manifests=$data_dir/phase$1/manifests
  shift 3
  log "phase $phase: stages 0-2 for $dc"
  $py local/prepare_manifests.py --data-config "$dc" --vocab "$vocab" --out-dir "$manifests"
  $py local/compute_fbank.py --manifest-dir "$manifests" --out-dir "$data_dir/phase$phase/fbank"
  $py local/build_train_cuts.py --data-config "$dc" --manifest-dir "$manifests" --seed "$seed"
  log "phase $phase: training in $work_dir/phase$phase ($nproc rank(s))"
  OMP_NUM_THREADS=1 "${launcher[@]}" -m chunkformer.train --data-config "$dc" --model-config "$mc" \
    --vocab "$vocab" --manifest-dir "$manifests" --save-dir "$work_dir/phase$phase" --seed "$seed" --threads 1 "$@"
}

train 1 "$phase1_data_config" "$phase1_model_config" --init random
# phase 2 starts from phase 1's best weights only (an official folder): new data, new step count, new schedule
if [ ! -f "$work_dir/phase1/model/pytorch_model.bin" ]; then
  $py -m chunkformer.export --checkpoint "$work_dir/phase1/best.pt" --output-dir "$work_dir/phase1/model"
fi
train 2 "$data_config" "$model_config" --init checkpoint --resume "$work_dir/phase1/model" \
  ${max_steps:+--max-steps "$max_steps"}
log "release into $out_dir"
$py local/release_demo_checkpoint.py --exp-dir "$work_dir/phase2" --earlier-phase "$work_dir/phase1" \
  --out-dir "$out_dir" --corpus-report "$corpus/report.json"
