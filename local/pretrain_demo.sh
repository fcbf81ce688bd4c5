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
# one data config and one model config per phase, in order (egs/callbot/conf/*; each file says what it changes)
data_configs="pretrain_phase1_data.yaml pretrain_data.yaml pretrain_phase3_data.yaml pretrain_phase4_data.yaml"
model_configs="demo_pretrain_phase1.yaml demo_pretrain.yaml demo_pretrain_phase3.yaml demo_pretrain_phase4.yaml"
conf_dir=egs/callbot/conf
corpus_args="--num-everyday 15000 --num-numbers 5000 --num-daily 10000"   # phase 3's and 4's shares need them
vocab=egs/callbot/demo/vocab.txt
data_dir=data/pretrain                 # <data_dir>/phase<N>/{manifests,fbank}
work_dir=exp/demo_pretrain             # <work_dir>/phase<N>
out_dir=egs/callbot/demo/pretrained
nproc=2                                # ranks of one thread each (docs/BENCHMARKS.md: beats threads on 2 cores)
max_steps=""                           # last phase; default: its model config's trainer.max_steps
start_phase=1                          # N > 1: begin at phase N from <work_dir>/phase<N-1>/model (an official
                                       # folder, e.g. a copy of the released checkpoint of the phases before)
seed=1234

options=" corpus data_configs model_configs conf_dir corpus_args vocab data_dir work_dir out_dir"
options+=" nproc max_steps start_phase seed "
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; echo "Options (--name value):${options//_/-}"; }
. local/parse_options.sh

local/setup_env.sh
py=.venv/bin/python
export PYTHONUNBUFFERED=1

log "general corpus in $corpus"
# shellcheck disable=SC2086  # corpus_args is a list of options
$py local/make_general_corpus.py --out-dir "$corpus" $corpus_args

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

# each later phase starts from the previous phase's best weights only (an official folder): new data, new step
# count, new schedule
export_best() {
  [ -f "$work_dir/phase$1/model/pytorch_model.bin" ] ||
    $py -m chunkformer.export --checkpoint "$work_dir/phase$1/best.pt" --output-dir "$work_dir/phase$1/model"
}
read -r -a dcs <<< "$data_configs"
read -r -a mcs <<< "$model_configs"
last=${#dcs[@]}
[ "${#mcs[@]}" = "$last" ] || { echo "error: $last data configs but ${#mcs[@]} model configs" >&2; exit 2; }
for ((k = start_phase; k <= last; k++)); do
  steps=()
  [ "$k" = "$last" ] && steps=(${max_steps:+--max-steps "$max_steps"})
  if [ "$k" = 1 ]; then
    train 1 "$conf_dir/${dcs[0]}" "$conf_dir/${mcs[0]}" --init random "${steps[@]}"
  else
    [ "$k" = "$start_phase" ] || export_best $((k - 1))
    train "$k" "$conf_dir/${dcs[k-1]}" "$conf_dir/${mcs[k-1]}" --init checkpoint \
      --resume "$work_dir/phase$((k - 1))/model" "${steps[@]}"
  fi
done
log "release into $out_dir"
earlier=()   # the phases before the last: their runs, or the release a later start continued from
[ "$start_phase" -gt 1 ] && earlier+=(--earlier-release "$work_dir/phase$((start_phase - 1))/model")
for ((k = start_phase; k < last; k++)); do earlier+=(--earlier-phase "$work_dir/phase$k"); done
$py local/release_demo_checkpoint.py --exp-dir "$work_dir/phase$last" "${earlier[@]}" --out-dir "$out_dir" \
  --corpus-report "$corpus/report.json"
