"""The engine: bytes in, bytes out, through a rule index (index.py), the request's outcome (request.py),
a pure plan (planning.py) and rendering (rendering.py), behind the `Rules` facade (rules.py)."""

from adinject.engine.planning import HeadPlan, Plan, locate_body_end
from adinject.engine.rendering import RenderCache
from adinject.engine.request import RequestOutcome
from adinject.engine.rules import Rules, load_rules

__all__ = ["HeadPlan", "Plan", "RenderCache", "RequestOutcome", "Rules", "load_rules", "locate_body_end"]
