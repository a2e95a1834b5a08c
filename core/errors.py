"""The base of every error a user can fix: the CLI prints its message, never a traceback."""


class UserError(Exception):
    """Bad input, configuration or environment, explained in the message."""


class FieldError(ValueError):
    """Bad input in one named field: `field` names it, `message` says what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message
