"""Building the WSGI middleware: invalid rules raise (WSGI apps are built at import, and there is no
lifespan to fail), unless allowed; each middleware refuses an app that is clearly of the other protocol,
naming the right one, and accepts what it cannot tell."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from adinject import AdInjectMiddleware, AdInjectWSGIMiddleware, RulesError
from adinject.engine import Rules
from adinject.http.kinds import looks_asgi, looks_wsgi
from tests._support.http_testkit import page, write_rules
from tests._support.wsgi_testkit import HTML, chunked_app, environ, run_wsgi

PAGE = page()


def bad_rules(folder: Path) -> Path:
    folder.mkdir()
    (folder / "bad.yaml").write_text(
        "rules:\n  - name: x\n    place: [{unit: nowhere, after_paragraph: 1}]\n"
    )
    return folder


def test_invalid_rules_raise_with_every_problem(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app, _ = chunked_app([PAGE])
    with caplog.at_level(logging.ERROR, logger="adinject"), pytest.raises(RulesError) as raised:
        AdInjectWSGIMiddleware(app, rules=bad_rules(tmp_path / "rules"), metrics=False)
    assert "nowhere" in str(raised.value) and "bad.yaml" in str(raised.value)
    assert "not starting" in caplog.text


def test_allowed_invalid_rules_start_without_units_and_take_the_first_valid_state(tmp_path: Path) -> None:
    folder = bad_rules(tmp_path / "rules")
    app, _ = chunked_app([PAGE])
    mw = AdInjectWSGIMiddleware(
        app, rules=folder, metrics=False, reload=False, allow_invalid_rules_at_startup=True
    )
    assert run_wsgi(mw, environ()).body == PAGE
    (folder / "bad.yaml").unlink()
    write_rules(folder)
    assert mw.live is not None and mw.live.check()
    assert b'class="ad-slot"' in run_wsgi(mw, environ()).body


async def asgi_function(scope: Any, receive: Any, send: Any) -> None: ...


class AsgiObject:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...


class SyncAsgi:
    """An ASGI app whose __call__ is not `async def` but returns a coroutine."""

    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        return asgi_function(scope, receive, send)


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [HTML])
    return [PAGE]


class Unsure:
    def __call__(self, *args: Any) -> Any: ...


@pytest.mark.parametrize("app", [asgi_function, AsgiObject(), SyncAsgi(), Starlette()])
def test_an_asgi_app_given_to_the_wsgi_middleware_is_refused(app: Any, rules: Rules) -> None:
    assert looks_asgi(app) and not looks_wsgi(app)
    with pytest.raises(TypeError, match="AdInjectMiddleware"):
        AdInjectWSGIMiddleware(app, rules=rules, metrics=False)


def test_a_flask_app_given_to_the_asgi_middleware_is_refused(rules: Rules) -> None:
    from flask import Flask

    flask = Flask("t")
    for app in (flask, flask.wsgi_app, wsgi_function):
        assert looks_wsgi(app) and not looks_asgi(app)
        with pytest.raises(TypeError, match="AdInjectWSGIMiddleware"):
            AdInjectMiddleware(app, rules=rules, metrics=False)
    assert AdInjectWSGIMiddleware(flask.wsgi_app, rules=rules, metrics=False).app == flask.wsgi_app


def test_django_handlers_are_told_apart(rules: Rules) -> None:
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    import examples.wsgi.django_app  # noqa: F401 - configures Django's settings

    with pytest.raises(TypeError, match="AdInjectWSGIMiddleware"):
        AdInjectMiddleware(WSGIHandler(), rules=rules, metrics=False)
    with pytest.raises(TypeError, match="AdInjectMiddleware"):
        AdInjectWSGIMiddleware(ASGIHandler(), rules=rules, metrics=False)


@pytest.mark.parametrize("cls", [AdInjectMiddleware, AdInjectWSGIMiddleware])
def test_an_app_that_cannot_be_told_is_accepted(cls: Any, rules: Rules) -> None:
    assert not looks_asgi(Unsure()) and not looks_wsgi(Unsure())
    cls(Unsure(), rules=rules, metrics=False)
