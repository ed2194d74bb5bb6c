"""The HTTP layer: an ASGI middleware that runs the engine on outgoing HTML pages."""

from adinject.http.middleware import AdInjectMiddleware
from adinject.http.rules_like import RulesLike

__all__ = ["AdInjectMiddleware", "RulesLike"]
