"""The one HTTP client for every request the tool sends (a platform's OpenID configuration and
registration endpoint, its key set, token endpoint, NRPS and AGS services).

The URLs come from platforms, so each request is held to a policy: http(s) only, plain http
only to hosts the operator allows, no credentials in the URL, no address that is loopback,
private, link-local or otherwise not global unless the operator allows private networks (the
check is made on the address actually connected to, so DNS cannot swap it afterwards),
redirects only within the same origin, an answer of at most `max_bytes`, and one deadline for
the whole exchange, redirects included (a server sending a byte at a time cannot hold a
request longer). Failures never carry what the remote sent: error pages must not quote it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit

import orjson
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

USER_AGENT = "SkillGap-LTI-tool"
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_LABEL = re.compile(r"[a-z0-9_-]{1,63}")  # a DNS label once IDNA-encoded (RFC 1035, with '_')
MAX_HOST_CHARS = 253


class OutboundError(Exception):
    """A request the tool did not complete; `status` is the HTTP status when one came back."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OutboundRefused(OutboundError):
    """The URL (or a redirect, or the address it resolves to) is not one the tool may reach."""


class OutboundFailed(OutboundError):
    """No usable answer: unreachable, too slow, too large, or not a 2xx status."""


Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) with the default port filled in; None for anything but http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> object:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise ValueError("the answer is not JSON") from None


def wire_host(host: str) -> str:
    """`host` as it is sent (IDNA-encoded: every label 1 to 63 letters, digits, '-' or '_'), or an
    IP address as it is; OutboundRefused for a name no resolver or TLS library takes (an empty or
    overlong label, a character IDNA drops or refuses) instead of an error deep in the request."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii").lower()
        # A name that encodes to another (a soft hyphen dropped, ß as ss) is not the one given.
        if not host.isascii() and name.encode("ascii").decode("idna") != host:
            raise UnicodeError(host)
    except UnicodeError:
        raise OutboundRefused(f"{host!r} is not a valid host name") from None
    labels = name.removesuffix(".").split(".")
    if len(name) > MAX_HOST_CHARS or not all(HOST_LABEL.fullmatch(label) for label in labels):
        raise OutboundRefused(f"{host!r} is not a valid host name")
    return name


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class Outbound:
    def __init__(self, *, deadline_s: float, max_bytes: int, allow_private: bool, http_hosts: Iterable[str] = ()):
        self.deadline_s = deadline_s
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self.http_hosts = {h.strip().lower().strip("[]") for h in http_hosts if h.strip()}

    def check(self, url: str, origins: Iterable[Origin] | None = None) -> SplitResult:
        """The URL's parts when policy lets the tool request it (addresses are checked on connect)."""
        origin = origin_of(url)
        if origin is None:
            raise OutboundRefused(f"{url!r} is not an http(s) URL")
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            raise OutboundRefused("URLs with credentials are not requested")
        wire_host(origin[1])
        if origin[0] == "http" and "*" not in self.http_hosts and origin[1] not in self.http_hosts:
            raise OutboundRefused(
                f"{origin[1]} is reached over https only (plain http is allowed for SKILLGAP_OUTBOUND_HTTP_HOSTS)"
            )
        if origins is not None and origin not in set(origins):
            raise OutboundRefused(f"{url} is not on the platform's registered origin")
        return parts

    def request(
        self,
        method: str,
        url: str,
        *,
        origins: Iterable[Origin] | None = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json: object = None,
    ) -> Reply:
        """Send one request (following same-origin redirects); a non-2xx answer raises
        OutboundFailed with its status. `origins`: where the URL must be, when it came from a platform."""
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
        body = None
        if form is not None:
            body, headers["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
        elif json is not None:
            body = orjson.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        deadline = time.monotonic() + self.deadline_s
        origins = None if origins is None else set(origins)
        for _ in range(MAX_REDIRECTS + 1):
            parts = self.check(url, origins)
            reply = self._once(method, parts, headers, body, deadline)
            location = reply.headers.get("Location")
            if reply.status not in REDIRECTS or not location:
                break
            target = urljoin(url, location)
            if origin_of(target) != origin_of(url):
                raise OutboundRefused(
                    f"{method} {url} redirected to another origin; redirects are followed within one origin only"
                )
            if reply.status == 303 or (reply.status in (301, 302) and method == "POST"):
                method, body = "GET", None
                headers = {k: v for k, v in headers.items() if k != "Content-Type"}
            url = target
        else:
            raise OutboundFailed(f"{method} {url}: more than {MAX_REDIRECTS} redirects")
        if not 200 <= reply.status < 300:
            raise OutboundFailed(f"{method} {url} answered HTTP {reply.status}", reply.status)
        return reply

    def _once(self, method: str, parts: SplitResult, headers: dict, body: bytes | None, deadline: float) -> Reply:
        url = parts.geturl()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundFailed(f"{method} {url}: no answer within {self.deadline_s:g} s")
        sockets: list[socket.socket] = []
        pool = self._pool(parts, sockets, remaining)
        # The deadline covers connecting, the headers and the body: at its end the socket is shut
        # (and whatever was read by then is not an answer: a cut header block can look complete).
        expired = threading.Event()
        watchdog = threading.Timer(remaining, _shut, (sockets, expired))
        watchdog.daemon = True
        watchdog.start()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            response = pool.urlopen(
                method,
                path,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise OutboundFailed(
                        f"{method} {url}: the answer is larger than {self.max_bytes} bytes", response.status
                    )
                chunks, size = [], 0
                for chunk in response.stream(65_536, decode_content=True):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise OutboundFailed(
                            f"{method} {url}: the answer is larger than {self.max_bytes} bytes", response.status
                        )
                    chunks.append(chunk)
                if expired.is_set():
                    raise OutboundFailed(f"{method} {url}: no complete answer within {self.deadline_s:g} s")
                return Reply(response.status, urllib3.HTTPHeaderDict(response.headers), b"".join(chunks))
            finally:
                response.release_conn()
        except OutboundError:
            raise
        # ValueError: urllib3's LocationParseError, or IDNA in the resolver (check refuses those
        # hosts first: this keeps any it misses a failed request, never a 500).
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if expired.is_set():
                raise OutboundFailed(f"{method} {url}: no complete answer within {self.deadline_s:g} s") from None
            raise OutboundFailed(f"{method} {url} failed: {type(exc).__name__}") from None
        finally:
            watchdog.cancel()
            pool.close()

    def _pool(self, parts: SplitResult, sockets: list, timeout_s: float) -> HTTPConnectionPool:
        allow_private = self.allow_private

        def new_conn(conn: HTTPConnection) -> socket.socket:
            sock = _connect(conn.host, conn.port, timeout_s, allow_private)
            sockets.append(sock)
            return sock

        secure = parts.scheme == "https"
        base = HTTPSConnection if secure else HTTPConnection
        connection = type("GuardedConnection", (base,), {"_new_conn": new_conn})
        pool_class = type(
            "GuardedPool", (HTTPSConnectionPool if secure else HTTPConnectionPool,), {"ConnectionCls": connection}
        )
        return pool_class(
            wire_host(parts.hostname),
            parts.port or DEFAULT_PORTS[parts.scheme],
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            maxsize=1,
            retries=False,
        )


def _connect(host: str, port: int, timeout_s: float, allow_private: bool) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundFailed(f"the host {host} is unknown") from None
    if not allow_private:
        for info in infos:
            if not _is_public(info[4][0]):
                raise OutboundRefused(
                    f"{host} resolves to a loopback, private or link-local address "
                    "(allowed only with SKILLGAP_ALLOW_PRIVATE_NETWORK)"
                )
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout_s)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {host}")


def _shut(sockets: list[socket.socket], expired: threading.Event) -> None:
    expired.set()
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
