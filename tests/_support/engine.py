"""Small builders for engine tests: rule folders and article pages whose paragraphs we can count by eye."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from adinject.engine import Rules, load_rules

UNIT = '<div class="ad" id="{{ slot.id }}">AD after {{ slot.paragraph }}</div>'
UNIT_RE = re.compile(rb'<div class="ad" id="[^"]*">AD after (\d+)</div>')


def rules_from(tmp_path: Path, text: str, name: str = "rules.yaml") -> Rules:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return load_rules(folder)


def simple_rules(tmp_path: Path, place: str, *, extra: str = "", unit: str = UNIT) -> Rules:
    """One rule on /news/**, container article, every <p> of 1+ words counted, with the given `place` list."""
    defaults = "".join(
        f"    {key}: 1\n" for key in ("min_paragraph_words", "min_paragraphs") if f"{key}:" not in extra
    )
    return rules_from(
        tmp_path,
        f"""\
units:
  ad:
    html: '{unit}'
rules:
  - name: r
    pages: {{paths: ["/news/**"]}}
    container: article
{defaults}{extra}    place:
{place}""",
    )


def paragraph(i: int, words: int = 10) -> str:
    return f"<p>Paragraph {i} " + " ".join(f"w{i}x{j}" for j in range(words - 2)) + ".</p>\n"


def article(n: int, *, words: int = 10, between: dict[int, str] | None = None, head: str = "") -> bytes:
    """An article of `n` paragraphs; `between[k]` is markup placed right after paragraph k."""
    between = between or {}
    body = "".join(paragraph(i, words) + between.get(i, "") for i in range(1, n + 1))
    return (
        f"<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title>{head}</head>"
        f"<body><article>\n{body}</article></body></html>"
    ).encode()


def placed_after(body: bytes) -> list[int]:
    """The paragraph numbers units say they follow, in page order (read from the output, not the report)."""
    return [int(m.group(1)) for m in UNIT_RE.finditer(body)]


def follows(body: bytes) -> list[int]:
    """For each unit in the output, the number of the <p> right before it, read from the page text."""
    out: list[int] = []
    for m in UNIT_RE.finditer(body):
        before = body[: m.start()]
        last = before.rfind(b"<p>Paragraph ")
        number = before[last + len(b"<p>Paragraph ") :].split(b" ", 1)[0]
        out.append(int(number))
    return out


# Ten kinds of element, a unit asked after every one of each: the harshest rules for the first law.
EVERYWHERE_TAGS = ("p", "div", "table", "li", "img", "br", "blockquote", "section", "span", "h2")


def everywhere_rules(unit_html: str, tags: Sequence[str] = EVERYWHERE_TAGS) -> str:
    """A rule file placing `unit_html` after every element of each of `tags` in the whole page."""
    rules = "".join(
        f"  - name: after-{tag}\n    container: [html]\n    paragraphs: '{tag}'\n    ignore_inside: []\n"
        "    min_paragraph_words: 0\n    min_paragraphs: 1\n"
        # Every element, prose or not: these rules test where a unit may go, not which lines are the article.
        "    boilerplate_filter: false\n"
        "    place: [{unit: u, after_paragraph: 1, repeat_every: 1}]\n"
        for tag in tags
    )
    return f"units:\n  u:\n    html: '{unit_html}'\nrules:\n{rules}"


# Markup that stresses how the parser re-opens formatting elements, fosters table content and switches
# insertion modes. <template> is left out: html5lib, the reference judge, re-opens formatting elements
# after a template, which browsers (and turbohtml) do not, so it would report units that are fine.
MARKUP_PIECES = (
    *("<p>", "</p>", "<b>", "</b>", "<i>", "</i>", "<a href=x>", "</a>", "<div>", "</div>", "text ", " "),
    *("<table>", "</table>", "<tr>", "<td>", "</td>", "<caption>", "</caption>", "<select>", "<option>"),
    *("</select>", "<textarea>", "</textarea>", "<script>x</script>", "<svg>", "</svg>", "<iframe>"),
    *("</iframe>", "<br>", "<img>", "<li>", "</li>", "<ul>", "</ul>", "<blockquote>", "</blockquote>"),
    *("<span>", "</span>", "<h2>", "</h2>", "<section>", "</section>", "<nobr>", "</nobr>", "<em>"),
    *("</em>", "<object>", "</object>", "<marquee>", "</marquee>", "<noscript>", "</noscript>"),
    *("<title>t</title>", "<button>", "</button>", "<!-- c -->", "<font>", "</font>", "<form>", "</form>"),
    *("<applet>", "</applet>", "<math>", "</math>", "<dialog>", "</dialog>", "<dd>", "<pre>", "</pre>"),
)


def sentences_before_units(body: bytes, unit: str) -> list[str]:
    """For each `unit` in the output, the number N of the last "Sentence N" before it ('' if none): the
    small shape tests write each paragraph as "Sentence N …"."""
    out: list[str] = []
    for chunk in body.split(unit.encode())[:-1]:
        last = chunk.rfind(b"Sentence ")
        out.append(chunk[last + len(b"Sentence ") :].split(b" ", 1)[0].decode() if last >= 0 else "")
    return out
