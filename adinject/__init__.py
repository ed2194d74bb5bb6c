"""adinject: place ad slots and other in-article units between paragraphs, byte-exact."""

from adinject.engine import Plan, Rules, load_rules
from adinject.http import AdInjectMiddleware
from adinject.language.problems import Problem, RulesError
from adinject.result import ApplyResult, Insertion, Skip

__all__ = [
    "AdInjectMiddleware",
    "ApplyResult",
    "Insertion",
    "Plan",
    "Problem",
    "Rules",
    "RulesError",
    "Skip",
    "load_rules",
]
