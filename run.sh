#!/usr/bin/env bash
# zsner main entry: zero-resource cross-lingual NER from SRC (labelled) to TGT (no labels).
#
#   bash run.sh SRC TGT [--mode mono|word-nochar|word|shared|augmented] [--seeds N] [--backend classic]
#                       [any `zsner transfer` flag, e.g. --epochs 30 --eval-every 150 --rounds 10]
#
# Installs zsner on first use, resolves data and vectors through the search path (--data-dir, $ZSNER_DATA,
# ./data, ../shared/data), runs mapping -> training -> evaluation, prints the result table, and leaves
# everything in runs/SRC-TGT-MODE/ (override with --out).
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 2 ]; then
  echo "usage: bash run.sh SRC TGT [--mode MODE] [--seeds N] [--backend classic] [zsner transfer flags]" >&2
  exit 2
fi
src=$1 tgt=$2
shift 2
backend=classic
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=${2:?--backend needs a value}; shift 2 ;;
    --backend=*) backend=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

if ! python3 -c "import zsner, torch, gensim, seqeval, tqdm" 2>/dev/null; then
  echo "[run.sh] first run: installing zsner and its dependencies (torch 2.13.0 CPU wheel) ..." >&2
  python3 -m pip install -q -e .
fi

case "$backend" in
  classic)
    exec python3 -m zsner.cli transfer --src "$src" --tgt "$tgt" "${args[@]}"
    ;;
  *)
    echo "run.sh: unknown --backend '$backend' (available: classic)" >&2
    exit 2
    ;;
esac
