"""Element sets from the WHATWG tree-construction rules that decide where markup can be spliced safely."""

from __future__ import annotations

# The "formatting elements" of the list of active formatting elements: an unclosed one is reconstructed
# (cloned) into whatever text comes next, which would be inside our unit.
FORMATTING = frozenset(
    {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"}
)

# Elements that push a marker onto the list of active formatting elements; formatting elements opened
# inside them are forgotten when they close.
MARKERS = frozenset({"td", "th", "caption", "applet", "object", "marquee", "template"})

VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "keygen",
        "param",
        "frame",
        "basefont",
        "bgsound",
    }
)

# Start tags that close an open <p> in button scope ("in body" insertion mode). <table> is left out: it
# closes a <p> only outside quirks mode; so are <dialog> and <search>, which older parsers (html5lib, older
# browsers) do not yet treat as closing a <p>.
P_CLOSERS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "details",
        "dir",
        "div",
        "dl",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "header",
        "hgroup",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "section",
        "summary",
        "ul",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "listing",
        "hr",
    }
)

# A unit may not become a child of these. Some change the insertion mode (tables, select, templates,
# foreign content), some hold raw text in a browser (noscript with scripting on), some would be split
# or re-parented by the parser (p, a, buttons, formatting elements), and some are replaced content
# where a block makes no sense (picture, video, figure).
UNSAFE_PARENTS = (
    frozenset(
        {
            "table",
            "tbody",
            "thead",
            "tfoot",
            "tr",
            "colgroup",
            "col",
            "select",
            "option",
            "optgroup",
            "datalist",
            "selectedcontent",
            "template",
            "svg",
            "math",
            "noscript",
            "noembed",
            "noframes",
            "iframe",
            "textarea",
            "title",
            "style",
            "script",
            "xmp",
            "plaintext",
            "p",
            "button",
            "ruby",
            "rb",
            "rt",
            "rp",
            "rtc",
            "head",
            "html",
            "frameset",
            "label",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "picture",
            "video",
            "audio",
            "canvas",
            "map",
            "figure",
            "summary",
            "ul",
            "ol",
            "dl",
            "menu",
            "dir",
            "hgroup",
            "pre",
            "listing",
            "object",
            "applet",
            "marquee",
            "embed",
            "span",
        }
    )
    | FORMATTING
)

# No ancestor of a unit may be one of these: they change the parser's insertion mode or tokenizer state,
# keep formatting elements active (which would be reconstructed inside the unit), or are not rendered as
# ordinary flow content. Above a table cell the check stops: the cell's marker shields what is outside.
UNSAFE_ANCESTORS = (
    frozenset(
        {
            "table",
            "tbody",
            "thead",
            "tfoot",
            "tr",
            "colgroup",
            "select",
            "option",
            "optgroup",
            "datalist",
            "selectedcontent",
            "template",
            "svg",
            "math",
            "noscript",
            "noembed",
            "noframes",
            "iframe",
            "textarea",
            "title",
            "style",
            "script",
            "xmp",
            "plaintext",
            "p",
            "button",
            "ruby",
            "rb",
            "rt",
            "rp",
            "rtc",
            "head",
            "frameset",
            "object",
            "applet",
            "marquee",
            "picture",
            "video",
            "audio",
            "canvas",
            "map",
            "label",
            "summary",
        }
    )
    | FORMATTING
)

CELLS = frozenset({"td", "th", "caption"})

# Parents whose end tag closes an open <p> inside them the same way in every parser generation.
P_CLOSING_PARENTS = frozenset(
    {
        "div",
        "section",
        "article",
        "main",
        "aside",
        "blockquote",
        "header",
        "footer",
        "nav",
        "address",
        "center",
        "details",
        "fieldset",
        "td",
        "th",
        "caption",
        "li",
        "dd",
        "dt",
    }
)
