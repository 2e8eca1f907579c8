"""German and English texts of the pages. Each area keeps its own catalog
(``messages/<area>.json``: ``{"key": {"de": "…", "en": "…"}}``); a test checks that every
key has both languages and that every key a template uses exists."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("de", "en")
_DIR = Path(__file__).parent / "messages"


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
