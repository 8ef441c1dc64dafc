# The Python environment that run.sh works in (sourced by run.sh; defines zsner_env).
#
#   zsner_env EXTRAS    EXTRAS: comma-separated setup.py extras ("" for none, e.g. "transformer" or "test,transformer")
#
# After it, `python3` on PATH is the environment's interpreter (exported, so child processes see it too):
# - $ZSNER_PYTHON set: that interpreter, as it is (nothing is created or installed);
# - a virtual environment ($VIRTUAL_ENV) or conda environment ($CONDA_PREFIX) is active: it is used; zsner and
#   the extras are pip-installed into it only if they cannot be imported;
# - otherwise .venv/ in the project (or $ZSNER_VENV) is created with `python3 -m venv` on first use, zsner is
#   installed there (editable), and it is reinstalled only when setup.py or the extras asked for change.
# This keeps both README commands working on externally managed system Pythons (PEP 668: Debian 12+, Ubuntu
# 23.04+, Fedora), where `pip install` outside a virtual environment is refused.

_zsner_env_fail() {
  echo "run.sh: $*" >&2
  exit 2
}

# the import check of an extra (what must import once it is installed)
_zsner_extra_modules() {
  case "$1" in
    transformer) echo "transformers" ;;
    test) echo "pytest torchcrf hypothesis" ;;
    distributed) echo "ray" ;;
    serve) echo "fastapi uvicorn" ;;
    *) echo "" ;;
  esac
}

_zsner_install() {  # $1 extras; pip output stays quiet unless it fails
  local spec="." prefix
  [ -z "$1" ] || spec=".[$1]"
  # --use-pep517: otherwise an older venv pip (Debian's 23.0) installs sdists (seqeval) by the legacy setup.py path,
  # whose setup_requires fetches the newest setuptools_scm without its dependencies and fails to import it (seen on
  # a fresh machine, with no wheel cache to hide it); PEP 517 installs setup_requires with pip, dependencies included
  python3 -m pip install -q --use-pep517 -e "$spec" >&2 && return
  prefix=$(python3 -c 'import sys; print(sys.prefix)')
  _zsner_env_fail "installing zsner ($spec) into $prefix failed (see pip's message above; free disk there:" \
    "$(df -h --output=avail "$prefix" 2>/dev/null | tail -n 1 | tr -d ' '))"
}

_zsner_union() {  # comma lists -> sorted unique comma list
  printf '%s\n' "$@" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -
}

zsner_env() {
  local extras=${1:-} modules extra
  if [ -n "${ZSNER_PYTHON:-}" ]; then
    [ -x "$ZSNER_PYTHON" ] || _zsner_env_fail "ZSNER_PYTHON '$ZSNER_PYTHON' is not an executable interpreter"
    local bin
    bin=$(mktemp -d)
    # a wrapper, not a symlink: a venv's interpreter finds its environment only when called by its own path
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$ZSNER_PYTHON" >"$bin/python3"
    chmod +x "$bin/python3"
    export PATH="$bin:$PATH"
    return
  fi
  if [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; then
    modules="zsner torch gensim seqeval tqdm"
    for extra in ${extras//,/ }; do modules="$modules $(_zsner_extra_modules "$extra")"; done
    if ! python3 -c "import ${modules// /, }" 2>/dev/null; then
      echo "[run.sh] installing zsner${extras:+ [$extras]} into the active environment $(python3 -c 'import sys; print(sys.prefix)') ..." >&2
      _zsner_install "$extras"
    fi
    return
  fi
  local venv=${ZSNER_VENV:-$PWD/.venv}
  local stamp="$venv/.zsner-install"
  if [ ! -x "$venv/bin/python3" ]; then
    command -v python3 >/dev/null || _zsner_env_fail "no python3 on PATH (Python >= 3.10 is needed)"
    echo "[run.sh] created $venv, installing zsner${extras:+ [$extras]} (first run: ~1 GB, a few minutes) ..." >&2
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      rm -rf "$venv"
      _zsner_env_fail "cannot create $venv: 'python3 -m venv' failed; on Debian/Ubuntu install the venv module" \
        "with: apt-get install python3-venv (or activate a virtual environment of your own and rerun)"
    fi
  fi
  export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
  unset PYTHONHOME CONDA_PREFIX
  local setup_hash installed_hash="" installed_extras=""
  setup_hash=$(sha256sum setup.py | cut -d' ' -f1)
  if [ -f "$stamp" ]; then
    installed_hash=$(sed -n 's/^setup //p' "$stamp")
    installed_extras=$(sed -n 's/^extras //p' "$stamp")
  fi
  local wanted
  wanted=$(_zsner_union "$installed_extras" "$extras")
  if [ "$installed_hash" != "$setup_hash" ] || [ "$wanted" != "$installed_extras" ]; then
    [ -z "$installed_hash" ] || echo "[run.sh] setup.py or the extras changed: reinstalling zsner${wanted:+ [$wanted]} into $venv ..." >&2
    _zsner_install "$wanted"
    printf 'setup %s\nextras %s\n' "$setup_hash" "$wanted" >"$stamp"
  fi
}
