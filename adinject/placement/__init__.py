"""Placement: pure functions from a parsed page and the rules to a plan of insertions, with reasons."""
