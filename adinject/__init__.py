"""adinject: place ad slots and other in-article units between paragraphs, byte-exact."""

from adinject.engine import Plan, Rules, load_rules
from adinject.http import AdInjectMiddleware
from adinject.language.problems import Problem, RulesError
from adinject.metrics import metrics_app, metrics_wsgi_app
from adinject.reload import LiveRules
from adinject.result import ApplyResult, Insertion, Skip
from adinject.wsgi import AdInjectWSGIMiddleware

__all__ = [
    "AdInjectMiddleware",
    "AdInjectWSGIMiddleware",
    "ApplyResult",
    "Insertion",
    "LiveRules",
    "Plan",
    "Problem",
    "Rules",
    "RulesError",
    "Skip",
    "load_rules",
    "metrics_app",
    "metrics_wsgi_app",
]
