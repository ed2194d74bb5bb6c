"""JavaScript literals for values that end up inside an HTML <script> element.

`json.dumps` gives a valid JavaScript literal, but an HTML parser reads a script's text before JavaScript
does: `</script>` in a string would end the element, `<!--` would switch the tokenizer into its escaped
states, and both come from page values (a section called `</script><script>alert(1)//`). So every `<`, `>`
and `&` becomes a `\\u` escape (the string's value is unchanged), and `ensure_ascii` escapes everything
non-ASCII, which covers U+2028 and U+2029 (line terminators to older JavaScript engines) and keeps the
script's bytes the same in any page encoding (a `&#...;` reference would not be decoded inside a script).
The result contains no `<` at all, which `script.py` checks for the whole script.
"""

from __future__ import annotations

import json

_HTML_SIGNIFICANT = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def js(value: object) -> str:
    """`value` (JSON data: text, numbers, booleans, None, lists, dicts) as a literal safe in <script>."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.translate(_HTML_SIGNIFICANT)
