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
data_config=egs/callbot/conf/pretrain_data.yaml
model_config=egs/callbot/conf/demo_pretrain.yaml
vocab=egs/callbot/demo/vocab.txt
manifest_dir=data/pretrain/manifests
fbank_dir=data/pretrain/fbank
work_dir=exp/demo_pretrain
out_dir=egs/callbot/demo/pretrained
nproc=2                                # ranks of one thread each (docs/BENCHMARKS.md: beats threads on 2 cores)
max_steps=""                           # default: model_config's trainer.max_steps
seed=1234

options=" corpus data_config model_config vocab manifest_dir fbank_dir work_dir out_dir nproc max_steps seed "
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; echo "Options (--name value):${options//_/-}"; }
. local/parse_options.sh

local/setup_env.sh
py=.venv/bin/python
export PYTHONUNBUFFERED=1

log "general corpus in $corpus"
$py local/make_general_corpus.py --out-dir "$corpus"
log "stages 0-2 for $data_config"
$py local/prepare_manifests.py --data-config "$data_config" --vocab "$vocab" --out-dir "$manifest_dir"
$py local/compute_fbank.py --manifest-dir "$manifest_dir" --out-dir "$fbank_dir"
$py local/build_train_cuts.py --data-config "$data_config" --manifest-dir "$manifest_dir" --seed "$seed"
log "training from scratch in $work_dir ($nproc rank(s))"
launcher=("$py")
[ "$nproc" -gt 1 ] && launcher=(.venv/bin/torchrun --standalone --nproc_per_node "$nproc")
OMP_NUM_THREADS=1 "${launcher[@]}" -m chunkformer.train --init random --model-config "$model_config" \
  --vocab "$vocab" --manifest-dir "$manifest_dir" --save-dir "$work_dir" --seed "$seed" --threads 1 \
  ${max_steps:+--max-steps "$max_steps"}
log "release into $out_dir"
$py local/release_demo_checkpoint.py --exp-dir "$work_dir" --out-dir "$out_dir" --corpus-report "$corpus/report.json"
