#!/usr/bin/env bash
# Call-bot fine-tuning recipe for ChunkFormer (icefall-style stages). With no arguments: the whole demo.
#
#   ./run.sh                                   # set-up, demo corpus, stages 0-5, WER table
#   ./run.sh --stage 3 --stop-stage 5          # fine-tune, average, decode (resume a single stage after a failure)
#   ./run.sh --stage 5 --lm auto               # + beam search with a domain n-gram LM (KenLM built once, cached)
#   ./run.sh --stage 5 --hotwords my/list.txt  # + beam search biased by the bot's phrase list (demo: its catalogue)
#   ./run.sh --data-config my/data.yaml --model-config my/model.yaml \
#            --resume path/to/chunkformer-large-vie --save-dir exp/callbot_large
#
# Stages:  -1 set-up + demo corpus (only for the demo data config)
#           0 manifests (validated; rejects listed)     1 fbank for val/test
#           2 training cuts + augmentation plan         3 fine-tune (chunkformer.train)
#           4 checkpoint averaging                      5 decode + WER tables (RESULTS.md)
# Every stage is idempotent: a finished stage says so and does nothing.
set -euo pipefail
cd "$(dirname "$0")"

stage=-1
stop_stage=5
data_config=egs/callbot/conf/demo_data.yaml
model_config=egs/callbot/conf/demo_model.yaml
resume=egs/callbot/demo/pretrained     # official folder, bare .pt (with --vocab) or our checkpoint
vocab=""                               # default: vocab.txt beside --resume
save_dir=exp/callbot
manifest_dir=data/manifests
fbank_dir=data/fbank
demo_corpus=data/demo_corpus
num_avg=3
avg_mode=best
init_weight=0.2                        # stage 4 also writes avg<N>-init<W>.pt = (1-W)·average + W·the model the run
                                       # started from (WiSE-FT: gives back some forgotten general speech; nothing for
                                       # a run from random weights); 0: off. 0.2 is the
                                       # demo's, picked on its validation sets (README); pick yours on your val sets
seed=42                                # stages 2-3: batches, augmentation, initialisation, dropout
corpus_seed=42                         # stage -1: the demo corpus (its test sets too); apart from --seed, so that
                                       # another training seed is measured on the same sentences and audio
decode_splits=test                     # comma-separated: test, val
decode_methods=greedy,beam             # greedy CTC and CTC prefix beam search
lm=none                                # stage 5 beam+lm: none; auto (KenLM's lmplz on the train transcripts, order
                                       # picked on val; KenLM compiled once into .venv/kenlm, a few minutes); or an
                                       # LM file (ARPA or KenLM binary). LM weight and word bonus are tuned per
                                       # model on the val sets; rows <model>+LM in RESULTS.md
lm_text=auto                           # --lm auto: more LM text besides the train transcripts (comma-separated files,
                                       # one sentence per line, normalised by local/train_lm.py); auto: for the demo
                                       # data config the demo pretraining's text (local/make_general_corpus.py
                                       # --text-out, made once into data/lm_text), else none; none: transcripts only
lm_classes=auto                        # --lm auto: the call-bot's catalogue ('class<TAB>phrase' per line: names,
                                       # streets, products...) for a class LM (local/train_lm.py --classes); auto:
                                       # for the demo data config its catalogue (local/callbot_catalogue.py), else
                                       # none; none: no catalogue
hotwords=auto                          # stage 5 beam+hotwords, beside the plain beam: a phrase list biasing the beam
                                       # search (one phrase per line, optionally <TAB>score; one list for every
                                       # utterance); auto: for the demo data config the bot's catalogue (held-out
                                       # slot values + as many distractors, local/callbot_catalogue.py, from the
                                       # demo corpus of stage -1), else none;
                                       # none: no beam+hotwords rows. Its score per token is chosen on the val sets
train_args=""                          # extra flags for chunkformer.train, e.g. "--epochs 20 --lr 5e-5"
nproc=auto                             # stage-3 processes (torchrun DDP). auto: one per GPU; on a CPU-only
                                       # machine one per core (at most 8) for the demo model (1-thread ranks beat threads
                                       # there, see docs/BENCHMARKS.md), else 1

options=" stage stop_stage data_config model_config resume vocab save_dir manifest_dir fbank_dir demo_corpus num_avg avg_mode init_weight seed corpus_seed decode_splits decode_methods lm lm_text lm_classes hotwords train_args nproc "
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; echo "Options (--name value):${options//_/-}"; }
. local/parse_options.sh
for v in stage stop_stage; do
  [[ ${!v} =~ ^-?[0-9]+$ ]] || die "--${v//_/-} must be an integer stage number (-1..5), not '${!v}'"
done
[ "$stage" -le "$stop_stage" ] || die "--stage $stage is after --stop-stage $stop_stage: nothing would run"
[[ $init_weight =~ ^(0(\.[0-9]*)?|\.[0-9]+|1(\.0*)?)$ ]] || die "--init-weight must be a number in [0, 1], not '$init_weight'"
[ "$lm" = none ] || [ "$lm" = auto ] || [ -f "$lm" ] || die "--lm must be none, auto or an LM file (ARPA or KenLM binary), not '$lm'"
lm_text_files=()
if [ "$lm_text" != auto ] && [ "$lm_text" != none ]; then
  IFS=, read -r -a lm_text_files <<< "$lm_text"
  for f in "${lm_text_files[@]}"; do
    [ -f "$f" ] || die "--lm-text must be auto, none or comma-separated text files; no file '$f'"
  done
fi
[ "$lm_classes" = auto ] || [ "$lm_classes" = none ] || [ -f "$lm_classes" ] ||
  die "--lm-classes must be auto, none or a 'class<TAB>phrase' file; no file '$lm_classes'"
[ "$hotwords" = auto ] || [ "$hotwords" = none ] || [ -f "$hotwords" ] ||
  die "--hotwords must be auto, none or a phrase file (one per line); no file '$hotwords'"

local/setup_env.sh
py=.venv/bin/python
export PYTHONUNBUFFERED=1

if [ -z "$vocab" ]; then
  if [ -d "$resume" ]; then vocab=$resume/vocab.txt; else vocab=$(dirname "$resume")/vocab.txt; fi
fi

if [ $stage -le -1 ] && [ $stop_stage -ge -1 ]; then
  if [ "$data_config" = egs/callbot/conf/demo_data.yaml ]; then
    log "stage -1: demo corpus (synthetic Vietnamese call-bot speech) in $demo_corpus"
    $py local/make_demo_corpus.py --out-dir "$demo_corpus" --seed "$corpus_seed"
    # general prose: ~2 h of training documents' sentences, replayed in the fine-tune against forgetting, 100 of
    # other documents for validation, and the committed held-out test set (documents never used in pretraining
    # or fine-tuning, held-out voices) that measures the forgetting; no generated text
    $py local/make_general_corpus.py --out-dir "$demo_corpus/general" --natural-hours 2 --num-val 100 \
      --num-everyday 0 --num-numbers 0 --min-count 0
  else
    log "stage -1: nothing to do for a user data config"
  fi
fi

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "stage 0: manifests from $data_config (vocab $vocab)"
  [ -f "$vocab" ] || die "no vocab at $vocab; pass --vocab PATH"
  $py local/prepare_manifests.py --data-config "$data_config" --vocab "$vocab" --out-dir "$manifest_dir"
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "stage 1: fbank for val/test"
  $py local/compute_fbank.py --manifest-dir "$manifest_dir" --out-dir "$fbank_dir"
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: training cuts and augmentation plan"
  $py local/build_train_cuts.py --data-config "$data_config" --manifest-dir "$manifest_dir" --seed "$seed"
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  if [ "$nproc" = auto ]; then
    nproc=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
    if [ "$nproc" -eq 0 ]; then
      if [ "$model_config" = egs/callbot/conf/demo_model.yaml ]; then nproc=$(( $(nproc) < 8 ? $(nproc) : 8 )); else nproc=1; fi
    fi
  fi
  [[ $nproc =~ ^[1-9][0-9]*$ ]] || die "--nproc must be a positive number or auto, not '$nproc'"
  launcher=("$py")
  if [ "$nproc" -gt 1 ]; then launcher=(.venv/bin/torchrun --standalone --nproc_per_node "$nproc"); fi
  log "stage 3: fine-tune from $resume into $save_dir ($nproc process(es))"
  # shellcheck disable=SC2086
  "${launcher[@]}" -m chunkformer.train --data-config "$data_config" --model-config "$model_config" \
    --resume "$resume" --vocab "$vocab" --save-dir "$save_dir" --manifest-dir "$manifest_dir" --seed "$seed" $train_args
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  shopt -s nullglob; epochs=("$save_dir"/epoch-*.pt); shopt -u nullglob
  [ ${#epochs[@]} -gt 0 ] || die "stage 4: no epoch-*.pt in $save_dir; run stage 3 first"
  if [ ${#epochs[@]} -lt "$num_avg" ]; then
    log "WARNING: stage 4: only ${#epochs[@]} epoch checkpoint(s) in $save_dir (a short run or an early stop); averaging ${#epochs[@]} instead of --num-avg $num_avg"
    num_avg=${#epochs[@]}
  fi
  out=$save_dir/avg$num_avg.pt
  # redone when the mode, the count or any input checkpoint (name, size, mtime) changes
  key="$avg_mode $num_avg $(stat -c '%n %s %Y' "${epochs[@]}" | md5sum | cut -c1-16)"
  if [ -f "$out" ] && [ "$(cat "$out.done" 2>/dev/null)" = "$key" ]; then
    log "stage 4: already done ($out: same mode, count and checkpoints), nothing to do"
  else
    log "stage 4: average $num_avg checkpoints ($avg_mode) into $out"
    $py -m chunkformer.average --inputs "${epochs[@]}" --num-ckpts "$num_avg" --mode "$avg_mode" --output "$out"
    echo "$key" > "$out.done"
  fi
  if awk "BEGIN { exit !($init_weight > 0) }"; then
    mixed=$save_dir/avg$num_avg-init$init_weight.pt
    # redone when the weight or the average changes, or the run's inputs (inputs.json: the initial model's digest)
    key="$init_weight $(stat -c '%n %s %Y' "$out" "$save_dir/inputs.json" 2>/dev/null | md5sum | cut -c1-16)"
    if [ -f "$mixed" ] && [ "$(cat "$mixed.done" 2>/dev/null)" = "$key" ]; then
      log "stage 4: already done ($mixed: same weight and average), nothing to do"
    else
      log "stage 4: $mixed = $(awk "BEGIN {print 1 - $init_weight}") x $out + $init_weight x the initial model (WiSE-FT)"
      $py -m chunkformer.average --inputs "${epochs[@]}" --num-ckpts "$num_avg" --mode "$avg_mode" \
        --output "$mixed" --init-weight "$init_weight"
      echo "$key" > "$mixed.done"
    fi
  fi
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  lm_args=()
  demo=false   # the demo's data config and its corpus (stage -1): the bot's catalogue can be made
  [ "$data_config" = egs/callbot/conf/demo_data.yaml ] && [ -d "$demo_corpus" ] && demo=true
  if $demo && { [ "$hotwords" = auto ] || { [ "$lm" = auto ] && [ "$lm_classes" = auto ]; }; }; then
    # the demo bot's catalogue: its hotword list, and by slot the LM's classes
    $py local/callbot_catalogue.py --corpus "$demo_corpus" --out data/lm_text/catalogue.txt \
      --classes-out data/lm_text/catalogue_classes.tsv >/dev/null
  fi
  if [ "$lm" != none ]; then
    lm_file=$lm
    if [ "$lm" = auto ]; then
      if [ "$lm_text" = auto ] && [ "$data_config" = egs/callbot/conf/demo_data.yaml ]; then
        lm_text_files=(data/lm_text/general.txt)   # the pretraining's sentences, with its arguments:
        # shellcheck disable=SC2046  # the corpus arguments are a list of options
        $py local/make_general_corpus.py --out-dir data/lm_text --vocab "$vocab" \
          $(sed -n 's/^corpus_args="\([^"]*\)".*/\1/p' local/pretrain_demo.sh) --text-out "${lm_text_files[0]}"
      fi
      text_args=()
      for f in "${lm_text_files[@]}"; do text_args+=(--text "$f"); done
      if [ "$lm_classes" = auto ] && $demo; then
        lm_classes=data/lm_text/catalogue_classes.tsv   # the demo bot's catalogue (its hotword list), by slot
      elif [ "$lm_classes" = auto ] && [ "$data_config" = egs/callbot/conf/demo_data.yaml ]; then
        log "stage 5: no demo corpus in $demo_corpus, so no catalogue: an LM without classes (--lm-classes FILE gives one)"
      fi
      [ "$lm_classes" = auto ] || [ "$lm_classes" = none ] || text_args+=(--classes "$lm_classes")
      log "stage 5: domain n-gram LM from the train transcripts${text_args[*]:+ and ${text_args[*]}} in $save_dir/lm (lmplz; order picked on val)"
      kenlm_bin=$(local/build_kenlm.sh)
      $py local/train_lm.py --manifest-dir "$manifest_dir" --vocab "$vocab" --out-dir "$save_dir/lm" \
        --kenlm-bin "$kenlm_bin" "${text_args[@]}"
      lm_file=$save_dir/lm/lm.bin
    fi
    [[ ,$decode_methods, == *,beam+lm,* ]] || decode_methods=$decode_methods,beam+lm
    lm_args=(--lm "$lm_file")   # weight and word bonus: tuned per model on the val sets (chunkformer.decode)
  fi
  hot_args=()
  if [ "$hotwords" = auto ]; then
    if $demo; then
      hotwords=data/lm_text/catalogue.txt
    else
      [ "$data_config" != egs/callbot/conf/demo_data.yaml ] ||
        log "stage 5: no demo corpus in $demo_corpus, so no catalogue: no beam+hotwords (--hotwords FILE gives a list)"
      hotwords=none
    fi
  fi
  if [ "$hotwords" != none ]; then
    [[ ,$decode_methods, == *,beam,* ]] || decode_methods=$decode_methods,beam
    [[ ,$decode_methods, == *,beam+hotwords,* ]] || decode_methods=$decode_methods,beam+hotwords
    hot_args=(--hotwords "$hotwords")   # score per token: chosen per model on the val sets (chunkformer.decode)
  fi
  models=(--model "pretrained=$resume")
  [ -f "$save_dir/best.pt" ] && models+=(--model "best=$save_dir/best.pt")
  [ -f "$save_dir/avg$num_avg.pt" ] && models+=(--model "avg$num_avg=$save_dir/avg$num_avg.pt")
  mixed=avg$num_avg-init$init_weight
  [ -f "$save_dir/$mixed.pt" ] && models+=(--model "$mixed=$save_dir/$mixed.pt")
  # redone when an option, a model, the manifests or features, the LM or a config changes (size and mtime)
  key=$( { echo "$decode_splits $decode_methods ${models[*]} ${lm_args[*]} ${hot_args[*]}"
           [ "$hotwords" = none ] || md5sum < "$hotwords"   # content: the demo's list is rewritten on every run
           for p in "$resume" "$save_dir"/{best,avg$num_avg,$mixed}.pt "${lm_args[@]:1}" "$manifest_dir" \
                    "$fbank_dir" "$data_config" "$save_dir/config.yaml"; do
             if [ -e "$p" ]; then find "$p" -maxdepth 1 -type f -printf '%p %s %T@\n'; fi
           done | sort; } | md5sum | cut -c1-16)
  if [ -f "$save_dir/RESULTS.md" ] && [ "$(cat "$save_dir/RESULTS.md.done" 2>/dev/null)" = "$key" ]; then
    log "stage 5: already done ($save_dir/RESULTS.md: same models, sets and options), nothing to do"
  else
    log "stage 5: decode the $decode_splits sets ($decode_methods), WER tables in $save_dir/RESULTS.md"
    rm -f "$save_dir/RESULTS.md.done"
    $py -m chunkformer.decode --exp-dir "$save_dir" --manifest-dir "$manifest_dir" "${models[@]}" \
      --splits "$decode_splits" --methods "$decode_methods" "${lm_args[@]}" "${hot_args[@]}" \
      --config "data=$data_config" --config "model=$save_dir/config.yaml"
    echo "$key" > "$save_dir/RESULTS.md.done"
    log "done: $save_dir/RESULTS.md"
  fi
fi
