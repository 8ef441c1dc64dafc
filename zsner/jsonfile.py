"""Reading a JSON file a user or an earlier run gave: anything wrong is one ``ZsnerError`` naming the file (and the
line of a syntax error)."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import ZsnerError


def read_json(path, what: str, expect: type | None = dict):
    """The JSON value in ``path``; ``what`` names the file in errors ("run configuration"); ``expect``: the type the
    value must have (None: any)."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ZsnerError(f"cannot read the {what} ({type(err).__name__}: {err})", path) from None
    except json.JSONDecodeError as err:
        raise ZsnerError(f"the {what} is not valid JSON: {err.msg}", path, err.lineno) from None
    except (ValueError, RecursionError) as err:  # a number of over 4300 digits; nesting deeper than Python's stack
        raise ZsnerError(f"the {what} is not JSON that can be read ({type(err).__name__})", path) from None
    if expect is not None and not isinstance(value, expect):
        raise ZsnerError(f"the {what} does not hold a JSON {'object' if expect is dict else expect.__name__}", path)
    return value
