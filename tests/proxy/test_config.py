"""The proxy's settings (flags over a TOML file over defaults) and its header rules as functions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adinject.cli import build_parser
from adinject.proxy.config import ProxyConfig, parse, resolve
from adinject.proxy.headers import TrustedClients, connection_scoped, end_to_end, to_origin
from tests._support.paths import REPO


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path: Path) -> None:
    file = tmp_path / "proxy.toml"
    file.write_text('upstream = "http://127.0.0.1:9000"\nrules = "rules/"\nport = 9100\ncache-size = 0\n')
    config = parse(
        ["--config", str(file), "--port", "9200", "--no-server-timing", "--gpt-library-hosts", "a.b"]
    )
    assert (config.upstream, config.port, config.cache_size) == ("http://127.0.0.1:9000", 9200, 0)
    assert config.read_timeout == ProxyConfig().read_timeout
    options = config.middleware_options()
    assert options["server_timing"] is False and options["gpt_library_hosts"] == ["a.b"]
    assert "upstream" not in options and "port" not in options
    assert ProxyConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('upstream = "http://x"\nrules = "r"\nbogus = 1\n', "unknown setting 'bogus'"),
        ('upstream = "http://x"\nrules = "r"\nport = "80"\n', "port must be a int"),
        ('rules = "r"\n', "--upstream and --rules are required"),
        ('upstream = "ftp://x"\nrules = "r"\n', "wants an http:// or https:// URL"),
        ("upstream = \n", "cannot read"),
    ],
)
def test_a_bad_file_is_refused_with_a_message(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "proxy.toml"
    file.write_text(text)
    with pytest.raises(SystemExit, match=message):
        parse(["--config", str(file)])


def test_environment_defaults() -> None:
    args = build_parser().parse_args(["proxy", "--upstream", "http://o", "--rules", "r"])
    config = resolve(args, {"FORWARDED_ALLOW_IPS": "10.0.0.0/8", "ADINJECT_DEBUG_TOKEN": "t" * 20})
    assert (config.forwarded_allow_ips, config.debug_token) == ("10.0.0.0/8", "t" * 20)
    assert resolve(args, {}).forwarded_allow_ips == "127.0.0.1"


def test_a_missing_extra_is_named() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from adinject.cli import main\n"
        "sys.exit(main(['proxy', '--upstream', 'http://127.0.0.1:9', '--rules', 'rules/']))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'adinject[proxy]'" in done.stderr and "uvicorn" in done.stderr


def test_trusted_clients() -> None:
    trusted = TrustedClients("127.0.0.1, 10.0.0.0/8,::1")
    assert "127.0.0.1" in trusted and "10.2.3.4" in trusted and "::1" in trusted
    assert "192.0.2.1" not in trusted and None not in trusted and "unix:/sock" not in trusted
    assert "192.0.2.1" in TrustedClients(["*"])


def test_connection_names_more_hop_by_hop_fields() -> None:
    headers = [
        (b"connection", b"close, X-Private"),
        (b"x-private", b"1"),
        (b"proxy-foo", b"2"),
        (b"x-kept", b"3"),
    ]
    assert b"x-private" in connection_scoped(headers)
    assert end_to_end(headers) == [(b"x-kept", b"3")]


names = st.sampled_from([b"x-forwarded-for", b"forwarded", b"x-forwarded-proto", b"x-forwarded-host", b"x-a"])


@given(st.lists(st.tuples(names, st.binary(max_size=20)), max_size=8), st.booleans())
def test_an_untrusted_client_s_forwarding_headers_never_reach_the_origin(
    sent: list[tuple[bytes, bytes]], trusted: bool
) -> None:
    out = to_origin(
        [(b"host", b"site.example"), *sent],
        client="192.0.2.7",
        scheme="https",
        trusted=TrustedClients("192.0.2.7" if trusted else "127.0.0.1"),
    )
    forwarded_for = [v for k, v in out if k == b"x-forwarded-for"]
    assert len(forwarded_for) == 1 and forwarded_for[0].endswith(b"192.0.2.7")
    if not trusted:
        assert forwarded_for == [b"192.0.2.7"]
        assert [v for k, v in out if k == b"forwarded"] == [b'for=192.0.2.7;proto=https;host="site.example"']
        assert [v for k, v in out if k == b"x-forwarded-proto"] == [b"https"]
    assert [v for k, v in out if k == b"x-a"] == [v for k, v in sent if k == b"x-a"]


def test_an_ipv6_client_is_bracketed_in_forwarded() -> None:
    out = to_origin([], client="::1", scheme="http", trusted=TrustedClients(""))
    assert dict(out)[b"forwarded"] == b'for="[::1]";proto=http'
