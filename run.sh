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
# run.sh sets up the Python environment, then hands its arguments to `zsner run` (zsner/runner.py), which
# documents every flag (`bash run.sh zsner run -h`): --schedule cpu|paper, the folders under runs/, how
# --backend both pairs the modes, ZSNER_DRY_RUN=1. With --seeds N (N > 1) run.sh installs the `distributed`
# extra (Ray) into its environment, and the seeds train in parallel on this machine's cores.
#
# Environment (scripts/env.sh): an active virtual/conda environment is used as it is; otherwise run.sh creates
# .venv/ on first use and installs zsner there, so it also works on externally managed system Pythons (PEP 668).
#   bash run.sh --test [PYTEST ARGS]   the test suite in that environment (with the test, transformer,
#                                      distributed and serve extras)
#   bash run.sh zsner ARGS...          any zsner command in that environment (e.g. bash run.sh zsner data en;
#                                      bash run.sh zsner serve MODEL installs the serve extra first)
#   bash run.sh --print-extras ARGS    the extras that `bash run.sh ARGS` installs, printed (nothing is set up)
#
# Extras installed by the arguments: transformer for --backend transformer|both, --vectors encoder|concat,
# --teacher, zsner transformer|vectors|project|cluster|groups|export and tag/predict/serve of a transformer run
# or checkpoint (and a grid spec with any of these); distributed (Ray) for --seeds N > 1, zsner grid and zsner
# groups --ray|--address; serve for zsner serve. Each zsner command checks the same first (one line if missing).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

_transformer_model() {  # a transformer run folder or checkpoint (what zsner tag / predict / serve load as one)
  if [ -d "$1" ]; then
    [ -d "$1/checkpoints" ] || grep -Eqs '"backend": *"transformer"' "$1/metrics.json"
  else
    [ -f "$1" ] && grep -aqF zsner-transformer-1 < <(head -c 4194304 "$1")  # the archive's pickle comes first
  fi
}

_transformer_spec() {  # a grid spec with transformer runs, encoder vectors or a teacher
  [ -f "$1" ] && grep -Eqs 'backend"?: *"?transformer|teacher|vectors"?: *"?(encoder|concat)|--vectors[ =](encoder|concat)' "$1"
}

run_sh_extras() {  # ARGS (as given to run.sh) -> the comma-separated extras they need
  local command=run extras="" seeds="" previous="" arg word words
  case "${1:-}" in
    --test) _zsner_union test,transformer,distributed,serve; return ;;
    zsner) command=${2:-}; shift; shift || true ;;
  esac
  case "$command" in
    serve) extras=serve ;;
    transformer | vectors | project | cluster | groups | export) extras=transformer ;;
    grid) extras=distributed ;;
  esac
  for arg in "$@"; do
    read -r -a words <<<"$arg" || true  # a grid's --flags "..." holds several words
    for word in ${words[@]+"${words[@]}"}; do
      case "$previous $word" in
        "--backend transformer" | "--backend both" | "--vectors encoder" | "--vectors concat") extras+=,transformer ;;
        "--seeds "*) seeds=$word ;;
      esac
      case "$word" in
        --backend=transformer | --backend=both | --vectors=encoder | --vectors=concat | --teacher | --teacher=*)
          extras+=,transformer ;;
        --seeds=*) seeds=${word#--seeds=} ;;
        --ray | --address | --address=*) [ "$command" != groups ] || extras+=,distributed ;;
      esac
      previous=$word
    done
    case "$command" in
      tag | predict | serve) if _transformer_model "$arg"; then extras+=,transformer; fi ;;
      grid) if _transformer_spec "$arg"; then extras+=,transformer; fi ;;
    esac
  done
  if [ "$command" = run ]; then  # several seeds train in parallel on Ray
    case "$seeds" in '' | 0 | 1 | *[!0-9]*) ;; *) extras+=,distributed ;; esac
  fi
  _zsner_union "$extras"
}

if [ "${1:-}" = --print-extras ]; then
  shift
  run_sh_extras "$@"
  exit 0
fi
if [ "${1:-}" = --test ]; then
  shift
  zsner_env "$(run_sh_extras --test)"
  [ $# -gt 0 ] || set -- tests
  exec python3 -m pytest -q "$@"
fi
if [ "${1:-}" = zsner ]; then
  zsner_env "$(run_sh_extras "$@")"
  shift
  exec python3 -m zsner.cli "$@"
fi

if [ $# -lt 2 ]; then
  echo "usage: bash run.sh SRC TGT [--mode MODE] [--seeds N] [--backend classic|transformer|both] [--model PATH]" \
    "[flags] | bash run.sh --test [PYTEST ARGS] | bash run.sh zsner ARGS" >&2
  exit 2
fi
zsner_env "$(run_sh_extras "$@")"
exec python3 -m zsner.runner --called-as run.sh "$@"  # = zsner run, without importing the other commands
