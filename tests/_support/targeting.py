"""Rule folders with a `when:` for targeting tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from adinject.engine import Rules
from tests._support.engine import UNIT, rules_from

H = {"content-type": "text/html; charset=utf-8"}
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
IPHONE_OLD = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/15.0 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Mobile Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)


def when_rules(tmp_path: Path, when: str, *, extra: str = "", name: str = "r") -> Rules:
    """One rule `name` on /news/**: the `ad` unit after paragraph 1 of `article`, under `when` (YAML)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return rules_from(
        tmp_path,
        f"""\
units:
  ad:
    html: '{UNIT}'
rules:
  - name: {name}
    pages: {{paths: ["/news/**"]}}
    container: article
    when:
{textwrap.indent(textwrap.dedent(when).strip(), "      ")}
    place:
      - unit: ad
        after_paragraph: 1
{extra}""",
    )


def headers(**values: str) -> dict[str, str]:
    out = dict(H)
    out.update({key.replace("_", "-"): value for key, value in values.items()})
    return out
