"""Where the project's shared test data lives: ``../shared`` beside the repository (read in
place, read-only). A user's clone has none: tests that need it skip and say why."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
ZAMMAD_CORPUS = SHARED / "corpora" / "zammad-mail"
MISSING_CORPUS = (f"the Zammad mail corpus is not at {ZAMMAD_CORPUS} (../shared/corpora/"
                  "zammad-mail beside the repository; a plain clone has no ../shared)")
