"""The README is followed to the letter: what it tells a reader to type or click exists.

- every ``chronik …`` command it shows (inline, in code blocks, as ``./run serve``/``./run
  demo``) names a real subcommand and only options that subcommand takes, and every option
  of every subcommand is shown somewhere (a new flag gets documented);
- every admin page it names as *Verwaltung → …* / *Admin → …* is one the console shows under
  that title (German and English);
- every internal link ``[…](#anchor)`` leads to a heading (GitHub's anchor rules).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from chronik.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")
MESSAGES = ROOT / "chronik" / "web" / "messages"

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
_INLINE = re.compile(r"`([^`]+)`")
_COMMAND = re.compile(r"(?<![\w/.-])(?:chronik|\./run (?=serve|demo))\s*(.*)")
_OPTION = re.compile(r"^\[?(--?[a-z][\w-]*)")
GLOBAL_WITH_VALUE = {"--data-dir"}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public way to list them
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings} - {"-h", "--help"}


def snippets() -> list[str]:
    """Every piece of README text that may hold a command: inline code, code-block lines."""
    found: list[str] = []
    for block in _FENCE.findall(README):
        found += [re.sub(r"\s#\s.*$", "", line) for line in block.splitlines()]
    prose = _FENCE.sub("", README)
    found += _INLINE.findall(prose)
    return found


def commands() -> list[tuple[str, list[str]]]:
    """(the snippet, its words after ``chronik``) for every command the README shows."""
    found = []
    for snippet in snippets():
        for match in _COMMAND.finditer(snippet):
            words = match.group(1).replace("\\|", "|").split()
            while words and words[0] in GLOBAL_WITH_VALUE:
                words = words[2:]
            if words and re.fullmatch(r"[a-z][a-z|-]*", words[0]):
                found.append((snippet, words))
    return found


def resolve(words: list[str]) -> list[tuple[list[str], argparse.ArgumentParser, list[str]]]:
    """Walk the subcommands named by ``words`` (``set|list|remove`` is each of them): the
    command path, its parser and the words left, per alternative."""
    walks: list[tuple[list[str], argparse.ArgumentParser, list[str]]] = [
        ([], build_parser(), words)]
    done = []
    while walks:
        path, parser, rest = walks.pop()
        subs = subcommands(parser)
        if not subs or not rest or not re.fullmatch(r"[a-z][a-z|-]*", rest[0]):
            done.append((path, parser, rest))
            continue
        for name in rest[0].split("|"):
            command = " ".join([*path, name])
            assert name in subs, f"README shows `chronik {command}`: no such command"
            walks.append(([*path, name], subs[name], rest[1:]))
    return done


def test_readme_commands_exist_with_their_options() -> None:
    shown = commands()
    assert len(shown) > 40, "the README's commands were not found"
    global_options = options(build_parser())
    for snippet, words in shown:
        for path, parser, rest in resolve(words):
            if subcommands(parser):
                continue  # `chronik agent …`: a group, not a command
            for word in rest:
                match = _OPTION.match(word)
                if match and match.group(1) not in options(parser) | global_options:
                    pytest.fail(f"README: `{snippet}` — `chronik {' '.join(path)}` has no "
                                f"option {match.group(1)}")


def test_every_option_of_every_command_is_in_the_readme() -> None:
    shown: set[tuple[str, str]] = set()
    for _, words in commands():
        for path, _, rest in resolve(words):
            shown |= {(" ".join(path), m.group(1)) for w in rest if (m := _OPTION.match(w))}

    def leaves(parser: argparse.ArgumentParser, path: list[str]
               ) -> list[tuple[str, argparse.ArgumentParser]]:
        subs = subcommands(parser)
        if not subs:
            return [(" ".join(path), parser)]
        return [leaf for name, sub in subs.items() for leaf in leaves(sub, [*path, name])]

    missing = [f"chronik {command} {option}"
               for command, parser in leaves(build_parser(), []) for option in options(parser)
               if (command, option) not in shown]
    assert missing == [], "options the README never shows"


def admin_titles() -> dict[str, set[str]]:
    """Language -> the titles of the admin pages (and the header's link to them)."""
    titles: dict[str, set[str]] = {"de": set(), "en": set()}
    for name in ("admin.json", "common.json"):
        for key, text in json.loads((MESSAGES / name).read_text("utf-8")).items():
            if re.fullmatch(r"admin\.\w+\.title|admin\.title|nav\.admin", key):
                for lang in titles:
                    titles[lang].add(text[lang])
    return titles


def test_admin_pages_are_named_as_the_console_names_them() -> None:
    titles = admin_titles()
    named = re.findall(r"\*(Verwaltung|Admin) → ([^*]+?)\*", README)
    assert len(named) >= 4
    for top, page in named:
        lang = "de" if top == "Verwaltung" else "en"
        assert top in titles[lang], top
        assert page in titles[lang], (f"README names the admin page *{top} → {page}*; the "
                                      f"console's are {sorted(titles[lang])}")


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("path", ["README.md", "bench/README.md", "deploy/README.md"])
def test_internal_links_lead_to_headings(path: str) -> None:
    text = _FENCE.sub("", (ROOT / path).read_text("utf-8"))
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+)$", text, re.M):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
        seen[anchor] = count + 1
    broken = [link for link in re.findall(r"\]\(#([^)]+)\)", text) if link not in anchors]
    assert broken == []


def test_every_chronik_variable_the_readme_names_exists() -> None:
    """A setting of a settings model, or a variable the tests, benchmarks or ``./run`` read;
    ``CHRONIK_EMAIL_IMAP_*`` stands for the settings it starts."""
    from chronik.settings import SETTINGS_MODELS, env_names
    from timeline.config import CONFIG_ENV

    known = {name for model in SETTINGS_MODELS for name in env_names(model)} | {CONFIG_ENV}
    sources = [ROOT / "run", *[p for d in ("tests", "bench", "deploy")
                               for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".sh")]]
    for path in sources:
        known |= set(re.findall(r"CHRONIK_[A-Z0-9_]*[A-Z0-9]", path.read_text("utf-8")))
    named = set(re.findall(r"CHRONIK_[A-Z0-9_]*", README)) - {"CHRONIK_"}
    unknown = [name for name in sorted(named)
               if name not in known
               and not (name.endswith("_") and any(k.startswith(name) for k in known))]
    assert unknown == [], "README names variables nothing reads"
