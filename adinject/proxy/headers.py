"""The header rules of a reverse proxy (RFC 9110 §7.6), on raw ASGI header lists.

Hop-by-hop fields (RFC 9110 §7.6.1) describe one connection, so they are dropped in both directions:
`Connection` and every field it names, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade` and
`Proxy-*`. Toward the origin, the proxy says who the client was: `X-Forwarded-For/-Proto/-Host` and
`Forwarded` (RFC 7239). A client could send those itself to pose as another address, so what it sent is kept
(and appended to) only when its address is one the operator trusts (`--forwarded-allow-ips`, as uvicorn's
option of that name), and dropped otherwise. `Via` is added to the request as RFC 9110 §7.6.3 asks of a
gateway; responses go back with only the hop-by-hop fields removed (their bytes are the origin's).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"})
FORWARDING = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded"})
VIA = b"1.1 adinject"


class TrustedClients:
    """The addresses whose X-Forwarded-* and Forwarded are believed: IPs, CIDR networks, or `*` for all.

    Given as uvicorn takes `--forwarded-allow-ips`: a comma-separated string or a list. A peer that is not an
    IP address (a Unix socket's path) is trusted only under `*`.
    """

    __slots__ = ("_everyone", "_networks")

    def __init__(self, allowed: str | Iterable[str]) -> None:
        items = allowed.split(",") if isinstance(allowed, str) else list(allowed)
        names = [item.strip() for item in items if item.strip()]
        self._everyone = "*" in names
        self._networks = tuple(ipaddress.ip_network(name, strict=False) for name in names if name != "*")

    def __contains__(self, host: str | None) -> bool:
        if self._everyone:
            return True
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)


def connection_scoped(headers: Sequence[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The lower-case names of the hop-by-hop fields of this message: the fixed ones, those `Connection`
    names, and `Proxy-*`."""
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
        if token.strip()
    }
    return HOP_BY_HOP | named


def end_to_end(headers: Sequence[tuple[bytes, bytes]], *, drop: frozenset[bytes] = frozenset()) -> Headers:
    """`headers` (lower-case names, as ASGI has them) without the hop-by-hop fields and those in `drop`."""
    scoped = connection_scoped(headers) | drop
    return [
        (name, value)
        for name, value in headers
        if (low := name.lower()) not in scoped and not low.startswith(b"proxy-")
    ]


def _forwarded_node(host: str) -> str:
    # RFC 7239 §6: an IPv6 address is bracketed and the value quoted; an IPv4 address or a token is bare.
    return f'"[{host}]"' if ":" in host else host


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_origin(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    client: str | None,
    scheme: str,
    trusted: TrustedClients,
    host: bytes | None = None,
) -> Headers:
    """The request headers to send to the origin: end to end only, the forwarding fields set by us (the
    client's kept in front only when `client` is trusted), `Via`, and `Host` replaced by `host` when given
    (else the client's, passed on)."""
    keep_forwarding = client in trusted
    out = end_to_end(headers, drop=frozenset() if keep_forwarding else FORWARDING)
    sent: dict[bytes, bytes] = {}
    for name, value in out:
        if name in FORWARDING or name == b"host":
            # Several lines of one field are one list (RFC 9110 §5.3).
            sent[name] = sent[name] + b", " + value if name in sent else value
    client_host = sent.get(b"host", b"")
    if host is not None:
        out = [(name, value) for name, value in out if name != b"host"]
        out.append((b"host", host))
    peer = client or "unknown"
    out = [(name, value) for name, value in out if name not in FORWARDING]
    prior_for = sent.get(b"x-forwarded-for")
    out.append((b"x-forwarded-for", (prior_for + b", " if prior_for else b"") + peer.encode("latin-1")))
    out.append((b"x-forwarded-proto", sent.get(b"x-forwarded-proto") or scheme.encode("latin-1")))
    if forwarded_host := sent.get(b"x-forwarded-host") or client_host:
        out.append((b"x-forwarded-host", forwarded_host))
    element = f"for={_forwarded_node(peer)};proto={scheme}"
    if client_host:
        element += f";host={_quoted(client_host.decode('latin-1'))}"
    prior = sent.get(b"forwarded")
    out.append((b"forwarded", (prior + b", " if prior else b"") + element.encode("latin-1")))
    out.append((b"via", VIA))
    return out
