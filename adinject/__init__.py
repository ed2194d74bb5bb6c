"""adinject: place ad slots and other in-article units between paragraphs, byte-exact."""

from adinject.result import ApplyResult, Insertion, Skip

__all__ = ["ApplyResult", "Insertion", "Skip"]
