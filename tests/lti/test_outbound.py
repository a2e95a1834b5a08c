"""The tool's one outbound HTTP client against real servers on loopback that misbehave: dripping
a byte at a time, answering too much, redirecting elsewhere, failing with a body to quote."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from raw_server import RawServer

from lti_tool.outbound import Outbound, OutboundFailed, OutboundRefused, _connect, _is_public, origin_of, wire_host


@pytest.fixture
def serve():
    servers: list[RawServer] = []

    def start(handler):
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def answer(body: bytes, status: str = "200 OK", headers: str = "") -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{headers}\r\n"
        conn.sendall(head.encode() + body)

    return handler


def client(**overrides) -> Outbound:
    options = dict(deadline_s=1.0, max_bytes=100_000, allow_private=True, http_hosts=["127.0.0.1"])
    return Outbound(**{**options, **overrides})


def drip(text: bytes, every_s: float) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        for i in range(len(text)):
            conn.sendall(text[i : i + 1])
            time.sleep(every_s)

    return handler


def test_a_plain_answer_comes_back(serve):
    server = serve(answer(b'{"keys": []}', headers="Content-Type: application/json\r\n"))
    reply = client().request("GET", server.url + "/jwks")
    assert reply.status == 200 and reply.json() == {"keys": []}


def test_a_body_dripped_a_byte_at_a_time_is_cut_at_the_total_deadline(serve):
    server = serve(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b"x" * 500, every_s=0.05))
    started = time.monotonic()
    with pytest.raises(OutboundFailed, match="within 1 s"):
        client().request("GET", server.url)
    # Each byte came well within any per-read timeout; only the total deadline stops it.
    assert time.monotonic() - started < 2.0


def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_total_deadline(serve):
    server = serve(drip(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 500 + b"\r\n\r\n", every_s=0.05))
    started = time.monotonic()
    with pytest.raises(OutboundFailed):
        client().request("GET", server.url)
    assert time.monotonic() - started < 2.0


def test_a_declared_huge_answer_is_refused_before_its_body(serve):
    def huge(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        conn.sendall(b"x" * 10_000)

    with pytest.raises(OutboundFailed, match="larger than 100000 bytes"):
        client().request("GET", serve(huge).url)


def test_an_undeclared_huge_answer_is_cut_at_the_cap(serve):
    sent = []

    def endless(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(2_000):  # up to 20 MB, unless the client hangs up
            conn.sendall(b"x" * 10_000)
            sent.append(1)

    with pytest.raises(OutboundFailed, match="larger than"):
        client().request("GET", serve(endless).url)
    time.sleep(0.2)
    assert len(sent) < 2_000


def test_a_redirect_to_another_origin_is_not_followed(serve):
    inside = serve(answer(b"internal"))
    outside = serve(answer(b"", status="302 Found", headers=f"Location: {inside.url}/v1/learners\r\n"))
    with pytest.raises(OutboundRefused, match="another origin"):
        client().request("GET", outside.url + "/memberships")
    assert inside.connections == 0


def test_a_redirect_within_the_origin_is_followed(serve):
    hops = []

    def handler(conn):
        hops.append(1)
        if len(hops) == 1:
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /moved\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            answer(b'{"ok": true}')(conn)

    assert client().request("GET", serve(handler).url + "/first").json() == {"ok": True}
    assert len(hops) == 2


def test_loopback_is_refused_without_allow_private_network(serve):
    server = serve(answer(b"{}"))
    with pytest.raises(OutboundRefused, match="SKILLGAP_ALLOW_PRIVATE_NETWORK"):
        client(allow_private=False).request("GET", server.url)
    with pytest.raises(OutboundRefused):
        client(allow_private=False, http_hosts=["localhost"]).request("GET", f"http://localhost:{server.port}/")
    assert server.connections == 0


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
    ],
)
def test_addresses_that_are_not_public(address):
    assert not _is_public(address)


def test_public_addresses():
    assert _is_public("93.184.216.34") and _is_public("2606:4700::1111")


def test_plain_http_only_to_allowed_hosts(serve):
    server = serve(answer(b"{}"))
    with pytest.raises(OutboundRefused, match="https only"):
        client(http_hosts=[]).request("GET", server.url)
    assert server.connections == 0
    assert client(http_hosts=["*"]).request("GET", server.url).status == 200


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://x/",
        "http://",
        "not a url",
        "http://user:pw@127.0.0.1/",
    ],
)
def test_urls_that_are_not_requested(url):
    with pytest.raises(OutboundRefused):
        client().request("GET", url)


@pytest.mark.parametrize(
    "url",
    [
        "https://a..b.example.com/x",
        "https://.example.com/x",
        "https://" + "a" * 70 + ".example.com/x",
        "https://" + "a." * 130 + "example.com/x",  # over 253 characters
        "https://exa\u00admple.com/x",  # a soft hyphen, which IDNA drops: not the name given
        "https://stra\u00dfe.example/x",  # IDNA 2003 writes it as another name (strasse)
        "https://exa mple.com/x",
        "https://exa%41mple.com/x",
    ],
    ids=["empty_label", "leading_dot", "label_of_70", "name_of_261", "soft_hyphen", "sharp_s", "space", "percent"],
)
def test_malformed_host_names_are_refused_before_resolving(url, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("a malformed host was resolved"))
    with pytest.raises(OutboundRefused, match="not a valid host name"):
        client().request("GET", url)


def test_host_names_go_out_idna_encoded():
    assert wire_host("bücher.example") == "xn--bcher-kva.example"
    assert wire_host("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert wire_host("lms.example.com.") == "lms.example.com."
    assert wire_host("::1") == "::1" and wire_host("127.0.0.1") == "127.0.0.1"


def test_a_host_the_resolver_cannot_encode_is_a_failed_request():
    """The last guard if a name ever passed the check: the resolver's UnicodeError is an
    OutboundFailed, not an exception out of the request."""
    with pytest.raises(OutboundFailed, match="unknown"):
        _connect("a..b.example.com", 443, 1.0, True)


def test_a_url_off_the_platform_origins_is_refused(serve):
    server = serve(answer(b"{}"))
    other = serve(answer(b"{}"))
    with pytest.raises(OutboundRefused, match="registered origin"):
        client().request("GET", other.url, origins={origin_of(server.url)})
    assert other.connections == 0
    assert client().request("GET", server.url + "/x", origins={origin_of(server.url)}).status == 200


def test_an_error_answer_is_not_quoted(serve):
    server = serve(answer(b"SECRET-REMOTE-BODY", status="500 Internal Server Error"))
    with pytest.raises(OutboundFailed) as failed:
        client().request("GET", server.url)
    assert failed.value.status == 500 and "SECRET-REMOTE-BODY" not in str(failed.value)


def test_origins_compare_scheme_host_and_port():
    assert origin_of("https://lms.example.com/x") == origin_of("https://LMS.example.com:443/y")
    assert origin_of("https://lms.example.com") != origin_of("http://lms.example.com")
    assert origin_of("https://lms.example.com") != origin_of("https://lms.example.com:8443")
    assert origin_of("javascript:alert(1)") is None
