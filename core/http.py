"""HTTP details both web apps (the analyst API, the LTI tool with its xAPI endpoint) share: the
JSON nesting bound, what happens to a body left unread, how an HTTP error is named, and
trusting the reverse proxies in front."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

# Deeper JSON is refused with a 400 from parsing on: orjson parses up to 1,024 levels but
# serializes only 255 (a statement's content digest, a stored event), so the bound is below both.
MAX_JSON_DEPTH = 64
# A request answered before its body was read (a wrong token, a missing header): up to this
# much of the body is read and dropped, so the connection can serve the next request; a larger
# body closes the connection instead (gunicorn drains only 64 KiB and would close it after
# having answered keep-alive).
DRAIN_MAX_BYTES = 1 << 20


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests objects and arrays more than `limit` levels deep."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def error_code(exc: HTTPException) -> str:
    """An HTTP error's name as the code the error bodies carry ("Method Not Allowed" ->
    "method_not_allowed")."""
    return (exc.name or "error").lower().replace(" ", "_")


def error_headers(exc: HTTPException) -> dict[str, str]:
    """The headers an HTTP error brings (the Allow of a 405, for one), but its Content-Type."""
    return {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}


def finish_body(request, response):
    """after_request: read and drop what is left of the request's body when that is at most
    DRAIN_MAX_BYTES; past that, the server closes the connection after this response
    (`gunicorn.force_close`, set by skillgap/gunicorn_conf.py) and the response says so."""
    length = request.content_length
    if length == 0 or (length is None and request.environ.get("HTTP_TRANSFER_ENCODING", "").lower() != "chunked"):
        return response
    drained = length is not None and length <= DRAIN_MAX_BYTES
    if drained or length is None:
        try:
            stream, left = request.stream, DRAIN_MAX_BYTES + 1
            while left > 0 and (chunk := stream.read(min(left, 65_536))):
                left -= len(chunk)
            drained = left > 0
        except (HTTPException, OSError, ValueError):
            drained = False
    if not drained:
        request.environ.get("gunicorn.force_close", lambda: None)()
        response.headers["Connection"] = "close"
    return response


def behind_proxies(app: Flask, proxies: int) -> None:
    """Trust the X-Forwarded-* headers of the `proxies` reverse proxies in front (0: none), so
    the client's address (failure limits), scheme and host are the ones the proxy saw."""
    if proxies > 0:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies, x_prefix=proxies
        )
