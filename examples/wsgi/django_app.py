"""A Django project in one file, as WSGI with adinject: `gunicorn -w 2 examples.wsgi.django_app:application`.

In a real project the last lines go in `mysite/wsgi.py`; the settings here are the least Django needs, plus
its GZipMiddleware (adinject decodes the gzip, places the units and encodes again). Views pass values to the
unit templates in `request.META["adinject.context"]` (the WSGI environ).
"""

from __future__ import annotations

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only-not-a-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.gzip.GZipMiddleware"],
        INSTALLED_APPS=[],
    )

from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

from adinject import AdInjectWSGIMiddleware
from examples.wsgi.story import RULES_DIR, related, story_page


def story(request: HttpRequest, slug: str) -> HttpResponse:
    request.META["adinject.context"] = related(slug)
    return HttpResponse(story_page(slug), content_type="text/html; charset=utf-8")


urlpatterns = [path("news/<slug:slug>", story)]

application = AdInjectWSGIMiddleware(get_wsgi_application(), rules=RULES_DIR)
