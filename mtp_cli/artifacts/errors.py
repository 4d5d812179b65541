"""The one exception type for problems a user can cause and fix."""

from __future__ import annotations


class MtpError(Exception):
    """A user-facing error: one line naming the problem, and a hint naming the fix.

    The CLI prints it without a traceback and exits with code 2.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self):  # keep the hint when raised in a worker process
        return (type(self), (self.message, self.hint))

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"
