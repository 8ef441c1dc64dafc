#!/usr/bin/env bash
# zsner main entry: zero-resource cross-lingual NER from SRC (labelled) to TGT (no labels).
#
#   bash run.sh SRC TGT [--mode mono|word-nochar|word|shared|augmented] [--seeds N] [--backend classic]
#                       [any `zsner transfer` flag, e.g. --epochs 30 --eval-every 150 --rounds 10]
#   bash run.sh SRC TGT --backend transformer --model PATH [--mode zero-shot|augmented] [--out DIR]
#                       [any `zsner transformer` flag, e.g. --freeze-layers 6 --epochs 2]
#   bash run.sh SRC TGT --backend both --model PATH [--mode MODE] [--seeds N] [flags for both backends]
#                       [--classic FLAGS...] [--transformer FLAGS...]
#
# --schedule cpu (default) trains the classic base for 10 epochs with an evaluation every 300 batches, the
# measured budget that keeps one en->es augmented seed under 30 minutes on a 2-core CPU (docs/RESULTS.md §4);
# --schedule paper keeps the paper's 30 epochs / every 150 batches. Explicit --epochs / --eval-every win.
# Installs zsner on first use, resolves data and vectors through the search path (--data-dir, $ZSNER_DATA,
# ./data, ../shared/data), runs mapping -> training -> evaluation, prints the result table, and leaves
# everything in runs/SRC-TGT-MODE/ (override with --out).
# --backend transformer fine-tunes the local Hugging Face encoder folder PATH (`zsner transformer`) into
# runs/SRC-TGT-transformer-MODE/ (override with --out).
# --backend both runs the classic pipeline, then the transformer, then `zsner compare` on the two folders: the
# side-by-side table is printed and written to runs/SRC-TGT-compare.md. Its --mode pairs the backends:
# augmented -> both augmented; zero-shot -> classic shared + transformer zero-shot; mono|word-nochar|word|shared
# -> that classic variant + transformer zero-shot; default: classic augmented (its shared base is a row too) +
# transformer zero-shot. Flags before --classic / --transformer go to both backends (e.g. --data-dir, --seed,
# --epochs), flags after one of them to that backend only (a --mode there sets that backend's mode); --seeds
# is the classic backend's. A finished transformer folder is reused (like the classic seeds) unless --overwrite
# is among its flags. ZSNER_DRY_RUN=1 prints the transformer/both commands instead of running them.
#
# Environment (scripts/env.sh): an active virtual/conda environment is used as it is; otherwise run.sh creates
# .venv/ on first use and installs zsner there, so it also works on externally managed system Pythons (PEP 668).
#   bash run.sh --test [PYTEST ARGS]   the test suite in that environment (with the test + transformer extras)
#   bash run.sh zsner ARGS...          any zsner command in that environment (e.g. bash run.sh zsner data en)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

if [ "${1:-}" = --test ]; then
  shift
  zsner_env test,transformer
  [ $# -gt 0 ] || set -- tests
  exec python3 -m pytest -q "$@"
fi
if [ "${1:-}" = zsner ]; then
  shift
  zsner_env ""
  exec python3 -m zsner.cli "$@"
fi

if [ $# -lt 2 ]; then
  echo "usage: bash run.sh SRC TGT [--mode MODE] [--seeds N] [--backend classic|transformer|both] [--model PATH]" \
    "[flags] | bash run.sh --test [PYTEST ARGS] | bash run.sh zsner ARGS" >&2
  exit 2
fi
src=$1 tgt=$2
shift 2
backend=classic
schedule=cpu
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=${2:?--backend needs a value}; shift 2 ;;
    --backend=*) backend=${1#*=}; shift ;;
    --schedule) schedule=${2:?--schedule needs a value}; shift 2 ;;
    --schedule=*) schedule=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

case "$backend" in
  classic | transformer | both) ;;
  *)
    echo "run.sh: unknown --backend '$backend' (available: classic, transformer, both)" >&2
    exit 2
    ;;
esac

fail() {
  echo "run.sh: $*" >&2
  exit 2
}

case "$schedule" in
  cpu) classic_schedule=(--epochs 10 --eval-every 300) ;;  # earlier in argv, so explicit flags override it
  paper) classic_schedule=() ;;
  *) fail "unknown --schedule '$schedule' (available: cpu, paper)" ;;
esac

classic_modes=" mono word-nochar word shared augmented "
transformer_modes=" zero-shot augmented "
model="" out="" seeds=""
classic_mode=augmented transformer_mode=zero-shot
common=() classic_args=() transformer_args=()
if [ "$backend" != classic ]; then
  section=common
  set -- ${args[@]+"${args[@]}"}
  while [ $# -gt 0 ]; do
    option=$1 value=""
    case "$option" in
      --model | --mode | --out | --seeds)
        [ $# -ge 2 ] || fail "$option needs a value"
        value=$2
        shift 2
        ;;
      --model=* | --mode=* | --out=* | --seeds=*)
        value=${option#*=} option=${option%%=*}
        shift
        ;;
      --classic | --transformer)
        [ "$backend" = both ] || fail "$option sections are for --backend both"
        section=${option#--}
        shift
        continue
        ;;
      *)
        case "$section" in
          common) common+=("$option") ;;
          classic) classic_args+=("$option") ;;
          transformer) transformer_args+=("$option") ;;
        esac
        shift
        continue
        ;;
    esac
    case "$option" in
      --model) model=$value ;;
      --out)
        [ "$backend" = transformer ] || fail "--out is not used with --backend both (folders: runs/$src-$tgt-*)"
        out=$value
        ;;
      --seeds)
        [ "$backend" = both ] && [ "$section" != transformer ] ||
          fail "--seeds is the classic backend's; zsner transformer runs one seed (--seed N)"
        seeds=$value
        ;;
      --mode)
        if [ "$backend" = transformer ] || [ "$section" = transformer ]; then
          [[ "$transformer_modes" == *" $value "* ]] ||
            fail "transformer --mode must be zero-shot or augmented, not '$value'"
          transformer_mode=$value
        elif [ "$section" = classic ]; then
          [[ "$classic_modes" == *" $value "* ]] || fail "classic --mode must be one of$classic_modes, not '$value'"
          classic_mode=$value
        else  # both, common section: pair the backends
          case "$value" in
            augmented) classic_mode=augmented transformer_mode=augmented ;;
            zero-shot) classic_mode=shared transformer_mode=zero-shot ;;
            mono | word-nochar | word | shared) classic_mode=$value transformer_mode=zero-shot ;;
            *) fail "--mode must be one of zero-shot$classic_modes, not '$value'" ;;
          esac
        fi
        ;;
    esac
  done
  [ -n "$model" ] || fail "--backend $backend needs --model PATH (a local Hugging Face model folder)"
  [ -d "$model" ] || fail "--model '$model' is not a folder (a local Hugging Face model folder is expected)"
fi

# run (or with ZSNER_DRY_RUN=1 print) one command of the transformer / both backends
run() {
  if [ "${ZSNER_DRY_RUN:-}" = 1 ]; then
    printf '%q ' "$@" | sed 's/ $//'
    echo
  else
    "$@"
  fi
}

if [ "$backend" = classic ] || [ "${ZSNER_DRY_RUN:-}" != 1 ]; then  # the classic backend has no dry run
  if [ "$backend" = classic ]; then zsner_env ""; else zsner_env transformer; fi
fi

transformer_out=${out:-runs/$src-$tgt-transformer-$transformer_mode}
transformer_command=(python3 -m zsner.cli transformer --model "$model" --src "$src" --tgt "$tgt"
                     --mode "$transformer_mode" ${common[@]+"${common[@]}"}
                     ${transformer_args[@]+"${transformer_args[@]}"} --out "$transformer_out")

case "$backend" in
  classic)
    exec python3 -m zsner.cli transfer --src "$src" --tgt "$tgt" ${classic_schedule[@]+"${classic_schedule[@]}"} \
      ${args[@]+"${args[@]}"}
    ;;
  transformer)
    run "${transformer_command[@]}"
    ;;
  both)
    classic_out=runs/$src-$tgt-$classic_mode
    compare_out=runs/$src-$tgt-compare.md
    run python3 -m zsner.cli transfer --src "$src" --tgt "$tgt" --mode "$classic_mode" ${seeds:+--seeds "$seeds"} \
      ${classic_schedule[@]+"${classic_schedule[@]}"} \
      ${common[@]+"${common[@]}"} ${classic_args[@]+"${classic_args[@]}"} --out "$classic_out"
    overwrite=no
    for flag in ${transformer_args[@]+"${transformer_args[@]}"} ${common[@]+"${common[@]}"}; do
      [ "$flag" = --overwrite ] && overwrite=yes
    done
    if [ -f "$transformer_out/metrics.json" ] && [ "$overwrite" = no ]; then
      echo "[run.sh] reusing the finished transformer run in $transformer_out" \
        "(add --transformer --overwrite to redo it)" >&2
    else
      run "${transformer_command[@]}"
    fi
    run python3 -m zsner.cli compare "$classic_out" "$transformer_out" --out "$compare_out"
    [ "${ZSNER_DRY_RUN:-}" = 1 ] || echo "[run.sh] table written to $compare_out" >&2
    ;;
esac
