"""Rendering with Jinja2 (autoescape for HTML): German and English shipped in
``notify/templates/<lang>/``; an installation may override any template in
``<template dir>/<lang>/<name>``, one office in ``<template dir>/<office id>/<lang>/<name>``
(changes are seen within a minute).

Template files are read on a worker thread (``asyncio.to_thread``), never on the loop."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    select_autoescape,
)

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"

KIND_PHRASES = {
    "de": {"note": "eine Notiz", "phone_note": "eine Gesprächsnotiz",
           "document": "ein Dokument", "": "eine Nachricht"},
    "en": {"note": "a note", "phone_note": "a phone note", "document": "a document",
           "": "a message"},
}
KIND_LABELS = {
    "de": {"note": "Neue Notiz", "phone_note": "Neue Gesprächsnotiz",
           "document": "Neues Dokument", "": "Neue Nachricht"},
    "en": {"note": "New note", "phone_note": "New phone note", "document": "New document",
           "": "New message"},
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def language_of(preferred: str) -> str:
    lang = (preferred or "").split("-")[0].lower()
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


class Renderer:
    """Templates are looked up (and read) on a worker thread, then cached per (office,
    language, name) for a minute; rendering itself is CPU only and runs on the loop."""

    def __init__(self, template_dir: Path | None = None, cache_seconds: float = 60.0) -> None:
        loaders: list[Any] = []
        if template_dir is not None:
            loaders.append(FileSystemLoader(str(template_dir)))
        loaders.append(PackageLoader("notify", "templates"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html",),
                                         default_for_string=True, default=False),
            undefined=StrictUndefined, keep_trailing_newline=False, auto_reload=True)
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str, str], tuple[float, Template]] = {}

    def _names(self, office_id: str, lang: str, name: str) -> list[str]:
        return [f"{office_id}/{lang}/{name}", f"{lang}/{name}",
                f"{DEFAULT_LANGUAGE}/{name}"]

    async def template(self, office_id: str, lang: str, name: str) -> Template:
        key = (office_id, lang, name)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await asyncio.to_thread(self.env.select_template,
                                        self._names(office_id, lang, name))
        self._cache[key] = (now + self.cache_seconds, found)
        return found

    async def render(self, office_id: str, lang: str, name: str, context: dict[str, Any]
                     ) -> str:
        return (await self.template(office_id, lang, name)).render(context).strip()

    async def message(self, office_id: str, lang: str, template: str,
                      context: dict[str, Any]) -> Rendered:
        ctx = dict(context)
        kind = str(ctx.get("kind", ""))
        ctx.setdefault("kind_phrase", KIND_PHRASES[lang].get(kind, KIND_PHRASES[lang][""]))
        ctx.setdefault("kind_label", KIND_LABELS[lang].get(kind, KIND_LABELS[lang][""]))
        subject = " ".join(
            (await self.render(office_id, lang, f"{template}.subject.txt", ctx)).split())
        ctx["subject"] = subject
        text = await self.render(office_id, lang, f"{template}.txt", ctx)
        html = await self.render(office_id, lang, f"{template}.html", ctx)
        return Rendered(subject=shorten(subject, SUBJECT_MAX), text=text + "\n", html=html)


SUBJECT_MAX = 250
"""Characters of a subject at most (a longer one is cut at a word with "…")."""


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: cut at the end of the last word that fits,
    followed by "…" (mid-word only when one word fills most of it)."""
    if len(text) <= limit:
        return text
    head = text[:limit - 1]
    if not text[limit - 1].isspace() and not head[-1].isspace():  # the cut is in a word
        word_start = head.rfind(" ")
        if word_start > limit // 2:
            head = head[:word_start]
    return head.rstrip(" ,;:-–") + "…"


def format_when(value: datetime, lang: str) -> str:
    return value.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")
