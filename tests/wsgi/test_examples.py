"""The Flask and Django (WSGI) examples of the README, imported and requested in-process (werkzeug's test
client, a plain WSGI client): units from the shipped rules, the related box from the app's context."""

from __future__ import annotations

import gzip

from werkzeug.test import Client

from examples.wsgi.story import story_page


def units(body: bytes) -> int:
    return body.count(b'class="ad-slot"')


def test_the_flask_example() -> None:
    from examples.wsgi.flask_app import app

    client = Client(app)
    response = client.get("/news/big-story")
    body = response.get_data()
    assert response.status_code == 200 and units(body) == 2
    assert b"More on big-story" in body
    assert response.headers["Content-Length"] == str(len(body))
    assert client.get("/health").get_json() == {"status": "ok"}


def test_the_django_example_through_its_gzip_middleware() -> None:
    from examples.wsgi.django_app import application

    client = Client(application)
    plain = client.get("/news/big-story").get_data()
    assert units(plain) == 2 and b"More on big-story" in plain
    packed = client.get("/news/big-story", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.get_data()) == plain
    # Everything but the units is the page the view made.
    assert len(plain) > len(story_page("big-story").encode())
    assert client.get("/news/").status_code == 404
