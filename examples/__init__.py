"""Runnable examples of adinject: `python -m examples.newsroom` is the demo news site."""
