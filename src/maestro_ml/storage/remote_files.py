"""SSRF-safe outbound fetch: ``RemoteFileFetcher.fetch(url, max_bytes, directory)`` downloads
a URL into a local file, refusing anything that could reach inside the network.

Per hop: only http/https, no userinfo, the host read with ``domain.addresses.parse_host``
(decimal/octal/hex IPv4 spellings normalised), names resolved once (every A/AAAA record
checked — one bad record refuses the URL), then the request goes to the vetted IP itself
(the Host header and TLS SNI/certificate check keep the name), so DNS cannot answer
differently a second time (rebinding). Redirects are followed by hand, at most
``max_redirects``, each target vetted the same way. The size limit holds while streaming
(decompressed bytes counted). ``allow_private`` (``MAESTRO_FETCH_ALLOW_PRIVATE``) lifts
only the address check. Environment proxies are ignored (a proxy would resolve names itself).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from maestro_ml.domain.addresses import (
    IPAddress,
    forbidden_reason,
    name_reason,
    parse_host,
)
from maestro_ml.domain.errors import InvalidInput, PayloadTooLarge

Resolver = Callable[[str, int], list[str]]
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_URL_CHARS = 2048
CHUNK_BYTES = 1024 * 1024


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (A and AAAA)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """One vetted hop: the URL as given, and the IP the request will go to."""

    url: str
    scheme: str
    host: str  # the name (or literal) for Host and SNI
    port: int
    address: IPAddress
    path: str  # path and query

    @property
    def pinned_url(self) -> str:
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    url: str  # the final URL, after redirects
    content_type: str | None
    size_bytes: int


def refuse(url: str, why: str, reason: str) -> InvalidInput:
    return InvalidInput(f"url: refused to fetch '{url[:200]}': {why}", field="url", reason=reason)


class RemoteFileFetcher:
    def __init__(
        self, *, allow_private: bool = False, resolver: Resolver = system_resolver,
        timeout_seconds: float = 30.0, max_redirects: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.max_redirects = max_redirects
        self._timeout = httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds))
        self._transport = transport

    def vet(self, url: str) -> Target:
        """Check one URL and pick the address to connect to; InvalidInput (422) says why not."""
        if len(url) > MAX_URL_CHARS:
            raise refuse(url, f"the URL is longer than {MAX_URL_CHARS} characters", "too_long")
        if any(ord(c) < 33 or c == "\\" for c in url):
            raise refuse(url, "the URL contains spaces, control characters or backslashes",
                         "malformed")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise refuse(url, f"the URL is malformed ({exc})", "malformed") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise refuse(url, f"scheme '{scheme or '(none)'}' is not allowed; use http or https",
                         "scheme")
        if "@" in parts.netloc:
            raise refuse(url, "user names or passwords in URLs are not allowed", "userinfo")
        host = parts.hostname
        if not host:
            raise refuse(url, "the URL has no host", "malformed")
        try:
            literal = parse_host(host)
        except InvalidInput as exc:
            raise refuse(url, exc.detail.removeprefix("url: "), "malformed") from None
        port = port or DEFAULT_PORTS[scheme]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if literal is not None:
            self._check_address(url, host, literal)
            return Target(url, scheme, str(literal), port, literal, path)
        name = host.rstrip(".")
        why = name_reason(name)
        if why and not self.allow_private:
            raise refuse(url, f"host '{name}' is a {why} name", why.replace(" ", "_").lower())
        try:
            records = self.resolver(name, port)
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in records]
        except (OSError, UnicodeError, ValueError):
            raise refuse(url, f"host '{name}' does not resolve", "unresolvable") from None
        if not addresses:
            raise refuse(url, f"host '{name}' does not resolve", "unresolvable")
        for address in addresses:  # one bad record refuses the URL: DNS picks, not us
            self._check_address(url, name, address)
        return Target(url, scheme, name, port, addresses[0], path)

    def _check_address(self, url: str, host: str, address: IPAddress) -> None:
        why = forbidden_reason(address)
        if why and not self.allow_private:
            raise refuse(url, f"host '{host}' is {address}, a {why} address",
                         why.replace(" ", "_").replace("-", "_").lower())

    def fetch(self, url: str, max_bytes: int, directory: Path) -> FetchedFile:
        """Download ``url`` into a new file in ``directory`` (deleted again on any failure)."""
        current = url
        with httpx.Client(
            transport=self._transport, timeout=self._timeout, follow_redirects=False,
            trust_env=False, headers={"User-Agent": "maestro-ml-fetch/1"},
        ) as client:
            for _ in range(self.max_redirects + 1):
                target = self.vet(current)
                extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
                request = client.build_request(
                    "GET", target.pinned_url, headers={"Host": target.host_header},
                    extensions=extensions,
                )
                try:
                    response = client.send(request, stream=True)
                except httpx.HTTPError as exc:
                    raise refuse(current, f"the request failed ({type(exc).__name__}: {exc})",
                                 "unreachable") from None
                try:
                    location = response.headers.get("location")
                    if response.status_code in REDIRECTS and location:
                        current = urljoin(current, location)
                        continue
                    if response.status_code >= 400:
                        raise refuse(current, f"the server answered {response.status_code}",
                                     "http_error")
                    return self._save(current, response, max_bytes, directory)
                finally:
                    response.close()
        raise refuse(url, f"more than {self.max_redirects} redirects", "too_many_redirects")

    def _save(
        self, url: str, response: httpx.Response, max_bytes: int, directory: Path
    ) -> FetchedFile:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(url, max_bytes)
        fd, name = tempfile.mkstemp(dir=directory, prefix="fetch-")
        path = Path(name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(url, max_bytes)
                    handle.write(chunk)
        except httpx.HTTPError as exc:
            path.unlink(missing_ok=True)
            why = f"the download failed ({type(exc).__name__})"
            raise refuse(url, why, "unreachable") from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        content_type = response.headers.get("content-type")
        return FetchedFile(path, url, content_type, size)


def _too_large(url: str, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"url: '{url[:200]}' is larger than the limit of {max_bytes} bytes",
        field="url", limit=max_bytes,
    )
