"""Optional dependencies: setup.py's extras, checked at a command's edge (``require``) so that a command that needs
one that is not installed stops in one line naming it, before it reads, loads or writes anything.

The modules of each extra are the ones scripts/env.sh checks before it installs the extra.
"""
from __future__ import annotations

import importlib.util

from .errors import ZsnerError

EXTRAS = {"transformer": ("transformers",), "distributed": ("ray",), "serve": ("fastapi", "uvicorn")}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found, without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module entry without a spec
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that are not installed."""
    return [module for module in EXTRAS[extra] if not installed(module)]


def require(extra: str, why: str) -> None:
    """``why`` (a flag or a command, e.g. ``"--vectors encoder"``) needs ``extra``: a ``ZsnerError`` unless every
    module of it is installed."""
    if missing(extra):
        raise ZsnerError(f"{why} needs the '{extra}' extra: pip install -e \".[{extra}]\" "
                         "(or bash run.sh ..., which installs it)")
