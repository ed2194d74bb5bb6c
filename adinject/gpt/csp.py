"""May adinject add inline scripts to this page, and with which nonce? Read from its Content-Security-Policy.

The policies come from the response's `Content-Security-Policy` header(s) and from the page's
`<meta http-equiv="Content-Security-Policy">` in <head>; every one is enforced, so a script must pass all of
them. For a <script> element the directive that governs is `script-src-elem`, else `script-src`, else
`default-src` (CSP Level 3); a policy with none of them does not restrict scripts.

* A directive with a `'nonce-...'` source: the script must carry that nonce (and `'unsafe-inline'` is then
  ignored by browsers). The nonce is copied from the policy, never invented: a nonce adinject made up would
  only work if it had also changed the header, and a nonce is the app's secret to hand out per response.
* No nonce but `'unsafe-inline'` (and no hash or `'strict-dynamic'`, which also switch it off): inline
  scripts run without one. The GPT library, loaded by URL, must then be allowed by a host or scheme source.
* Anything else (`'none'`, `'self'` only, hashes only): no inline script adinject adds would run, so the
  wiring is skipped with this module's reason, and the units go in without it.

Report-only policies (`Content-Security-Policy-Report-Only`) are not passed here: they block nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# The nonce-source grammar (base64 or base64url, optional padding); anything else is not a nonce to a browser.
_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/_-]+={0,2})'", re.IGNORECASE)
_SCRIPT_DIRECTIVES = ("script-src-elem", "script-src", "default-src")


@dataclass(frozen=True, slots=True)
class ScriptPermit:
    allowed: bool
    nonce: str | None = None
    reason: str = ""


def parse_policies(values: Iterable[str]) -> list[dict[str, list[str]]]:
    """Each policy as directive name -> sources. One header value may hold several policies, comma-separated;
    within a policy, a directive given twice keeps its first value (as browsers do)."""
    policies: list[dict[str, list[str]]] = []
    for value in values:
        for text in value.split(","):
            directives: dict[str, list[str]] = {}
            for directive in text.split(";"):
                tokens = directive.split()
                if tokens:
                    directives.setdefault(tokens[0].lower(), tokens[1:])
            if directives:
                policies.append(directives)
    return policies


def script_permit(values: Iterable[str], *, library_url: str | None = None) -> ScriptPermit:
    """Whether inline <script> elements may run, and with which nonce.

    `library_url`: a script loaded from there must be allowed too (None when the page loads it itself).
    """
    wanted: list[set[str]] = []  # per policy that requires a nonce, the nonces it accepts
    for policy in parse_policies(values):
        sources = next((policy[name] for name in _SCRIPT_DIRECTIVES if name in policy), None)
        if sources is None:
            continue
        lowered = [source.lower() for source in sources]
        nonces = {match.group(1) for source in sources if (match := _NONCE.fullmatch(source))}
        if nonces:
            wanted.append(nonces)  # a nonced script runs whatever its URL
            continue
        hashes = any(source.startswith(("'sha256-", "'sha384-", "'sha512-")) for source in lowered)
        if "'unsafe-inline'" not in lowered or hashes or "'strict-dynamic'" in lowered:
            return ScriptPermit(
                False, reason="the page's Content-Security-Policy allows no inline script and has no nonce"
            )
        if library_url is not None and not allows_url(lowered, library_url):
            return ScriptPermit(
                False, reason=f"the page's Content-Security-Policy does not allow loading {library_url}"
            )
    if not wanted:
        return ScriptPermit(True)
    common = set.intersection(*wanted)
    if not common:
        return ScriptPermit(False, reason="the page's Content-Security-Policies ask for different nonces")
    return ScriptPermit(True, nonce=min(common))


def allows_url(sources: list[str], url: str) -> bool:
    """Whether lower-cased `sources` allow loading a script from `url` (host and scheme sources, 'self').

    A root-relative `url` is same-origin: 'self' or * allows it. An absolute one needs *, its scheme
    (`https:`), or a host source matching its host (`*.example.com` matches subdomains), port and path.
    """
    target = urlsplit(url)
    if not target.scheme:
        return "'self'" in sources or "*" in sources
    for source in sources:
        if source == "*" or source == f"{target.scheme}:" or (source == "http:" and target.scheme == "https"):
            return True
        if source.startswith("'") or source.endswith(":"):
            continue
        if _host_source_matches(source, target.scheme, target.hostname or "", target.port, target.path):
            return True
    return False


def _host_source_matches(source: str, scheme: str, host: str, port: int | None, path: str) -> bool:
    rest = source
    if "://" in rest:
        src_scheme, rest = rest.split("://", 1)
        if src_scheme != scheme and not (src_scheme == "http" and scheme == "https"):
            return False
    host_part, slash, src_path = rest.partition("/")
    src_host, _, src_port = host_part.partition(":")
    if src_host.startswith("*."):
        if not host.endswith(src_host[1:]):
            return False
    elif src_host != host:
        return False
    default_port = 443 if scheme == "https" else 80
    if src_port and src_port != "*" and (not src_port.isdigit() or int(src_port) != (port or default_port)):
        return False
    if slash and src_path:
        wanted = "/" + src_path
        return path.startswith(wanted) if wanted.endswith("/") else path == wanted
    return True
