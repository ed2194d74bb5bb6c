"""The rules and page the preview tests (and the debug view's) draw on."""

from __future__ import annotations

RULES = """\
units:
  ad:
    html: '<div class="ad" id="{{ slot.id }}">Advertisement</div>'
  box:
    html: '<aside class="box">More</aside>'
rules:
  - name: news
    pages: {paths: ["/news/**"]}
    container: article
    min_paragraph_words: 4
    ignore_inside: [blockquote]
    place:
      - unit: ad
        after_paragraph: 2
        repeat_every: 3
      - unit: box
        after_paragraph: 40
  - name: also
    pages: {paths: ["/news/**"]}
    container: article
    min_paragraph_words: 1
    ignore_inside: [blockquote]
    place:
      - unit: box
        after_paragraph: 1
"""


def page(paragraphs: int = 7, *, newline: str = "\n", extra: str = "") -> bytes:
    body = newline.join(
        f"<p>Paragraph {n}: naïve café crème, with enough words.</p>" for n in range(1, paragraphs + 1)
    )
    html = (
        f"<!doctype html>{newline}<html><head><meta charset=utf-8><title>Ünïcode</title></head>{newline}"
        f"<body><article>{newline}{body}{newline}<p>Short one.</p><blockquote><p>Quoted words in a quote here."
        f"</p></blockquote>{extra}</article>{newline}</body></html>{newline}"
    )
    return html.encode()
