"""The demo newsroom, through AdInjectMiddleware and the shipped rules: the seed page reads as readers saw it.

The seed page's visible text, from its first paragraph to the corrections note, must be exactly the
non-blank lines of the seed article (paragraphs, the two "Advertisement" labels, the "Other Topics of
Interest" box, the note), in the seed's order. The demo carries the seed in
examples/newsroom/content/seed-article.txt; when the project's shared/reference/seed-article.txt is beside
the checkout, the page is compared with that file too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import html5lib
import pytest
from starlette.testclient import TestClient

from examples.newsroom import RULES_DIR, create_app
from examples.newsroom.content import SEED_SLUG, SEED_TEXT, newsroom
from tests._support.paths import REPO

SHARED_SEED = REPO.parent / "shared" / "reference" / "seed-article.txt"
SEED_URL = f"/world/{SEED_SLUG}"

# Elements that start and end a line of visible text (a reduced `innerText`), and elements never shown.
BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "br", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
}  # fmt: skip
HIDDEN = {"head", "script", "style", "template", "noscript", "title"}


def _tag(element: ET.Element) -> str:
    return element.tag if isinstance(element.tag, str) else ""  # comments have a function as their tag


def parse(html: str) -> ET.Element:
    return html5lib.parse(html, treebuilder="etree", namespaceHTMLElements=False)


def visible_lines(root: ET.Element) -> list[str]:
    """The element's visible text as lines: one per block, whitespace collapsed, blank lines dropped."""
    lines: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        line = " ".join("".join(pending).split())
        if line:
            lines.append(line)
        pending.clear()

    def walk(element: ET.Element) -> None:
        tag = _tag(element)
        if not tag or tag in HIDDEN or "hidden" in element.attrib:
            return
        if tag in BLOCKS:
            flush()
        pending.append(element.text or "")
        for child in element:
            walk(child)
            pending.append(child.tail or "")
        if tag in BLOCKS:
            flush()

    walk(root)
    flush()
    return lines


def seed_lines(path: Path) -> list[str]:
    """The seed file's non-blank lines (the lines holding only a no-break space are blank lines)."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in (e.get("class") or "").split()]


def story_lines(html: str, first: str, last: str) -> list[str]:
    """The page's visible lines from the line `first` to the line `last`, both included."""
    lines = visible_lines(parse(html))
    assert first in lines, f"the first line of the story is not on the page: {first!r}"
    start = lines.index(first)
    assert last in lines[start:], f"the last line of the story is not on the page after its start: {last!r}"
    return lines[start : lines.index(last, start) + 1]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def seed_page(client: TestClient) -> str:
    response = client.get(SEED_URL)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_carried_seed_content_is_the_seed() -> None:
    """The article data carries the seed's nine paragraphs, its related article and its corrections note."""
    news = newsroom()
    expected = seed_lines(SEED_TEXT)
    article = news.by_slug(SEED_SLUG)
    assert len(article.paragraphs) == 9
    related = news.related(article)[0]
    note = news.site.corrections_note
    units = {"Advertisement", "Other Topics of Interest", related["title"], related["summary"]}
    assert [line for line in expected if line not in units][:-2] == article.paragraphs
    assert expected[-2:] == [note["text"] + note["link_text"], note["hint"]]
    assert expected.count(related["title"]) == 2
    assert related["summary"] in expected


def test_seed_page_reads_as_the_seed(seed_page: str) -> None:
    expected = seed_lines(SEED_TEXT)
    assert story_lines(seed_page, expected[0], expected[-1]) == expected


def test_seed_page_matches_the_shared_reference(seed_page: str) -> None:
    if not SHARED_SEED.is_file():
        pytest.skip(
            f"{SHARED_SEED} is absent (no shared/ beside the checkout): compared with the demo's copy only"
        )
    expected = seed_lines(SHARED_SEED)
    assert story_lines(seed_page, expected[0], expected[-1]) == expected
    assert seed_lines(SEED_TEXT) == expected


def test_seed_page_units_sit_between_paragraphs_of_the_body(seed_page: str) -> None:
    root = parse(seed_page)
    (body,) = by_class(root, "article-body")
    kinds = []
    for child in body:
        classes = (child.get("class") or "").split()
        kinds.append("ad" if "ad-slot" in classes else "related" if "recirc" in classes else _tag(child))
    assert kinds == ["p"] * 3 + ["ad"] + ["p"] * 3 + ["related"] + ["p"] * 2 + ["ad"] + ["p"]
    slots = by_class(body, "ad-slot")
    assert len({slot.get("id") for slot in slots}) == 2, "each ad slot needs its own div id"
    for slot in slots:
        assert "min-height:250px" in slot.get("style", "").replace(" ", "")
        assert [e.text for e in by_class(slot, "ad-slot__label")] == ["Advertisement"]
    (box,) = by_class(body, "recirc")
    links = {a.get("href") for a in box.iter("a")}
    assert links == {"/world/zelensky-meets-cia-director-william-burns-in-ukraine"}


def test_related_article_link_works(client: TestClient) -> None:
    response = client.get("/world/zelensky-meets-cia-director-william-burns-in-ukraine")
    assert response.status_code == 200
    assert "Zelensky Meets CIA Director William Burns in Ukraine" in response.text
    # A one-paragraph brief is below the rule's min_paragraphs: no units.
    assert 'class="ad-slot"' not in response.text
    assert 'class="recirc"' not in response.text


def test_front_page_lists_every_article(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    root = parse(response.text)
    links = {(a.get("href"), " ".join("".join(a.itertext()).split())) for a in root.iter("a")}
    listed = newsroom().listed()
    assert len(listed) >= 5
    for article in listed:
        assert (article.url, article.headline) in links, f"{article.url} is not on the front page"


def test_every_article_page_gets_slots(client: TestClient) -> None:
    for article in newsroom().listed():
        response = client.get(article.url)
        assert response.status_code == 200, article.url
        root = parse(response.text)
        (body,) = by_class(root, "article-body")
        slots = by_class(body, "ad-slot")
        assert slots, f"no ad slot on {article.url}"
        assert all(slot in list(body) for slot in slots), f"a slot on {article.url} is not between paragraphs"
        for slot in slots:
            assert "".join(slot.itertext()).strip() == "Advertisement"
        recirc = by_class(body, "recirc")
        assert len(recirc) == 1, f"no related box on {article.url}"
        assert "Other Topics of Interest" in visible_lines(recirc[0])
        # Every counted paragraph is still there, in order, and nothing else was changed in the text.
        assert [" ".join("".join(p.itertext()).split()) for p in body.findall("p")] == article.paragraphs


@pytest.mark.parametrize("path", ["/", "/section/world", "/section/tech", "/about", "/about/corrections"])
def test_pages_outside_the_rules_get_no_units(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert 'class="ad-slot' not in response.text
    assert not by_class(parse(response.text), "ad-slot")
    assert not by_class(parse(response.text), "recirc")


def test_unknown_pages_are_404(client: TestClient) -> None:
    for path in ("/world/no-such-story", "/sport/us-welcomes-russian-asylum-seekers", "/section/sport"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert not by_class(parse(response.text), "ad-slot")


def test_corrections_page_quotes_the_highlighted_text(client: TestClient) -> None:
    response = client.get(
        "/about/corrections", params={"quote": "5,000 to 6,000 <visitors>", "page": SEED_URL}
    )
    assert response.status_code == 200
    assert "5,000 to 6,000 &lt;visitors&gt;" in response.text
    assert f'href="{SEED_URL}"' in response.text


def test_rules_are_found_from_any_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert RULES_DIR == REPO / "rules"
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app()) as elsewhere:
        assert len(by_class(parse(elsewhere.get(SEED_URL).text), "ad-slot")) == 2


def test_shipped_rules_without_related_context() -> None:
    """A page whose app passes no related article still gets its ads, and no (broken) related box."""
    from adinject.engine import load_rules

    with TestClient(create_app(inject=False)) as plain_client:
        plain = plain_client.get(SEED_URL).text
    assert not by_class(parse(plain), "ad-slot")
    result = load_rules(RULES_DIR).apply(
        plain.encode(), url=SEED_URL, headers={"content-type": "text/html; charset=utf-8"}, context={}
    )
    out = result.body.decode()
    assert len(by_class(parse(out), "ad-slot")) == 2
    assert "Other Topics of Interest" not in out
    assert not by_class(parse(out), "recirc")


def test_demo_never_reads_shared() -> None:
    """Nothing in the demo reads the project's shared/ folder at run time: it carries its own content."""
    for path in (REPO / "examples").rglob("*.py"):
        assert "shared" not in path.read_text(encoding="utf-8"), path


def test_main_honours_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from examples.newsroom import __main__ as entry

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    monkeypatch.setenv("ADINJECT_DEMO_HOST", "127.0.0.2")
    monkeypatch.setenv("ADINJECT_DEMO_PORT", "8123")
    entry.main()
    assert seen["host"] == "127.0.0.2"
    assert seen["port"] == 8123
    monkeypatch.delenv("ADINJECT_DEMO_HOST")
    monkeypatch.delenv("ADINJECT_DEMO_PORT")
    entry.main()
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8000)
