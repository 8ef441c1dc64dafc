"""One exception type for user-facing errors: the CLI prints its message on one line and exits with code 2."""


class ZsnerError(Exception):
    """A problem with the user's input or resources (not a bug): reported as one line, exit code 2."""

    def __init__(self, message: str, path=None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line
