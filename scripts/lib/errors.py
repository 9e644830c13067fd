"""Errors the user can act on: the command line prints them as one line and exits 1.

The library says what is wrong in its own terms; where the way out is an option of the command
line, it names it by a ``remedy`` key, and the command layer words it (``scripts.commands.options
.REMEDIES``), so that no module of the library knows a flag.
"""


class CommandError(Exception):
    """``message``; ``remedy``, a key the command line words; ``detail``, said after it."""

    def __init__(self, message: str, remedy: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.remedy = remedy
        self.detail = detail
