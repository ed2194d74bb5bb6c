"""A Flask app with adinject: `gunicorn -w 2 examples.wsgi.flask_app:app`.

The middleware wraps `app.wsgi_app`, so Flask's own `app` object stays the one the server is given; views
pass values to the unit templates in `request.environ["adinject.context"]`.
"""

from __future__ import annotations

from flask import Flask, request

from adinject import AdInjectWSGIMiddleware
from examples.wsgi.story import RULES_DIR, related, story_page

app = Flask(__name__)


@app.get("/news/<slug>")
def story(slug: str) -> str:
    request.environ["adinject.context"] = related(slug)
    return story_page(slug)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


app.wsgi_app = AdInjectWSGIMiddleware(app.wsgi_app, rules=RULES_DIR)  # type: ignore[method-assign]
