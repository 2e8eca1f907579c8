"""Whether the keyboard focus can be seen: the ring's contrast against what is behind the
focused element (WCAG 1.4.11 asks 3:1 for what shows the focus)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


_FOCUS = """(el) => {
  const style = getComputedStyle(el);
  let bg = null;
  for (let n = el.parentElement; n && !bg; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor;
    if (c && !c.endsWith(', 0)') && c !== 'transparent') bg = c;
  }
  return {outline: style.outlineStyle === 'none' ? null : style.outlineColor,
          width: parseFloat(style.outlineWidth), background: bg || 'rgb(255, 255, 255)'};
}"""


def assert_focus_stands_out(page: Page, *targets: Locator) -> list[str]:
    """Focus each target by the keyboard (``:focus-visible``) and check its ring; returns
    the backgrounds they were checked on."""
    checked = []
    for target in targets:
        target.focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        ring = target.evaluate(_FOCUS)
        assert ring["outline"] and ring["width"] >= 2, ring
        assert contrast(ring["outline"], ring["background"]) >= 3, ring
        checked.append(str(ring["background"]))
    return checked
