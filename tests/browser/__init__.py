"""End-to-end browser tests: a real ``chronik serve`` subprocess, Debian's Chromium driven by
Playwright's sync API, axe-core checks. Fixtures and rules: ``tests/browser/conftest.py``."""
