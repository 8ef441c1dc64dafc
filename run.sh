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
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

if [ "${1:-}" = --test ]; then
  shift
  zsner_env test,transformer,distributed,serve
  [ $# -gt 0 ] || set -- tests
  exec python3 -m pytest -q "$@"
fi
if [ "${1:-}" = zsner ]; then
  shift
  case "${1:-}" in serve) zsner_env serve ;; *) zsner_env "" ;; esac  # zsner serve: the serve extra (FastAPI)
  exec python3 -m zsner.cli "$@"
fi

if [ $# -lt 2 ]; then
  echo "usage: bash run.sh SRC TGT [--mode MODE] [--seeds N] [--backend classic|transformer|both] [--model PATH]" \
    "[flags] | bash run.sh --test [PYTEST ARGS] | bash run.sh zsner ARGS" >&2
  exit 2
fi
extras="" seeds="" previous=""  # the transformer and both backends need the transformer extra; several
for arg in "$@"; do                 # seeds the distributed one (Ray: the seeds train in parallel)
  case "$previous $arg" in
    "--backend transformer" | "--backend both" | *" --backend=transformer" | *" --backend=both") extras=transformer ;;
  esac
  case "$previous" in --seeds) seeds=$arg ;; esac
  case "$arg" in --seeds=*) seeds=${arg#--seeds=} ;; esac
  previous=$arg
done
case "$seeds" in '' | 0 | 1 | *[!0-9]*) ;; *) extras=$(_zsner_union "$extras" distributed) ;; esac
zsner_env "$extras"
exec python3 -m zsner.runner --called-as run.sh "$@"  # = zsner run, without importing the other commands
