"""The demo news site: `python -m examples.newsroom` (or `make demo`) serves it on http://127.0.0.1:8000."""

from examples.newsroom.app import RULES_DIR, create_app

__all__ = ["RULES_DIR", "create_app"]
