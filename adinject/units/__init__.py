"""Units: the markup the engine inserts, as sandboxed Jinja2 templates."""

from adinject.units.environment import environment, make_environment

__all__ = ["environment", "make_environment"]
