"""Statements with attachment content: `multipart/mixed` requests (xAPI 1.0.3, part 3, 1.5.2).

The first part holds the statements as JSON; every other part is one attachment's content,
sent `Content-Transfer-Encoding: binary` and named by its SHA-2 in `X-Experience-API-Hash`.
Each attachment without a fileUrl needs a part with its hash, each part an attachment with
its hash, and each part's content must have that hash. A signature attachment (part 2, 2.6)
holds a JWS (RS256/384/512) whose payload is the statement it signs, checked against its
`x5c` certificate when it has one. The tool keeps no file: a part is checked and dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import NamedTuple

import jwt
import orjson
from cryptography import x509

from lti_tool.xapi.matching import comparable

# RFC 2046 5.1.1: the boundary parameter, quoted or not.
BOUNDARY = re.compile(r';\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))', re.IGNORECASE)
HASHES = {56: hashlib.sha224, 64: hashlib.sha256, 96: hashlib.sha384, 128: hashlib.sha512}
SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512")
# What a signature must agree on with the statement it comes with, compared as matching
# statements are (lti_tool/xapi/matching.py); the LRS may set or change the rest (id,
# authority, stored, version, timestamp) and the signature is an attachment.
SIGNED = ("actor", "verb", "object", "result", "context")


class MultipartError(ValueError):
    """A multipart request the spec refuses; `rule` names why."""

    def __init__(self, rule: str, message: str):
        self.rule = rule
        super().__init__(message)


class Multipart(NamedTuple):
    statements: bytes  # the first part's content: JSON
    parts: dict[str, bytes]  # each other part's content by its sha2 (lowercase)


def _fail(rule: str, message: str):
    raise MultipartError(rule, message)


def _headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            _fail("multipart", "a part header line has no ':'")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers


def split_multipart(content_type: str, body: bytes) -> Multipart:
    """The statements part and the hashes of the other parts, each part checked."""
    found = BOUNDARY.search(content_type)
    if found is None:
        _fail("multipart", "a multipart/mixed request needs a boundary parameter")
    delimiter = b"--" + (found.group(1) or found.group(2)).encode("latin-1")
    pieces = (b"\r\n" + body).split(b"\r\n" + delimiter)
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        _fail("multipart", "the body is not multipart/mixed with this boundary and a closing one")
    statements = None
    parts: dict[str, bytes] = {}
    for index, piece in enumerate(pieces[1:-1]):
        head, sep, content = piece.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"\r\n"):
            _fail("multipart", f"part {index} has no headers followed by a blank line")
        headers = _headers(head[2:]) if head[2:] else {}
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if index == 0:
            if kind != "application/json":
                _fail("multipart", "the first part must be the statements, application/json")
            statements = content
            continue
        # Binary when not said (part 3, 1.5.2: the LRS should assume it); no other encoding.
        if headers.get("content-transfer-encoding", "binary").lower() != "binary":
            _fail("attachment_part", f"part {index} must be Content-Transfer-Encoding: binary")
        sha2 = headers.get("x-experience-api-hash", "").lower()
        hashing = HASHES.get(len(sha2))
        if hashing is None:
            _fail("attachment_part", f"part {index} needs X-Experience-API-Hash: its SHA-2")
        if hashing(content).hexdigest() != sha2:
            _fail("attachment_part", f"part {index}'s content does not have the SHA-2 it names")
        parts[sha2] = content
    return Multipart(statements, parts)


def match_parts(attachments: list[tuple[str, bool]], parts: dict[str, bytes]) -> None:
    """Every attachment without a fileUrl has its part, and every part its attachment
    (`attachments`: each one's sha2 and whether it needs a part)."""
    missing = next((sha2 for sha2, needs in attachments if needs and sha2 not in parts), None)
    if missing is not None:
        _fail("attachment_part", f"no part has the content of attachment sha2 {missing}")
    named = {sha2 for sha2, _ in attachments}
    unused = next((sha2 for sha2 in parts if sha2 not in named), None)
    if unused is not None:
        _fail("attachment_part", f"part with sha2 {unused} matches no attachment")


def check_signatures(statements: list[dict], parts: dict[str, bytes]) -> None:
    """Each signature attachment's JWS, in its part, signs what its statement says."""
    for data in statements:
        for attachment in data.get("attachments", ()):
            if attachment["usageType"] == SIGNATURE:
                _check_signature(data, attachment, parts.get(attachment["sha2"].lower()))


def signed_part(statement: dict) -> object:
    return comparable({k: statement[k] for k in SIGNED if k in statement})


def _check_signature(data: dict, attachment: dict, token: bytes | None) -> None:
    if attachment["contentType"] != "application/octet-stream":
        _fail("signature", "a signature attachment's contentType is application/octet-stream")
    if token is None:
        _fail("signature", "a signature attachment needs its JWS as a part")
    try:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            _fail("signature", f"a signature uses RS256, RS384 or RS512, not {algorithm!r}")
        key = None
        if "x5c" in header:
            certificate = base64.b64decode(header["x5c"][0], validate=True)
            key = x509.load_der_x509_certificate(certificate).public_key()
        signed = jwt.api_jws.decode_complete(
            token, key, algorithms=[algorithm], options={"verify_signature": key is not None}
        )
        payload = orjson.loads(signed["payload"])
    except (
        jwt.InvalidTokenError,
        orjson.JSONDecodeError,
        binascii.Error,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
    ) as exc:
        raise MultipartError("signature", f"the signature is not a valid JWS: {exc}") from None
    if payload.__class__ is not dict or signed_part(payload) != signed_part(data):
        _fail("signature", "the signature's payload is not the statement it comes with")
