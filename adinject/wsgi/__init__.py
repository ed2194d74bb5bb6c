"""The WSGI middleware: adinject around Django, Flask or any WSGI app, behaving as the ASGI one does."""

from adinject.wsgi.environ import CONTEXT_KEY
from adinject.wsgi.middleware import AdInjectWSGIMiddleware

__all__ = ["CONTEXT_KEY", "AdInjectWSGIMiddleware"]
