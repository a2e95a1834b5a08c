"""Typed errors of the xAPI endpoint, each carrying its status; the blueprint renders them."""

from __future__ import annotations


class XapiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, **details: object):
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class BadRequest(XapiError):
    status = 400
    code = "bad_request"


class InvalidStatement(XapiError):
    """Names the xAPI rule, the field and the statement's index in the batch."""

    status = 400
    code = "invalid_statement"


class Unauthorized(XapiError):
    status = 401
    code = "unauthorized"


class Conflict(XapiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(XapiError):
    status = 413
    code = "too_large"


class TooManyRequests(XapiError):
    """Too many failed authentications from this address or with this key (Retry-After)."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message, retry_after=retry_after_s)
        self.retry_after_s = retry_after_s


class Unavailable(XapiError):
    status = 503
    code = "unavailable"


RETRY_AFTER_S = 2  # what a 503 asks the LMS to wait
