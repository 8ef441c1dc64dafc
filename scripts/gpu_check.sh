#!/usr/bin/env bash
# The prepared GPU check (issue 13): run it as soon as a GPU machine is lent; under 5 minutes on an H100.
#
#   bash scripts/gpu_check.sh [scripts/gpu_check.py flags]    e.g. --device cuda:0, --only crf,classic, --tiny
#
# It prints PASS/FAIL per check (CRF on CUDA vs CPU, one classic epoch, one transfer round, the transformer with
# AMP and the CRF head) and throughput; exit status 1 if a check fails. Paste its output into docs/results/reliability.md §8.
#
# Environment: the machine's own python3 and torch are used as they are (a CUDA build there must not be replaced
# by the CPU torch that setup.py pins). Python packages it lacks come, in this order, from wheels in .whl/
# (ignored by git; for a machine with no registry, made beforehand with
#   python3 -m pip wheel --no-deps -w .whl seqeval==1.2.2
# and carried along), then from the registry if one answers. zsner itself runs from this source tree. Only on a
# machine without torch at all is `pip install -e ".[transformer]"` tried (the pinned torch may not exist there).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${ZSNER_PYTHON:-python3}
MODULES="torch numpy scipy tqdm seqeval sklearn matplotlib transformers"

missing() {  # the modules of $MODULES that do not import
  "$PYTHON" - $MODULES <<'EOF'
import importlib.util, sys
print(" ".join(name for name in sys.argv[1:] if importlib.util.find_spec(name) is None))
EOF
}

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  "$PYTHON" -m pip install -q --retries 0 --timeout 20 -e ".[transformer]" || echo "gpu_check: pip install -e failed" >&2
fi
if [ -n "$(missing)" ] && compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/zsner-site .whl/*.whl \
    && export PYTHONPATH="/tmp/zsner-site${PYTHONPATH:+:$PYTHONPATH}"
fi
left=$(missing)
if [ -n "$left" ]; then
  packages=$(echo "$left" | sed 's/\bsklearn\b/scikit-learn/')
  echo "gpu_check: installing $packages from the registry" >&2
  "$PYTHON" -m pip install -q --retries 0 --timeout 20 $packages || true
fi
left=$(missing)
if [ -n "$left" ]; then
  echo "gpu_check: cannot import: $left (put wheels in .whl/, see the header of $0)" >&2
  exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$PYTHON" scripts/gpu_check.py "$@"
