"""The article page both WSGI examples serve: nine paragraphs in <article><div class="article-body">."""

from __future__ import annotations

from html import escape
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"  # the shipped rules, wherever the app starts

PARAGRAPH = "Paragraph {n} of the story, long enough for the rules to count it as a real paragraph."


def story_page(slug: str) -> str:
    paragraphs = "\n".join(f"<p>{PARAGRAPH.format(n=n)}</p>" for n in range(1, 10))
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        '<body><article><h1>{title}</h1><div class="article-body">\n{paragraphs}\n</div></article>'
        "</body></html>\n"
    ).format(title=escape(slug.replace("-", " ").title()), paragraphs=paragraphs)


def related(slug: str) -> dict[str, object]:
    """What the units may show (the shipped `related` unit reads `context.related`)."""
    return {"related": [{"title": "More on " + slug, "url": f"/news/{slug}-more", "summary": "Read on."}]}
