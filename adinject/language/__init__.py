"""The rule language: what ad ops write in YAML, validated into typed models."""
