"""The xAPI statement endpoint for Moodle's logstore_xapi and Open edX's event-routing-backends.

`POST /xapi/statements` (one statement or an array) answers 200 with the ids, as Moodle's sender
requires; `PUT /xapi/statements?statementId=` answers 204; `GET /xapi/about` needs no
credentials; `GET /xapi/status` shows the tenant's intake to an admin. Every request but
`about` needs HTTP Basic auth with credentials from `skillgap xapi-credentials create`.

A body is JSON (`application/json`) or statements with their attachments' content
(`multipart/mixed`, lti_tool/xapi/attachments.py); it is read up to the size limit whether or
not it is chunked. Every answer under /xapi, errors included, is JSON.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time

import orjson
import redis
from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from core.http import MAX_JSON_DEPTH, error_code, error_headers, too_deep
from core.ratelimit import FailureLimit, TooManyFailures
from lti_tool.xapi.attachments import (
    MultipartError,
    check_signatures,
    match_parts,
    split_multipart,
)
from lti_tool.xapi.credentials import Credential, CredentialCache
from lti_tool.xapi.errors import (
    RETRY_AFTER_S,
    BadRequest,
    Conflict,
    InvalidStatement,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    XapiError,
)
from lti_tool.xapi.intake import Intake, StatementConflict
from lti_tool.xapi.report import intake_report
from lti_tool.xapi.statements import (
    VERSION,
    VERSION_PATTERN,
    Statement,
    StatementError,
    parse_statement,
)

log = logging.getLogger(__name__)
JSON_TYPES = ("application/json",)
MULTIPART = "multipart/mixed"
HEADERS = {"X-Experience-API-Version": VERSION}

blueprint = Blueprint("xapi", __name__, url_prefix="/xapi")


def _json(body: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status,
        headers={**HEADERS, **(headers or {})},
        mimetype="application/json",
    )


@blueprint.record_once
def _build(state) -> None:
    """One Intake and credential cache per app (per gunicorn worker); HTTP errors under /xapi
    (an unknown path or method, a body too large, a crash) answered in JSON."""
    app = state.app
    services = app.extensions["skillgap"]
    app.extensions["xapi"] = (
        Intake(services),
        CredentialCache(services.redis, services.keys, services.settings.xapi_credentials_cache_s),
    )
    other = app.error_handler_spec[None][None].get(HTTPException)

    def http_error(exc: HTTPException):
        if request.path.startswith(blueprint.url_prefix + "/") or other is None:
            body = {"error": {"code": error_code(exc), "message": exc.description or exc.name}}
            return _json(body, exc.code or 500, error_headers(exc))
        return other(exc)

    app.register_error_handler(HTTPException, http_error)


@blueprint.errorhandler(XapiError)
def _xapi_error(exc: XapiError):
    headers = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="skillgap-xapi"'
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return _json(exc.body(), exc.status, headers)


@blueprint.errorhandler(redis.RedisError)
def _redis_error(exc: redis.RedisError):
    log.error("redis error during xAPI intake: %s", exc)
    return _xapi_error(Unavailable("the event store is unavailable; the LMS will retry"))


def _credential() -> Credential:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if not header:
        raise Unauthorized("missing Authorization: Basic <key:secret> header")
    if scheme.lower() != "basic":
        raise Unauthorized("the Authorization header must be 'Basic <base64 of key:secret>'")
    try:
        key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):  # not ASCII, or (UnicodeDecodeError) not UTF-8
        raise Unauthorized("the Basic credentials are not valid base64 of key:secret") from None
    if not sep or not key or not secret:
        raise Unauthorized("the Basic credentials must be key:secret")
    credential = current_app.extensions["xapi"][1].check(key, secret)
    if credential is None:
        # Wrong secrets count against the sender's address and the key; a right one is taken
        # whatever the count (others behind the same address cannot lock the LMS out).
        try:
            FailureLimit.of(current_app.extensions["skillgap"], "xapi").refuse(request.remote_addr, key)
        except TooManyFailures as exc:
            raise TooManyRequests(str(exc), retry_after_s=exc.retry_after_s) from None
        raise Unauthorized("unknown xAPI key or wrong secret")
    return credential


@blueprint.before_request
def _check_request() -> None:
    # Statement batches are larger than the tool's forms (the app's MAX_CONTENT_LENGTH); `_body`
    # reads one byte past the limit to tell a chunked body over it.
    request.max_content_length = current_app.extensions["skillgap"].settings.xapi_max_body_bytes + 1
    if request.endpoint == "xapi.about":
        return
    if request.endpoint != "xapi.status":  # the admin's report is no xAPI resource
        version = request.headers.get("X-Experience-API-Version")
        if version is None:
            raise BadRequest("the X-Experience-API-Version header is required (1.0.x)", rule="version_header")
        if not VERSION_PATTERN.fullmatch(version.strip()):
            raise BadRequest(
                f"X-Experience-API-Version {version!r} is not supported; send 1.0.x",
                rule="version_header",
            )
    g.credential = _credential()


def _statements(body: object, single: bool) -> list:
    if single:
        if not isinstance(body, dict):
            raise BadRequest("PUT takes one statement (a JSON object)", rule="statement")
        return [body]
    batch = body if isinstance(body, list) else [body]
    if not batch:
        raise BadRequest("the array holds no statement", rule="statement")
    limit = current_app.extensions["skillgap"].settings.xapi_max_statements
    if len(batch) > limit:
        raise PayloadTooLarge(f"at most {limit} statements per request (got {len(batch)})")
    return batch


def _parse_batch(items: list, tenant: str, now: float, statement_id: str | None):
    """Every statement validated; returns (distinct statements, their index in the request,
    the id of each item sent, each distinct statement as sent). The same id-less statement
    twice (two views in one second) has one id and one effect; an id given twice is refused."""
    statements: list[Statement] = []
    positions: list[int] = []
    ids: list[str] = []
    sent: list[dict] = []
    seen: set[str] = set()
    for index, data in enumerate(items):
        if statement_id is not None and isinstance(data, dict) and "id" not in data:
            data = {**data, "id": statement_id}
        try:
            statement = parse_statement(data, tenant, now)
        except StatementError as exc:
            raise InvalidStatement(exc.message, rule=exc.rule, field=exc.field, statement=index) from None
        if statement_id is not None and statement.id != statement_id:
            raise BadRequest("the statement's id differs from statementId", rule="statement_id")
        ids.append(statement.id)
        if statement.id in seen:
            if "id" not in data:
                continue
            raise InvalidStatement(
                f"the batch holds id {statement.id} more than once",
                rule="duplicate_id",
                field="id",
                statement=index,
            )
        seen.add(statement.id)
        statements.append(statement)
        positions.append(index)
        sent.append(data)
    return statements, positions, ids, sent


def _body() -> bytes:
    """The request body, at most SKILLGAP_XAPI_MAX_BODY_BYTES, with a Content-Length or chunked."""
    limit = current_app.extensions["skillgap"].settings.xapi_max_body_bytes
    too_large = PayloadTooLarge(f"the body is larger than {limit} bytes")
    if (request.content_length or 0) > limit:
        raise too_large
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def _json_statements(data: bytes) -> object:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", rule="json") from None
    if too_deep(body):
        raise BadRequest(f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels", rule="json")
    return body


def _take(single: bool, statement_id: str | None = None) -> list[str]:
    """Validate the whole batch first (one bad statement refuses it all), then write it."""
    mimetype = request.mimetype
    if mimetype not in JSON_TYPES and mimetype != MULTIPART:
        raise BadRequest(
            "the Content-Type must be application/json, or multipart/mixed with attachments",
            rule="content_type",
        )
    body = _body()
    parts = None
    if mimetype == MULTIPART:
        try:
            body, parts = split_multipart(request.content_type, body)
        except MultipartError as exc:
            raise BadRequest(str(exc), rule=exc.rule) from None
    credential: Credential = g.credential
    now = time.time()
    statements, positions, ids, sent = _parse_batch(
        _statements(_json_statements(body), single), credential.tenant, now, statement_id
    )
    attachments = [a for statement in statements for a in statement.attachments]
    if attachments or parts:
        try:
            match_parts(attachments, parts or {})
            check_signatures(sent, parts or {})
        except MultipartError as exc:
            raise BadRequest(str(exc), rule=exc.rule) from None
    forward = None
    if current_app.extensions["skillgap"].settings.xapi_forward_url:
        forward = {
            statement.id: orjson.dumps(data if "id" in data else {**data, "id": statement.id})
            for statement, data in zip(statements, sent)
        }
    try:
        current_app.extensions["xapi"][0].take(credential, statements, now, forward)
    except StatementConflict as exc:
        taken = [statements[i].id for i in exc.indexes]
        raise Conflict(
            f"statement id {taken[0]} is already stored with different content",
            statements=[positions[i] for i in exc.indexes],
            ids=taken,
        ) from None
    return ids


def _only_parameters(*known: str) -> None:
    """xAPI 1.0.3, part 3, 3.2: a parameter the resource does not know, or a known one in
    another case, is a 400."""
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        raise BadRequest(
            f"unknown parameter {unknown[0]!r}" + (f" (takes {', '.join(known)})" if known else " (takes none)"),
            rule="parameter",
        )


@blueprint.post("/statements")
def post_statements():
    _only_parameters()
    return _json(_take(single=False))


@blueprint.put("/statements")
def put_statement():
    _only_parameters("statementId")
    statement_id = request.args.get("statementId")
    if not statement_id:
        raise BadRequest("PUT needs the statementId parameter", rule="statement_id")
    _take(single=True, statement_id=statement_id.lower())
    return Response(status=204, headers=HEADERS)


@blueprint.get("/about")
def about():
    return _json({"version": [VERSION]})


@blueprint.get("/status")
def status():
    """The admin's view of this tenant's intake: counts, last events, unmapped activities."""
    services = current_app.extensions["skillgap"]
    return _json(intake_report(services, g.credential.tenant))
