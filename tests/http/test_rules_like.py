"""The middleware reads the rules only through `RulesLike`: a wrapper of the engine's rules is served exactly
as the rules it wraps (bucket header, metrics), and an inactive stand-in speaks through `inactive_code`.

Before the protocol had `bucket_header` and `inactive_code`, the middleware looked past it (isinstance and
getattr on `Rules`/`Inactive`), so a wrapper lost the bucket header and its live version in the metrics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from adinject.engine import Rules, load_rules
from adinject.http import AdInjectMiddleware, RulesLike
from adinject.metrics import Metrics
from adinject.reload import Inactive
from tests._support.http_testkit import (
    RulesProxy,
    body,
    header,
    http_scope,
    page,
    response_body,
    run_asgi,
    scripted_app,
    start,
    write_rules,
)

PAGE = page()

PERCENT_RULES = """\
settings:
  bucket_header: X-User-Id
units:
  ad:
    html: '<div class="ad-slot" id="{{ slot.id }}"><p>Advertisement</p></div>'
rules:
  - name: half
    pages: {paths: ["/news/**"]}
    container: article
    when: {percent: 50}
    place: [{unit: ad, after_paragraph: 1}]
"""


def percent_rules(tmp_path: Path) -> Rules:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "rules.yaml").write_text(PERCENT_RULES, encoding="utf-8")
    return load_rules(folder)


def test_engine_rules_and_inactive_answer_the_protocol(tmp_path: Path) -> None:
    rules = percent_rules(tmp_path)
    assert (rules.bucket_header, rules.inactive_code) == ("x-user-id", None)
    off = Inactive(rules, "off", "the kill switch is on")
    assert (off.bucket_header, off.inactive_code) == (None, "off")
    checked: list[RulesLike] = [rules, off, RulesProxy(rules)]  # mypy checks each against the protocol
    assert len(checked) == 3


def test_a_wrapper_keeps_the_bucket_header_of_the_rules_it_wraps(tmp_path: Path) -> None:
    """A visitor named by the bucket header gets no cookie, whether the rules come wrapped or not."""
    rules = percent_rules(tmp_path)
    named = http_scope("/news/a", headers=[(b"x-user-id", b"u-42")])
    for served in (rules, RulesProxy(rules)):
        sent = run_asgi(AdInjectMiddleware(scripted_app([start(), body(PAGE)]), rules=served), named)
        assert header(sent[0], "set-cookie") == [], type(served).__name__
    anonymous = run_asgi(
        AdInjectMiddleware(scripted_app([start(), body(PAGE)]), rules=RulesProxy(rules)),
        http_scope("/news/a"),
    )
    assert len(header(anonymous[0], "set-cookie")) == 1


def test_live_loaded_rules_are_reported_through_the_protocol(tmp_path: Path) -> None:
    rules = percent_rules(tmp_path)
    metrics = Metrics(CollectorRegistry())
    AdInjectMiddleware(scripted_app([]), rules=RulesProxy(rules), metrics=metrics)
    labels = {"folder": "", "version": rules.version}
    assert metrics.registry.get_sample_value("adinject_rules_info", labels) == 1


def test_inactive_rules_are_not_reported_live(tmp_path: Path) -> None:
    rules = percent_rules(tmp_path)
    metrics = Metrics(CollectorRegistry())
    AdInjectMiddleware(scripted_app([]), rules=Inactive(rules, "off", "switched off"), metrics=metrics)
    assert [s for m in metrics.registry.collect() if m.name == "adinject_rules_info" for s in m.samples] == []


class Paused(RulesProxy):
    """Any RulesLike may be inactive: it matches no URL and names its reason in `inactive_code`."""

    __slots__ = ()

    def matches_url(self, path: str) -> bool:
        return False

    @property
    def inactive_code(self) -> str | None:
        return "paused"


def test_the_inactive_code_is_the_reason_pages_are_counted_unchanged(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    middleware = AdInjectMiddleware(
        scripted_app([start(), body(PAGE)]), rules=Paused(percent_rules(tmp_path)), metrics=metrics
    )
    sent = run_asgi(middleware, http_scope("/news/a"))
    assert sent[1]["body"] == PAGE
    labels = {"outcome": "unchanged", "reason": "paused"}
    assert metrics.registry.get_sample_value("adinject_pages_total", labels) == 1


def test_a_plan_cache_miss_decides_the_request_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The plan-cache key needs the request's outcome; planning on a miss reuses it instead of deciding again.
    import adinject.engine.rules as engine_rules

    calls: list[str] = []
    real = engine_rules.decide

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("decide")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_rules, "decide", counting)
    rules = percent_rules(tmp_path)
    app = AdInjectMiddleware(scripted_app([start(), body(PAGE)]), rules=rules)
    named = http_scope("/news/a", headers=[(b"x-user-id", b"u-42")])
    run_asgi(app, named)
    assert calls == ["decide"]
    run_asgi(app, named)  # a hit: decided once more, for the key, and not planned
    assert calls == ["decide", "decide"]


def test_the_middleware_renders_into_its_own_cache(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path / "rules"))
    app = AdInjectMiddleware(scripted_app([start(), body(PAGE)]), rules=rules)
    sent = run_asgi(app, http_scope("/news/a"))
    assert b"ad-slot" in response_body(sent)
    assert len(app.render_cache) > 0
    assert len(rules.render_cache) == 0
