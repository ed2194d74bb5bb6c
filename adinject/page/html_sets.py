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

# No ancestor of a unit may be one of these: they change the parser's insertion mode or tokenizer state,
# keep formatting elements active (which would be reconstructed inside the unit), or are not rendered as
# ordinary flow content. Above a table cell the check stops: the cell's marker shields what is outside.
UNSAFE_ANCESTORS = (
    frozenset(
        {
            # tables (foster parenting), select, templates and foreign content change the insertion mode
            *("table", "tbody", "thead", "tfoot", "tr", "colgroup", "select", "option", "optgroup"),
            *("datalist", "selectedcontent", "template", "svg", "math", "head", "frameset"),
            # raw text in a browser (noscript with scripting on), and replaced or interactive content
            *("noscript", "noembed", "noframes", "iframe", "textarea", "title", "style", "script", "xmp"),
            *("plaintext", "p", "button", "label", "summary", "ruby", "rb", "rt", "rp", "rtc"),
            *("object", "applet", "marquee", "picture", "video", "audio", "canvas", "map"),
        }
    )
    | FORMATTING
)

# A unit may not become a child of these either: block content that a browser would accept there but that
# breaks the page's own structure (lists, headings, preformatted text, inline containers).
UNSAFE_PARENTS = UNSAFE_ANCESTORS | frozenset(
    {
        *("col", "html", "embed", "span", "figure", "hgroup", "pre", "listing"),
        *("ul", "ol", "dl", "menu", "dir", "h1", "h2", "h3", "h4", "h5", "h6"),
    }
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


# Inline elements that continue a run of text; anything else (a block, a <p>) ends the run.
INLINE = frozenset(
    {
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "code",
        "data",
        "dfn",
        "em",
        "font",
        "i",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "time",
        "tt",
        "u",
        "var",
        "wbr",
        "big",
        "nobr",
    }
)

# What a reader sees of an element, for telling where text and media sit. CODE holds text no reader sees;
# UNRENDERED adds what renders as nothing of its own; BOXES render as a box of their own whatever they hold
# (not <hr>: placement decides for itself what a thematic break is).
CODE = frozenset({"script", "style", "template", "noscript"})
UNRENDERED = CODE | {"meta", "link", "base", "title", "br", "wbr", "param", "source", "track"}
BOXES = frozenset(
    {"img", "iframe", "video", "audio", "embed", "object", "canvas", "svg", "math", "picture", "input"}
    | {"button", "select", "textarea", "meter", "progress", "applet", "frame", "frameset"}
)
