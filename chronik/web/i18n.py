"""German and English texts of the pages. Each area keeps its own catalog
(``messages/<area>.json``: ``{"key": {"de": "…", "en": "…"}}``); a test checks that every
key has both languages and that every key a template uses exists."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
_DIR = Path(__file__).parent / "messages"


@lru_cache(maxsize=512)
def browser_language(accept_language: str) -> str | None:
    """The language of ours a browser's ``Accept-Language`` asks for most (RFC 9110:
    ``de-AT`` is German, the highest ``q`` wins, the browser's order breaks ties, ``q=0``
    means "not this one", ``*`` is any of ours); None when it names none of ours."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept_language.split(",")[:50]):
        tag, _, params = item.partition(";")
        code = tag.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if not 0 < quality <= 1:
            continue
        primary = DEFAULT_LANGUAGE if code == "*" else code.split("-")[0]
        if primary in LANGUAGES and (best is None or (-quality, position) < best[:2]):
            best = (-quality, position, primary)
    return best[2] if best else None


@cache
def catalog() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(_DIR.glob("*.json")):
        for key, texts in json.loads(path.read_text("utf-8")).items():
            if key in merged:
                raise ValueError(f"message {key!r} is defined twice ({path.name})")
            merged[key] = texts
    return merged


def gettext(lang: str, key: str, **kwargs: Any) -> str:
    texts = catalog().get(key)
    if texts is None:
        return key  # visible in the page, and caught by the catalog test
    text = texts.get(lang) or texts.get("en") or key
    return text.format(**kwargs) if kwargs else text
