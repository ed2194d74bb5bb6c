"""Whether a paragraph reads as running prose of the article, and if not, which signal says so.

News templates put lines inside the article body that are not the article: datelines, bylines and
credits, "Filed under" and related-link lines, calls to action, disclosures, captions, subheadings written
as paragraphs. Counting them moves every "after paragraph N" (see ../shared/notes/article-text.md). The
signals are the cheap ones boilerplate removal has long relied on (jusText, Readability): link density,
length, the opening words, typography (all capitals, bold only, no closing punctuation), date and time
tokens, function-word (stopword) density, and the neighbours of a short line.

Cost matters: this runs on every uncached page. A long paragraph is only checked for its links and its
class; one of 45 words or fewer also for its first word (a set lookup; the opening regex runs only when
that word starts some boilerplate line); the features that read the whole text are computed for short
lines only, where they are cheap and where almost all boilerplate lives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Protocol

from turbohtml import Element, Text

from adinject.lru import CACHED_KEY_CHARS

# Paragraphs up to this many words are checked for their opening words (bylines, labels, calls to
# action, disclosures); longer ones are read as prose unless they are mostly link text.
_OPENING_MAX_WORDS = 45
# Up to this many words a line is "short": its typography, dates and stopwords are read, and a line
# that ends without sentence punctuation is taken for a label or subheading, not a paragraph.
_SHORT_MAX_WORDS = 12
# A short line with closing punctuation but with this few words and no function word is undecided: it
# counts when a neighbouring paragraph reads as prose (a line of dialogue), not among boilerplate.
_TERSE_MAX_WORDS = 5
_BYLINE_MAX_WORDS = 15
_DATELINE_MAX_WORDS = 20

# The lines that are boilerplate by their opening words, one named group per kind (English first, with
# the commonest forms in French, Spanish, Portuguese, German and Italian). Matched against the start only.
_OPENING = re.compile(
    r"""\s*+(?:
    (?P<byline>(?:by|written\ by|words\ by|story\ by|reporting\ by|edited\ by|posted\ by|text\ by|
        von|par|por|door|di)\s+(?=\w))
    |(?P<credit>(?:photo|photograph|photography|image|picture|illustration|graphic|video|source|credit|
        top\ photo|cover\ photo|header\ image|featured\ image|foto|bild|imagen|crédit|quelle|fuente)s?
        (?:\ (?:by|credit|courtesy))?\s*[:|/]|(?:photo|image|video|illustration)\ by\b|
        getty\ images\b|ap\ photo\b|image\ (?:copyright|caption|source)\b|
        (?:原标题|責任編輯|责任编辑|編輯|编辑|来源|來源|作者|图注|圖說|图片来源|摄影|攝影|记者|記者|
        写真|画像|撮影|사진|출처|자료)\s*[:：︱|=＝])
    |(?P<dateline>(?:updated|published|posted|last\ updated|last\ modified|first\ published|modified|
        publié|mis\ à\ jour|actualizado|publicado|atualizado|aktualisiert|veröffentlicht|aggiornato|
        pubblicato)\b)
    |(?P<tags>(?:filed\ under|tags?|tagged|topics?|categories|category|posted\ in|keywords|more\ on|
        more\ about|themen|étiquettes|etiquetas|temas|mots-clés|schlagworte)\s*:)
    |(?P<related>(?:related|read\ more|read\ also|also\ read|see\ also|read\ next|recommended|
        further\ reading|more\ from|more\ stories|more\ coverage|watch|listen|read|explore|lire\ aussi|
        à\ lire\ aussi|lee\ también|leia\ também|leia\ mais|mehr\ zum\ thema|lesen\ sie\ auch|
        leggi\ anche)\b[^.!?\n]{0,60}?[:›»|]
        |more(?:\ [^\s:.!?]+){0,2}\s*:
        |you\ (?:may|might)\ also\ (?:like|enjoy)|recommended\ for\ you|関連記事|관련\ ?기사)
    |(?P<cta>(?:subscribe|sign\ up|signup|sign-up|
        follow\ (?:us|me|@|[^.!?\n]{0,50}?\ on\ (?:twitter|x|facebook|instagram|tiktok|youtube|linkedin|
            threads|bluesky|mastodon|flipboard|google\ news|whatsapp|telegram|snapchat)|[^.!?\n]{0,40}?:)|
        join\ (?:us|our|the\ (?:conversation|discussion|community))|download\ (?:the|our|now)|
        get\ (?:the\ latest|our|the\ best\ of)|share\ (?:this|it|on|via|your|the\ (?:story|article))|
        like\ this\ (?:story|article|post)|click\ (?:here|the\ link|to|on\ the\ link)|tap\ (?:here|to)|
        check\ out\ (?:our|more|all|the\ (?:full|latest|rest))|don['’]?t\ miss|never\ miss|
        tell\ us|send\ us|email\ us|contact\ us|leave\ a\ comment|submit\ (?:a\ comment|comments|your)|
        support\ (?:us|our)|donate|
        become\ a\ (?:member|subscriber|patron)|register\ (?:now|for|here|today)|
        listen\ to\ (?:the|our)\ (?:full|latest|podcast)|watch\ (?:the|our)\ (?:full|latest)|want\ more|
        like\ what\ you|enjoy(?:ed)?\ this|we['’]?re\ interested\ in\ your\ feedback|
        (?:if\ you\ |do\ you\ )?(?:have|got)\ a\ (?:[\w-]+\ ){0,2}(?:tip|story|suggestion)\b|
        read\ (?:the\ )?(?:full|original|complete)\ (?:story|article|report)|
        (?:contact|email)\ [^.!?\n]{0,40}?\ at\ \S+@|
        for\ (?:more|the\ latest)\b[^.!?\n]{0,60}?\b(?:follow|subscribe|sign\ up|download|like\ us)|
        abonnez-vous|suivez-nous|suscríbete|síguenos|inscreva-se|
        abonnieren\ sie|folgen\ sie)\b)
    |(?P<disclosure>(?:advertiser\ disclosure|affiliate\ (?:link|disclosure)|
        sponsored\ (?:by|content|post)|paid\ (?:post|content|partnership)|
        this\ (?:post|article|page|story|content)\ (?:may\ )?contains?\ affiliate|
        (?:we|i)\ (?:may\ )?(?:earn|receive|get)\ (?:a\ )?(?:small\ )?(?:commission|compensation)|
        as\ an\ amazon\ associate|
        (?:when|if)\ you\ (?:buy|purchase|shop|click|sign\ up)[^.!?\n]{0,80}?\b(?:commission|compensat|earn)|
        (?:we|our\ editors)\ independently\ (?:select|review|choose|research)|
        all\ rights\ reserved|
        a\ version\ of\ this\ (?:article|story)\ (?:appears|appeared)|
        (?:this\ (?:article|story|post)\ )?(?:was\ )?originally\ (?:published|appeared|posted)
        )\b|(?:disclosure|disclaimer)\s*:|copyright\s*(?:©|\(c\)|\d{4})|©|
        無断(?:で)?(?:転載|複製|転用|使用)|저작권자|무단\ ?(?:전재|복제|배포)|
        (?:terms\ of\ (?:use|service)|privacy\ policy)\s*(?:[|·•,.]|$))
    |(?P<note>(?:correction|clarification|editor['’]?s\ note|editors['’]?\ note|update)\s*[:—–-]|
        this\ (?:version|story|article)\ (?:has\ been\ |was\ )?(?:corrects|updated|corrected|amended)\b)
    |(?P<label>(?:bio|about\ the\ author|advertisement|sponsored\ content|coordinates|ad|anzeige|
        publicité|publicidad)\s*(?::|$))
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# The first words of the lines above: the regex runs only on a paragraph that opens with one of them (or
# with ©), which settles almost every paragraph of a story with one small match and a set lookup.
_FIRST_WORD = re.compile(r"\s*+([^\W\d_]+|©)")
_OPENING_WORD_LIST = """
    by written words story reporting edited posted text von par por door di photo photos photograph
    photographs photography image images picture pictures illustration illustrations graphic graphics
    video videos source sources credit credits top cover header featured foto fotos bild bilder imagen
    imagens crédit crédits quelle quellen fuente fuentes getty ap updated published last first modified
    publié mis actualizado publicado atualizado aktualisiert veröffentlicht aggiornato pubblicato filed
    tag tags tagged topic topics categories category keywords more themen étiquettes etiquetas temas
    mots schlagworte related read also see recommended further from watch listen explore lire à lee
    leia mehr lesen leggi you subscribe sign signup follow join download get share like click tap check
    don never tell send email contact leave submit support donate become register want enjoy enjoyed
    we have got abonnez suivez suscríbete síguenos inscreva abonnieren folgen disclosure disclaimer
    advertiser affiliate sponsored paid this i as copyright all a terms privacy originally was when if our
    for correction
    clarification editor editors update bio about advertisement coordinates ad anzeige publicité
    publicidad 原标题 責任編輯 责任编辑 編輯 编辑 来源 來源 作者 图注 圖說 图片来源 摄影 攝影 记者 記者
    写真 画像 撮影 関連記事 無断 사진 출처 자료 관련기사 관련 저작권자 무단
"""
_OPENING_WORDS = frozenset(_OPENING_WORD_LIST.split()) | {"©"}
# Chinese and Japanese write no space after a line's first word, so its run of letters may go on into the
# sentence ("無断転載を禁じます"): their opening words are also looked up by their first two characters.
_OPENING_PREFIXES = frozenset(word[:2] for word in _OPENING_WORDS if ord(word[0]) >= 0x1100)  # Hangul, CJK
# The same pattern without IGNORECASE, for ASCII text lower-cased first (every letter in it is lower-case):
# the regex engine then compares characters as they are, twice as fast. Lower-casing ASCII keeps every
# offset, and no ASCII character matches a non-ASCII letter of the pattern either way.
_OPENING_LOWER = re.compile(_OPENING.pattern, re.VERBOSE)
_KIND = {
    "byline": "byline or credit line",
    "credit": "photo or source credit",
    "dateline": "dateline or timestamp line",
    "tags": "tag or category line",
    "related": "related-link line",
    "cta": "call to action",
    "disclosure": "disclosure, rights or print-edition line",
    "note": "correction or editor's note",
    "label": "label line",
}

# Month names and abbreviations, times, time zones, weekdays: what a dateline is made of (with numbers).
_DATE_WORD_LIST = """
    jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august
    september october november december mon tue tues wed thu thur thurs fri sat sun monday tuesday
    wednesday thursday friday saturday sunday am pm a.m p.m gmt utc bst cet cest et est edt pt pst pdt ct
    cst cdt hkt ist jst updated published posted on at de le el um uhr h min ago hour hours minute minutes
    day days
"""
_DATE_WORDS = frozenset(_DATE_WORD_LIST.split())
_WORDISH = re.compile(r"[^\W_]+(?:\.[^\W_]+)*", re.UNICODE)

# The commonest function words of English, French, Spanish, Portuguese, German, Italian and Dutch: running
# prose is full of them, bylines, labels and navigation are not. A language not listed has none, and its
# short lines are then judged by their punctuation and neighbours alone.
_STOPWORD_LIST = """
    a about after all also an and any are as at be because been but by can could did do does for from had
    has have he her his how i if in into is it its just may me more most my no not of on one or our out she
    so some than that the their them then there these they this those to up was we were what when where
    which while who will with would you your
    au aux avec ce ces dans de des du elle en est et il ils je la le les leur lui mais ne nous on ou par pas
    pour qu que qui sa se ses son sur un une vous y été être
    al como con del el en es esta este han hay la las lo los más no para pero por que se ser sin sobre su sus
    un una uno y ya
    ao às com da das do dos em foi isso mas na nas no nos os para pela pelo que se sem seu sua são um uma
    als auch auf aus bei bis das dass dem den der des die ein eine einen er es für hat ich im ist mit nach
    nicht noch nur oder sich sie sind so um und von vor war wie wir wird zu zum zur über
    che chi con cui da dal dalla degli dei del della di gli ha il in la le lo nel nella non per più si sono
    su tra un una
    aan bij dat de die dit een en het hij in is met na niet om ook op te van voor was wat ze zijn
"""
_STOPWORDS = frozenset(_STOPWORD_LIST.split())
# Sentence-closing punctuation in the scripts news is written in, and the quotes and brackets that may
# follow it ("… he said." or "Yes!").
_CLOSING = frozenset(".!?…:;,。！？：；，؟۔।॥։።။།")
_AFTER_CLOSING = "\"'”’»›)]」』】）"
_BOLD = frozenset({"b", "strong"})
_ROLE_LIST = "reporter editor correspondent writer columnist contributor producer photographer staff author"
_ROLES = frozenset(f"{_ROLE_LIST} analyst critic journalist".split())


class Paragraph(Protocol):
    """A paragraph still counted after the rule's other checks: its element, text and word count."""

    @property
    def el(self) -> Element: ...

    @property
    def words(self) -> int: ...


def judge(paragraphs: Sequence[Paragraph], texts: Sequence[str], max_link_density: float) -> list[str | None]:
    """For each paragraph (in page order, with its text), why it is not article prose, or None.

    Lines too short to judge alone ("undecided") take their neighbours' verdict: they count when the
    nearest decided paragraph before or after them reads as prose.
    """
    links_wanted = max_link_density < 1.0
    verdicts: list[str | None] = []
    unclosed: list[int] = []
    # The two checks every paragraph gets are made here, inline: most paragraphs of a story are settled by
    # them, and a call per paragraph is a good part of the judgement's cost.
    for i, (p, text) in enumerate(zip(paragraphs, texts, strict=True)):
        el = p.el
        words = p.words
        verdict = None
        # Most paragraphs hold no link: select_one answers that at half the cost of select.
        if links_wanted and el.select_one("a") is not None:
            verdict = _link_verdict(el.select("a"), text, words, max_link_density)
        if verdict is None:
            names = el.attr("class")  # a string, and several times cheaper than reading el.attrs
            if names:
                verdict = (_MARKED_BY_CLASS if len(names) <= CACHED_KEY_CHARS else _marked_by_class)(names)
            if verdict is None and words <= _OPENING_MAX_WORDS:
                verdict = _judge_opening(el, text, words)
                if verdict is _UNCLOSED:
                    unclosed.append(i)
        verdicts.append(verdict)
    for i in unclosed:
        # The sentence goes on in the next block (a line break, not a heading) only when that block reads
        # as prose or is undecided: "Links" above a list of link lines is a label.
        following = verdicts[i + 1] if i + 1 < len(verdicts) else "none"
        if following in (None, _UNDECIDED, _UNCLOSED) and _starts_lower(texts[i + 1]):
            verdicts[i] = _UNDECIDED
        else:
            words = paragraphs[i].words
            verdicts[i] = f"short line without closing punctuation ({words} words): a subheading or label"
    undecided = [i for i, verdict in enumerate(verdicts) if verdict is _UNDECIDED]
    if undecided:
        _smooth(verdicts, undecided)
    return verdicts


def _smooth(verdicts: list[str | None], undecided: list[int]) -> None:
    """Give each undecided line the verdict of its nearest decided neighbours: prose if either is prose.

    Two passes, one each way, so that a page of ten thousand undecided lines costs ten thousand steps."""
    before = _prose_so_far(verdicts)
    after = _prose_so_far(verdicts[::-1])[::-1]
    for i in undecided:
        verdicts[i] = None if before[i] or after[i] else "short line with no article prose next to it"


def _prose_so_far(verdicts: list[str | None]) -> list[bool]:
    """For each position, whether the nearest decided verdict at or before it is prose."""
    out: list[bool] = []
    last = False
    for verdict in verdicts:
        if verdict is not _UNDECIDED:
            last = verdict is None
        out.append(last)
    return out


_TEXT_OF = attrgetter("text")
_UNDECIDED = "undecided"
_UNCLOSED = "unclosed"
_FIRST_LETTER = re.compile(r"\W*+(\w)")


def _starts_lower(text: str) -> bool:
    first = _FIRST_LETTER.match(text)
    return first is not None and first.group(1).islower()


def _link_verdict(links: list[Element], text: str, words: int, max_link_density: float) -> str | None:
    linked = "".join(map(_TEXT_OF, links))
    # Every word is at least one visible character, so a paragraph whose link text is within the limit of
    # its word count is within the limit of its visible characters: settled without counting those, first
    # by the raw length of the link text, then by its visible length (short, so cheap to count).
    limit = max_link_density * words
    if len(linked) <= limit:
        return None
    shown = _visible(linked)
    if shown <= limit:
        return None
    share = _link_share(shown, text)
    if share > max_link_density:
        return f"{share:.0%} link text, over max_link_density {max_link_density:g}"
    return None


def _judge_opening(el: Element, text: str, words: int) -> str | None:
    """The checks for a paragraph of _OPENING_MAX_WORDS words or fewer, once its links and class passed."""
    first = _FIRST_WORD.match(text)
    word = first[1] if first is not None else None  # a run of letters, or "©"
    if word is not None and (
        (lowered := word.lower()) in _OPENING_WORDS
        or (not lowered.isascii() and lowered[:2] in _OPENING_PREFIXES)
    ):
        opening = _OPENING_LOWER.match(text.lower()) if text.isascii() else _OPENING.match(text)
        if opening is not None:
            kind = opening.lastgroup or ""
            if _opening_holds(kind, text, opening, words):
                start = " ".join(text.split()[:3])
                return f"{_KIND[kind]} (starts {start!r})"
    if words <= _CAPTION_MAX_WORDS:
        # A bracket can only open a paragraph that opens with no letter (the first word's match failed).
        if word is None and _BRACKETED_CREDIT.match(text):
            return "a note or credit in brackets"
        if "contributed" in text and _CONTRIBUTED.search(text):
            return "credit line (… contributed to this report)"
        # Both gates inline (they settle almost every line): a capital first, then a verb _AUTHOR needs.
        if word is not None and word[0].isupper() and (" is " in text or "cover" in text or "report" in text):
            credit = _author_line(text)
            if credit is not None:
                return credit
        italic = el.tag != "br" and el.select_one(_ITALIC_SELECTOR) is not None
        if italic and _under_media(el) and _only_inside(el, _ITALIC):
            return "caption (an italic line right under an image)"
    if words > _SHORT_MAX_WORDS:
        return None
    return _judge_short(el, text, words)


# Class names templates give the lines that are not the article: a paragraph carrying one is left out.
_CLASS_HINT = re.compile(
    r"caption|credit|byline|dateline|timestamp|author|tags|related|newsletter|subscribe|promo|disclaimer|"
    r"disclosure|sponsor|share|social|advert|correction|footnote|endnote|copyright|signup"
)


def _marked_by_class(names: str) -> str | None:
    # Sibling paragraphs mostly share one class attribute (a template's "paragraph" or "css-1x2y3z"): the
    # regex runs once per distinct value, as _blob_weight does in container.py.
    found = _CLASS_HINT.search(names.lower())
    if found is None:
        return None
    shown = names.strip()
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return f"its class says {found.group(0)} ({shown!r})"


# Sibling paragraphs mostly share one class attribute: once per distinct value (see CACHED_KEY_CHARS).
_MARKED_BY_CLASS = lru_cache(maxsize=4096)(_marked_by_class)


_CAPTION_MAX_WORDS = 30
# Wire services close a story with its credits in brackets: "(Reporting by Jane Doe in London; Editing by
# John Roe)". A bracketed aside of the story's own ("(He declined to comment.)") names no such role.
_BRACKETED_CREDIT = re.compile(
    r"\s*[(\[][^()\[\]]*\b(?:reporting|editing|writing|compiled|produced|translated|translation|graphics?|"
    r"photos?|additional\ reporting)\ by\b[^()\[\]]*[)\]]\W*$",
    re.IGNORECASE | re.X,
)
_CONTRIBUTED = re.compile(
    r"\bcontributed\ (?:reporting\ )?to\ this\ (?:report|story|article)", re.IGNORECASE | re.X
)
# The lines at an article's foot that name its authors: "Laurie Oakes is the Nine Network political
# editor.", "Steven Mufson covers the White House.", "Stella Kim reported from Seoul, and …". A name of
# one to four capitalised words opens them; after "is a" a newsroom role must follow, since a sentence
# about someone's job opens the same way (mid-story, such a line would cost one paragraph's shift).
_AUTHOR = re.compile(
    r"\s*+(?:[A-Z][\w.'’-]*\ ){1,4}(?:(?P<is>is\ (?:a|an|the)\b)|covers\b|has\ covered\b|"
    r"(?:reported|reporting)\ from\b)"
)
_AUTHOR_ROLE = re.compile(
    r"\b(?:reporter|editor|writer|correspondent|columnist|journalist|producer|historian|critic|"
    r"contributor|photographer|author)s?\b",
    re.IGNORECASE,
)


def _author_line(text: str) -> str | None:
    """(Asked only of a line holding one of the verbs _AUTHOR needs after the name.)"""
    found = _AUTHOR.match(text)
    if found is None:
        return None
    if found.group("is") and _AUTHOR_ROLE.search(text, found.end(), found.end() + 80) is None:
        return None
    return f"author bio or credit line (starts {' '.join(text.split()[:3])!r})"


_ITALIC = frozenset({"em", "i", "small", "figcaption", "cite"})
_ITALIC_SELECTOR = ", ".join(sorted(_ITALIC))
_MEDIA = frozenset({"img", "picture", "figure", "video", "iframe", "svg", "canvas"})


def _under_media(el: Element) -> bool:
    """Whether the element right before this one (whitespace aside) is, or only holds, an image or video."""
    for before in el.previous_siblings:
        if isinstance(before, Element):
            return before.tag in _MEDIA or _only_media(before, 2)
        if isinstance(before, Text) and before.data.strip():
            return False
    return False


def _only_media(el: Element, depth: int) -> bool:
    """Whether `el` holds an image or video and nothing else (a linked image, a <p> around a <picture>).

    Read child by child, a few levels and children deep at most: the element before a paragraph may be a
    large block, and reading all its text would cost more than the whole judgement."""
    found = False
    for count, child in enumerate(el.children):
        if count > 6:
            return False
        if isinstance(child, Text):
            if child.data.strip():
                return False
        elif isinstance(child, Element):
            if child.tag in _MEDIA or (depth > 0 and _only_media(child, depth - 1)):
                found = True
            elif child.tag not in ("br", "source"):
                return False
    return found


def _opening_holds(kind: str, text: str, opening: re.Match[str], words: int) -> bool:
    """Opening words alone overreach for some kinds: "By Tuesday, the storm had passed" is prose."""
    if kind == "byline":
        return words <= _BYLINE_MAX_WORDS and _names_only(text[opening.end() :])
    if kind == "dateline":
        # Mostly dates and times: "Updated figures show …" is a sentence.
        return words <= _DATELINE_MAX_WORDS and _date_share(text) >= 0.5
    if kind in ("cta", "related", "label", "tags", "note"):
        # A long paragraph opening so is the article going on ("Update: since this story ran, the
        # company has said …"), not a line about it.
        return words <= 30
    return True


# Words a byline may hold besides names: "By Jane Doe and John Roe in Paris | Source: Reuters".
_BYLINE_WORDS = frozenset({"by", "and", "in", "on", "at", "the", "for", "of", "with", "y", "et", "und", "e"})


def _names_only(rest: str) -> bool:
    """Whether the words after "By" are names (capitalised, no function words but a byline's own)."""
    names = [t for t in _WORDISH.findall(rest) if not t.isdigit() and t.lower() not in _BYLINE_WORDS]
    if not names or not names[0][0].isupper():
        return False
    if any(t.lower() in _STOPWORDS for t in names):
        return False
    return sum(1 for t in names if t[0].isupper()) >= 0.7 * len(names)


# Past this many characters a line is no label, whatever its word count: Thai, Lao or Khmer write
# paragraphs of a few space-separated runs and no closing punctuation.
_SHORT_MAX_CHARS = 120


def _judge_short(el: Element, text: str, words: int) -> str | None:
    line = text.strip()
    if len(line) > _SHORT_MAX_CHARS:
        return None
    if _LETTER.search(line) is None:
        return "no letters: numbers or symbols only (a chart label or separator)"
    if line[0] in _OPENERS and line[-1] in _CLOSERS:
        return "a note or credit in brackets"
    if _all_capitals(line):
        return "short all-capitals line (a label or subheading)"
    if _DIGIT.search(line) is not None and _date_share(line) >= 0.6:
        return "dateline or timestamp line"
    if not _closed(line):
        if line[0].islower():
            return _UNDECIDED  # the rest of a sentence an embed or a code block cut in two
        if _only_inside(el, _BOLD):
            return "short bold line without closing punctuation (a subheading)"
        tokens = line.split()
        if 2 <= len(tokens) <= 6 and tokens[-1].lower().strip(",.") in _ROLES:
            return "byline or credit line (a name and a role)"
        return _UNCLOSED
    if words <= _TERSE_MAX_WORDS and _stopword_share(line, skip=0) == 0.0:
        return _UNDECIDED
    return None


# Brackets a short line may stand in whole, as a note or a credit: "(AP)", "（共同）", "<저작권자 © …>".
_OPENERS = "([（［【〔〈《<＜"
_CLOSERS = ")]）］】〕〉》>＞"


# A footnote or citation mark after the last sentence: "… was born. [M1]", "… Foundation:[41]".
_TRAILING_MARK = re.compile(r"\s*\[[^\[\]]{1,12}\]$")


def _closed(line: str) -> bool:
    """Whether the line ends as a sentence does (or a clause: "…, either", "…:")."""
    if line.endswith("]"):
        line = _TRAILING_MARK.sub("", line)
    return line.rstrip(_AFTER_CLOSING)[-1:] in _CLOSING


_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")


def _all_capitals(line: str) -> bool:
    if not line.isupper():
        return False
    # str.isupper() is true for "TNW中文站" too: every letter must have a case and be a capital.
    letters = [ch for ch in line if ch.isalpha()]
    return len(letters) > 1 and all(ch.isupper() for ch in letters)


def _link_share(shown: int, text: str) -> float:
    """The share of the paragraph's visible characters (whitespace aside) that sit inside its links
    (`shown`: the visible characters of their text)."""
    total = _visible(text)
    if total == 0:
        return 0.0
    return min(1.0, shown / total)


def _visible(text: str) -> int:
    if text.isascii():
        # One pass in C that drops the three (no-break spaces are not ASCII): faster than three counts.
        return len(text.encode("ascii").translate(None, b" \n\t"))
    # Each count runs in C; splitting and joining would copy the text twice.
    return len(text) - text.count(" ") - text.count("\n") - text.count("\t") - text.count("\xa0")


def _stopword_share(text: str, skip: int) -> float:
    tokens = _WORDISH.findall(text.lower())[skip:]
    if not tokens:
        return 0.0
    return sum(1 for t in tokens if t in _STOPWORDS) / len(tokens)


def _date_share(line: str) -> float:
    tokens = _WORDISH.findall(line)
    if not tokens:
        return 0.0
    return sum(1 for t in tokens if t[0].isdigit() or t.lower() in _DATE_WORDS) / len(tokens)


_SELECTORS = {tags: ", ".join(sorted(tags)) for tags in (_ITALIC, _BOLD)}


def _only_inside(el: Element, tags: frozenset[str]) -> bool:
    """Whether every piece of text in the paragraph sits in one of `tags` (at any depth below it)."""
    if el.tag == "br":
        return False
    inner = [e for e in el.select(_SELECTORS[tags]) if not _nested_in(e, el, tags)]
    if not inner:
        return False
    styled = sum(len("".join(e.text.split())) for e in inner)
    return styled > 0 and styled >= len("".join(el.text.split()))


def _nested_in(inner: Element, stop: Element, tags: frozenset[str]) -> bool:
    # An <i> inside another <em>: its text is counted with the outer one.
    walker = inner.parent
    while isinstance(walker, Element) and walker is not stop:
        if walker.tag in tags:
            return True
        walker = walker.parent
    return False
