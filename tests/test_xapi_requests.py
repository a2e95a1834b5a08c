"""xAPI request rules (part 3 of 1.0.3): Content-Type, the version header, statementId on
PUT, one size limit for bodies with a length or chunked, attachments as multipart/mixed parts
matched by SHA-2, and a JSON body on every status under /xapi."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid

import orjson
import pytest

from core.services import build_services
from lms_helpers import events_on_stream, xapi_headers
from lti_tool import create_app
from xapi_shapes import MOODLE, moodle_module_viewed, moodle_quiz_submitted

CONTENT = b"here is a simple attachment"
SHA2 = hashlib.sha256(CONTENT).hexdigest()
ATTACHMENT = {
    "usageType": "http://example.com/attachment-usage/test",
    "display": {"en-US": "A test attachment"},
    "contentType": "text/plain; charset=ascii",
    "length": len(CONTENT),
    "sha2": SHA2,
}


@pytest.fixture
def headers(services):
    return xapi_headers(services, "moodle", MOODLE)


@pytest.fixture
def client(services):
    return create_app(services=services).test_client()


def _post(client, headers, body: bytes, content_type: str | None, **more):
    sent = {**headers, **more}
    if content_type is not None:
        sent["Content-Type"] = content_type
    return client.post("/xapi/statements", data=body, headers=sent)


def _multipart(statements, parts, boundary="abcABC0123'()+_,-./:=?", first_type="application/json"):
    lines = [f"--{boundary}".encode(), f"Content-Type: {first_type}".encode(), b"", orjson.dumps(statements)]
    for part_headers, content in parts:
        lines.append(f"--{boundary}".encode())
        lines.extend(f"{name}: {value}".encode() for name, value in part_headers.items())
        lines.extend([b"", content])
    lines.append(f"--{boundary}--".encode())
    return b"\r\n".join(lines), f'multipart/mixed; boundary="{boundary}"'


def _part(content=CONTENT, sha2=SHA2, **changes):
    headers = {"Content-Type": "text/plain", "Content-Transfer-Encoding": "binary", "X-Experience-API-Hash": sha2}
    headers.update(changes)
    return {k: v for k, v in headers.items() if v is not None}, content


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x"],
    ids=["none", "text", "form", "xml", "form-data"],
)
def test_a_body_that_is_not_json_or_multipart_mixed_is_refused(client, headers, services, content_type):
    response = _post(client, headers, orjson.dumps(moodle_module_viewed()), content_type)
    assert response.status_code == 400 and response.json["error"]["rule"] == "content_type"
    assert events_on_stream(services) == []


def test_json_with_a_charset_is_json(client, headers):
    body = orjson.dumps(moodle_module_viewed())
    assert _post(client, headers, body, "application/json; charset=utf-8").status_code == 200


def test_statements_with_their_attachments_as_parts_are_accepted(client, headers, services):
    statement = moodle_quiz_submitted(attachments=[ATTACHMENT])
    body, content_type = _multipart([statement], [_part()])
    response = _post(client, headers, body, content_type)
    assert response.status_code == 200, response.json
    assert len(events_on_stream(services)) == 1


def test_an_attachment_with_a_file_url_needs_no_part(client, headers):
    statement = moodle_quiz_submitted(attachments=[{**ATTACHMENT, "fileUrl": "https://files.example.com/a.txt"}])
    assert _post(client, headers, orjson.dumps(statement), "application/json").status_code == 200


def test_a_part_that_does_not_say_its_encoding_is_taken_as_binary(client, headers):
    # xAPI 1.0.3, part 3, 1.5.2: the LRS should assume binary
    body, content_type = _multipart(
        [moodle_quiz_submitted(attachments=[ATTACHMENT])], [_part(**{"Content-Transfer-Encoding": None})]
    )
    assert _post(client, headers, body, content_type).status_code == 200


def test_a_put_takes_one_statement_with_its_attachment(client, headers):
    statement_id = str(uuid.uuid4())
    body, content_type = _multipart(moodle_quiz_submitted(attachments=[ATTACHMENT]), [_part()])
    response = client.put(
        f"/xapi/statements?statementId={statement_id}", data=body, headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == 204


@pytest.mark.parametrize(
    ("statements", "parts", "rule"),
    [
        ([moodle_quiz_submitted(attachments=[ATTACHMENT])], [], "attachment_part"),
        ([moodle_quiz_submitted()], [_part()], "attachment_part"),
        ([moodle_quiz_submitted(attachments=[ATTACHMENT])], [_part(content=b"other content")], "attachment_part"),
        (
            [moodle_quiz_submitted(attachments=[ATTACHMENT])],
            [_part(**{"X-Experience-API-Hash": None})],
            "attachment_part",
        ),
        (
            [moodle_quiz_submitted(attachments=[ATTACHMENT])],
            [_part(**{"Content-Transfer-Encoding": "base64"})],
            "attachment_part",
        ),
    ],
    ids=["no-part", "part-without-attachment", "content-not-its-hash", "no-hash-header", "base64"],
)
def test_parts_that_do_not_match_the_attachments_are_refused(client, headers, services, statements, parts, rule):
    body, content_type = _multipart(statements, parts)
    response = _post(client, headers, body, content_type)
    assert response.status_code == 400 and response.json["error"]["rule"] == rule, response.json
    assert events_on_stream(services) == []


def test_json_statements_whose_attachments_have_no_file_url_are_refused(client, headers):
    response = _post(client, headers, orjson.dumps(moodle_quiz_submitted(attachments=[ATTACHMENT])), "application/json")
    assert response.status_code == 400 and response.json["error"]["rule"] == "attachment_part"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            _multipart([moodle_module_viewed()], [], first_type="text/plain")[0],
            'multipart/mixed; boundary="abcABC0123\'()+_,-./:=?"',
        ),
        (b"--x\r\nContent-Type: application/json\r\n\r\n[]", "multipart/mixed; boundary=x"),
        (_multipart([moodle_module_viewed()], [])[0], "multipart/mixed"),
        (b"no parts at all", "multipart/mixed; boundary=x"),
    ],
    ids=["first-part-not-json", "no-closing-boundary", "no-boundary", "no-parts"],
)
def test_malformed_multipart_bodies_are_refused(client, headers, body, content_type):
    response = _post(client, headers, body, content_type)
    assert response.status_code == 400 and response.json["error"]["rule"] == "multipart"


def _limited(services, limit):
    return create_app(
        services=build_services(services.settings.replace(xapi_max_body_bytes=limit), services.redis)
    ).test_client()


def test_a_body_over_the_limit_is_413_with_or_without_a_length(services, headers):
    body = orjson.dumps([moodle_module_viewed(user_id=str(i)) for i in range(20)])
    client = _limited(services, len(body) - 1)
    assert _post(client, headers, body, "application/json").status_code == 413
    chunked = client.post(
        "/xapi/statements",
        input_stream=io.BytesIO(body),
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert chunked.status_code == 413 and chunked.json["error"]["code"] == "too_large"
    assert _post(_limited(services, len(body)), headers, body, "application/json").status_code == 200


def test_a_chunked_body_within_the_limit_is_taken(client, headers, services):
    body = orjson.dumps([moodle_module_viewed(user_id=str(i)) for i in range(3)])
    response = client.post(
        "/xapi/statements",
        input_stream=io.BytesIO(body),
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 200 and len(response.json) == 3


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("get", "/xapi/nothing-here", 404), ("delete", "/xapi/statements", 405), ("patch", "/xapi/about", 405)],
)
def test_every_status_under_xapi_has_a_json_body(client, headers, method, path, status):
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/json" and response.json["error"]["code"]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"


def test_pages_outside_xapi_keep_their_html_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


@pytest.mark.parametrize("version", [None, "0.95", "1.1.0", "2.0.0", "1.0.3x"])
def test_the_version_header_is_required_as_1_0_x(client, headers, version):
    sent = {k: v for k, v in headers.items() if k != "X-Experience-API-Version"}
    if version is not None:
        sent["X-Experience-API-Version"] = version
    response = _post(client, sent, orjson.dumps(moodle_module_viewed()), "application/json")
    assert response.status_code == 400 and response.json["error"]["rule"] == "version_header"


@pytest.mark.parametrize("query", ["", "?statementId=", "?statementId=not-a-uuid"])
def test_put_needs_a_statement_id_that_is_a_uuid(client, headers, query):
    response = client.put(f"/xapi/statements{query}", json=moodle_module_viewed(), headers=headers)
    assert response.status_code == 400 and response.json["error"]["rule"] in ("statement_id", "uuid")


# --- signed statements (part 2, 2.6) ----------------------------------------------------------

SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"


@pytest.fixture(scope="module")
def signer():
    """An RSA key and a self-signed certificate for it (the x5c of a signature)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skillgap test signer")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    x5c = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    return key, x5c


def _signed(statement: dict, token: bytes, content_type="application/octet-stream"):
    attachment = {
        "usageType": SIGNATURE,
        "display": {"en-US": "Signature"},
        "contentType": content_type,
        "length": len(token),
        "sha2": hashlib.sha256(token).hexdigest(),
    }
    return _multipart([{**statement, "attachments": [attachment]}], [_part(token, attachment["sha2"])])


def _jws(payload: dict, signer, algorithm="RS256", x5c=True) -> bytes:
    import jwt

    key, certificate = signer
    headers = {"x5c": [certificate]} if x5c else None
    return jwt.api_jws.encode(orjson.dumps(payload), key, algorithm=algorithm, headers=headers).encode()


def test_a_signed_statement_is_accepted(client, headers, signer):
    statement = moodle_quiz_submitted()
    for x5c in (True, False):
        body, content_type = _signed(statement, _jws(statement, signer, x5c=x5c))
        response = _post(client, headers, body, content_type)
        assert response.status_code == 200, response.json


def _forged(statement, signer):
    import jwt

    token = _jws(statement, signer)
    head, payload, signature = token.split(b".")
    other = base64.urlsafe_b64encode(
        orjson.dumps({**statement, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}})
    ).rstrip(b"=")
    assert jwt.get_unverified_header(token)["x5c"]
    return b".".join([head, other, signature])


@pytest.mark.parametrize(
    "make",
    [
        lambda s, signer: _signed(s, _jws({**s, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}, signer)),
        lambda s, signer: _signed(s, _forged(s, signer)),
        lambda s, signer: _signed(s, b"not a JWS"),
        lambda s, signer: _signed(s, _jws(s, (b"a shared secret of at least 32 bytes", None), "HS256", x5c=False)),
        lambda s, signer: _signed(s, _jws(s, signer), content_type="application/jose"),
    ],
    ids=["payload-differs", "signature-forged", "not-a-jws", "hmac", "content-type"],
)
def test_a_signature_that_does_not_sign_its_statement_is_refused(client, headers, services, signer, make):
    body, content_type = make(moodle_quiz_submitted(), signer)
    response = _post(client, headers, body, content_type)
    assert response.status_code == 400 and response.json["error"]["rule"] == "signature", response.json
    assert events_on_stream(services) == []
