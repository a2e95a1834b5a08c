"""The base of every error a user can fix: the CLI prints its message, never a traceback."""


class UserError(Exception):
    """Bad input, configuration or environment, explained in the message."""
