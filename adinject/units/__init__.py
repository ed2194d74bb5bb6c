"""Units: the markup the engine inserts, as sandboxed Jinja2 templates."""
