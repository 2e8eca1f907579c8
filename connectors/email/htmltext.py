"""Text forms of a mail body: HTML to readable plain text, sanitised HTML, RFC 3676
format=flowed.

Part of the parsing layer (pure: no storage, no network); used by :mod:`.parse`.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import nh3

from .decode import CONTROL_CHARS

__all__ = ["clean_html", "html_to_text", "unflow"]

_NH3_SCHEMES = set(nh3.ALLOWED_URL_SCHEMES) | {"cid", "data"}
_NH3_DROP = {"script", "style", "title", "head", "noscript", "template"}
_NH3_TAGS = set(nh3.ALLOWED_TAGS) - _NH3_DROP


def _nh3_attribute(tag: str, attribute: str, value: str) -> str | None:
    """data: URLs only as embedded images, never as links or other targets."""
    if value.strip().lower().startswith("data:"):
        embedded = tag == "img" and attribute == "src"
        return value if embedded and value.strip().lower().startswith("data:image/") else None
    return value


def clean_html(html: str) -> str:
    """HTML safe to show: no scripts, styles, event handlers or javascript: links."""
    return nh3.clean(_split_text(_flatten(html)), tags=_NH3_TAGS, clean_content_tags=_NH3_DROP,
                     url_schemes=_NH3_SCHEMES, attribute_filter=_nh3_attribute)


_MAX_DEPTH = 512  # elements inside elements that the sanitiser is given (a long thread of
# quoted replies nests a few levels per reply; real mail stays far below this)
_MANY_TAGS = 5000  # below this many tags even the deepest nesting is cleaned in ~0.1 s
_TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr", "basefont", "frame", "keygen", "isindex", "o:p"}


def _flatten(html: str) -> str:
    """``html`` with the tags nested deeper than :data:`_MAX_DEPTH` left out (their text
    stays). The sanitiser's HTML parser checks the stack of open elements at each tag, so
    its time grows with tags times depth: 64,000 nested ``<div>`` (380 KB) took 13-17 s, a
    few MB would hold a worker for hours. Mail with fewer than :data:`_MANY_TAGS` tags
    costs one ``str.count`` here."""
    if html.count("<") < _MANY_TAGS:
        return html
    out: list[str] = []
    depth = done = 0
    for tag in _TAG.finditer(html):
        if tag.group(2).lower() in _VOID:
            continue
        if tag.group(1):
            depth = max(depth - 1, 0)
            deep = depth >= _MAX_DEPTH
        else:
            deep = depth >= _MAX_DEPTH
            depth += 1
        if deep:  # leave the tag out, up to its ">" (a ">" inside an attribute's quotes
            end = html.find(">", tag.end())  # ends it early: the rest shows as text)
            end = len(html) if end < 0 else end + 1
            out.append(html[done:tag.start()])
            done = max(done, end)
    if not out:
        return html
    out.append(html[done:])
    return "".join(out)


_LONG_TEXT = re.compile(r"[^<]{8192,}")
_TEXT_PIECE = 4096


def _split_text(html: str) -> str:
    """``html`` with a ``<wbr>`` after every 4 KB of a text run longer than 8 KB (never
    inside an entity). The sanitiser's time grows with the
    square of a text run's length when the run holds many characters it escapes again
    (``&nbsp;``, ``&amp;``): 300,000 ``&nbsp;`` (1.8 MB) took 3-8 s, a few MB would hold a
    worker for many minutes. Costs one length check for HTML under 256 KB."""
    if len(html) < 64 * _TEXT_PIECE:
        return html
    out: list[str] = []
    done = 0
    for run in _LONG_TEXT.finditer(html):
        at = run.start() + _TEXT_PIECE
        while at < run.end() - _TEXT_PIECE:
            if html.rfind("&", at - 40, at) > html.rfind(";", at - 40, at):
                end = html.find(";", at, at + 40)  # inside an entity: cut after it
                at = end + 1 if end >= 0 else at
            out.append(html[done:at])
            out.append("<wbr>")
            done = at
            at += _TEXT_PIECE
    if not out:
        return html
    out.append(html[done:])
    return "".join(out)


# --------------------------------------------------------------------------- text forms

_BLOCK = {"address", "article", "aside", "center", "dd", "div", "dl", "dt", "fieldset",
          "figcaption", "figure", "footer", "form", "header", "li", "main", "nav", "section",
          "tr", "caption"}
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "table",
              "pre", "hr"}
_SKIP = {"script", "style", "head", "title", "noscript", "template"}
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_HTML_PARSER_LIMIT = 1024 * 1024  # above this the regex rendering is used (10x faster)


class _HtmlText(HTMLParser):
    """HTML to readable text: blocks become lines, script/style/head are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip: list[str] = []
        self.pre = 0
        self.newlines = 0  # newlines at the end of the output so far

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip.clear()
        elif tag in _SKIP:
            self.skip.append(tag)
        elif tag == "br":
            self.out.append("\n")
            self.newlines += 1
        elif tag in ("td", "th"):
            self.out.append(" ")
        self._block(tag)
        self.pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag in self.skip:
            while self.skip and self.skip.pop() != tag:
                pass
        self._block(tag)
        self.pre = max(0, self.pre - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = CONTROL_CHARS.sub("", data).replace("\xa0", " ")
        if data.strip():
            self.newlines = 0
        if self.pre:
            self.out.append(data.replace(" ", "\x01").replace("\t", "\x02"))
        else:
            self.out.append(_SPACES.sub(" ", data))

    def _block(self, tag: str) -> None:
        wanted = 2 if tag in _PARAGRAPH else 1 if tag in _BLOCK else 0
        if self.newlines < wanted:
            self.out.append("\n" * (wanted - self.newlines))
            self.newlines = wanted

    def text(self) -> str:
        return _tidy("".join(self.out))


_SPACER = re.compile("(?:[\u200b-\u200d\u034f\u00ad\ufeff\u2060][ \u00a0]*){2,}")
"""A newsletter's preview-text filler (``&zwnj;&nbsp;&#847;`` … repeated so that mail
programs show nothing after the preview): runs of invisible characters, shown as one space.
A single one stays (an emoji's joiner, a soft hyphen in a word)."""


def _tidy(text: str) -> str:
    text = _SPACER.sub(" ", text)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r" {2,}", " ", re.sub(r"\n{3,}", "\n\n", text))
    return text.replace("\x01", " ").replace("\x02", "\t").strip()


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document or fragment."""
    if len(html) > _HTML_PARSER_LIMIT:
        return _html_to_text_fast(html)
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.text()


def _html_to_text_fast(html: str) -> str:
    """The same rendering by regular expressions, for huge documents (``<pre>`` is not kept)."""
    text = _SPACES.sub(" ", CONTROL_CHARS.sub("", html))
    text = re.sub(r"(?is)<!--.*?-->|<(script|style|head|title|noscript|template)\b.*?</\1\s*>",
                  "", text)
    text = re.sub(r"(?i)<br\b[^>]*>", "\n", text)
    text = re.sub(rf"(?i)</?(?:{'|'.join(_PARAGRAPH)})\b[^>]*>", "\n\n", text)
    text = re.sub(rf"(?i)</?(?:{'|'.join(_BLOCK)})\b[^>]*>", "\n", text)
    text = re.sub(r"(?i)<t[dh]\b[^>]*>", " ", text)
    text = unescape(re.sub(r"<[^>]*>", "", text)).replace("\xa0", " ")
    return _tidy(text)


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, keep quote depth."""
    lines: list[str] = []
    current: str | None = None
    depth = 0
    for line in text.split("\n"):
        level = len(line) - len(line.lstrip(">"))
        content = line[level:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            content = content[:-1]
        if current is not None and level == depth:
            current += content
        else:
            if current is not None:
                lines.append(_quoted(depth, current))
            current, depth = content, level
        if not soft:
            lines.append(_quoted(depth, current))
            current = None
    if current is not None:
        lines.append(_quoted(depth, current))
    return "\n".join(lines)


def _quoted(depth: int, content: str) -> str:
    content = content if content == "-- " else content.rstrip(" ")
    return (">" * depth + (" " + content if content else "")) if depth else content
