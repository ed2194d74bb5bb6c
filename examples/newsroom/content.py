"""The newsroom's content: the site settings and the articles, read from the YAML files in `content/`.

Everything the demo serves comes from this folder; nothing is read from outside the repository at run time.
An article's body is a list of blocks: a plain string is a paragraph; `{h2: ...}`, `{quote: ..., cite: ...}`
and `{figure: src, alt: ..., caption: ..., width: ..., height: ...}` are the other kinds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONTENT_DIR = Path(__file__).resolve().parent / "content"
SEED_SLUG = "us-welcomes-russian-asylum-seekers"
# The visible text of the seed page as readers saw it: the layout the shipped rules reproduce.
SEED_TEXT = CONTENT_DIR / "seed-article.txt"

_ARTICLE_KEYS = {
    "slug",
    "section",
    "category",
    "headline",
    "standfirst",
    "summary",
    "byline",
    "published",
    "featured",
    "brief",
    "listed",
    "body",
    "related",
}


@dataclass(frozen=True)
class Block:
    kind: str  # "p", "h2", "quote" or "figure"
    text: str = ""
    cite: str = ""
    src: str = ""
    alt: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Article:
    slug: str
    section: str  # the first URL segment: "world" or "news"
    category: str  # the label and section page: "World", "Politics", ...
    headline: str
    byline: str
    published: datetime
    body: tuple[Block, ...]
    standfirst: str = ""
    summary: str = ""  # the one-line summary shown in recirculation boxes (defaults to the standfirst)
    featured: bool = False
    brief: bool = False
    listed: bool = True
    related_slugs: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"/{self.section}/{self.slug}"

    @property
    def paragraphs(self) -> list[str]:
        return [block.text for block in self.body if block.kind == "p"]

    @property
    def read_minutes(self) -> int:
        words = sum(len(text.split()) for text in self.paragraphs)
        return max(1, math.ceil(words / 230))

    def teaser(self) -> dict[str, str]:
        """What a recirculation unit shows of this article (passed to units as `context.related[i]`)."""
        return {
            "title": self.headline,
            "url": self.url,
            "summary": self.summary or self.standfirst,
            "category": self.category,
        }


@dataclass(frozen=True)
class Site:
    name: str
    tagline: str
    nav: tuple[dict[str, str], ...]
    corrections_note: dict[str, str]
    disclaimer: str


@dataclass(frozen=True)
class Newsroom:
    site: Site
    articles: tuple[Article, ...] = field(default_factory=tuple)

    def find(self, section: str, slug: str) -> Article | None:
        for article in self.articles:
            if article.section == section and article.slug == slug:
                return article
        return None

    def by_slug(self, slug: str) -> Article:
        for article in self.articles:
            if article.slug == slug:
                return article
        raise KeyError(slug)

    def listed(self, category: str | None = None) -> list[Article]:
        """The articles the front page (or a section page) lists, newest first, the featured one leading."""
        found = [a for a in self.articles if a.listed and category in (None, a.category.lower())]
        return sorted(found, key=lambda a: (not a.featured, -a.published.timestamp()))

    def related(self, article: Article) -> list[dict[str, str]]:
        """The related articles the app chooses for `article`, as teasers for the `related` unit."""
        return [self.by_slug(slug).teaser() for slug in article.related_slugs]

    @property
    def edition_date(self) -> datetime:
        return max(a.published for a in self.articles)


def _block(raw: Any, where: str) -> Block:
    if isinstance(raw, str):
        return Block("p", text=raw)
    if isinstance(raw, dict):
        if set(raw) == {"h2"}:
            return Block("h2", text=str(raw["h2"]))
        if "quote" in raw and set(raw) <= {"quote", "cite"}:
            return Block("quote", text=str(raw["quote"]), cite=str(raw.get("cite", "")))
        if "figure" in raw and set(raw) <= {"figure", "alt", "caption", "width", "height"}:
            return Block(
                "figure",
                src=str(raw["figure"]),
                alt=str(raw.get("alt", "")),
                text=str(raw.get("caption", "")),
                width=raw.get("width"),
                height=raw.get("height"),
            )
    raise ValueError(f"{where}: a body block is a string, or a mapping with h2, quote or figure: {raw!r}")


def _article(path: Path) -> Article:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping")
    unknown = set(raw) - _ARTICLE_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    if raw["slug"] != path.stem:
        raise ValueError(f"{path}: slug {raw['slug']!r} does not match the file name")
    published = raw["published"]
    if not isinstance(published, datetime):
        published = datetime.fromisoformat(str(published))
    return Article(
        slug=raw["slug"],
        section=raw["section"],
        category=raw["category"],
        headline=raw["headline"],
        standfirst=raw.get("standfirst", ""),
        summary=raw.get("summary", ""),
        byline=raw["byline"],
        published=published,
        featured=bool(raw.get("featured", False)),
        brief=bool(raw.get("brief", False)),
        listed=bool(raw.get("listed", True)),
        body=tuple(_block(b, f"{path.name} body[{i}]") for i, b in enumerate(raw["body"])),
        related_slugs=tuple(item["slug"] for item in raw.get("related", [])),
    )


def load(content_dir: Path = CONTENT_DIR) -> Newsroom:
    site_raw = yaml.safe_load((content_dir / "site.yaml").read_text(encoding="utf-8"))
    site = Site(
        name=site_raw["name"],
        tagline=site_raw["tagline"],
        nav=tuple(site_raw["nav"]),
        corrections_note=dict(site_raw["corrections_note"]),
        disclaimer=site_raw["disclaimer"],
    )
    articles = tuple(_article(p) for p in sorted((content_dir / "articles").glob("*.yaml")))
    newsroom = Newsroom(site=site, articles=articles)
    for article in articles:  # fail at start-up, not on a reader's request, when a related slug is wrong
        newsroom.related(article)
    return newsroom


@cache
def newsroom() -> Newsroom:
    return load()
