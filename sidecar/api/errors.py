"""Typed API errors, each carrying its status, and the one handler that renders them as JSON."""

from __future__ import annotations

import logging

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from core.http import error_code, error_headers

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(ApiError):
    status = 400
    code = "invalid_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(ApiError):
    status = 503
    code = "unavailable"


class PartlyWritten(ServiceUnavailable):
    """Redis Cluster only: some of the request's events are on the log, the others are not
    (one partition's transaction failed). Sending the whole request again is safe."""

    code = "partly_written"

    def __init__(self, written: list[str], not_written: list[str]):
        super().__init__(
            f"{len(not_written)} of {len(written) + len(not_written)} events were not written; "
            "send the request again with the same ids (each id is applied once)"
        )
        self.details = {"written": written, "not_written": not_written}


RETRY_AFTER_S = 2  # what a 503 asks a client to wait (Redis failing over or restarting)


def _body(code: str, message: str, field: str | None = None, details: dict | None = None) -> dict:
    error = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error | (details or {})}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        response = jsonify(_body(exc.code, exc.message, exc.field, getattr(exc, "details", None)))
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="skillgap"'
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, ServiceUnavailable):
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response, exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = jsonify(_body(error_code(exc), exc.description or exc.name))
        response.headers.update(error_headers(exc))
        return response, exc.code

    @app.errorhandler(redis.RedisError)
    def redis_error(exc: redis.RedisError):
        log.error("redis error: %s", exc)
        return api_error(ServiceUnavailable("the event store is unavailable; retry shortly"))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return jsonify(_body("internal_error", "internal error; it has been logged")), 500
