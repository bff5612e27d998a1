"""Every relative link and anchor in the README, docs/ and the notebooks' text leads somewhere, and the README
stays a front page: short, with every docs/ page reachable from it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_BYTES = 13_000  # issue 18: "a README of about 10-12 KB"; the rest belongs in docs/

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)  # fenced code blocks: no links in there
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
INLINE_TARGET = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target "title"), ![alt](..)
REFERENCE_TARGET = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)  # [name]: target
HTML_TARGET = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
HTML_ANCHOR = re.compile(r"""<a\b[^>]*?\b(?:name|id)\s*=\s*["']([^"']+)["']""", re.I)
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...: not checked here


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its rendered text in lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image shows its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = re.sub(r"(\*+|`+|~~)", "", text)  # emphasis and code marks (underscores stay: MODEL_NAME)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _without_code(text: str) -> str:
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """Every anchor a markdown text offers: one per heading (repeats get -1, -2, ...) and explicit <a id=...>."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for match in HEADING.finditer(FENCE.sub("", text)):
        slug = github_slug(match.group(2))
        found.add(f"{slug}-{counts[slug]}" if slug in counts else slug)
        counts[slug] = counts.get(slug, 0) + 1
    return found | set(HTML_ANCHOR.findall(text))


def link_targets(text: str) -> list[str]:
    """Every link and image target of a markdown text, outside code."""
    text = _without_code(text)
    return INLINE_TARGET.findall(text) + REFERENCE_TARGET.findall(text) + HTML_TARGET.findall(text)


def markdown_text(path: Path) -> str:
    """A markdown file's text, or the markdown cells of a notebook."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def broken_links(path: Path) -> list[str]:
    """The relative links of a markdown file or notebook that lead nowhere: a missing file, or a missing anchor."""
    broken = []
    for target in link_targets(markdown_text(path)):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue
        file_part, _, anchor = unquote(target).partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix in (".md", ".ipynb") and anchor not in anchors(markdown_text(linked)):
            broken.append(f"{target}: no heading or anchor '{anchor}' in {linked.name}")
    return broken


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


DOC_PAGES = sorted((ROOT / "docs").rglob("*.md"))
CHECKED = [README, *DOC_PAGES, *sorted((ROOT / "notebooks").glob("*.ipynb")),
           *sorted((ROOT / "solutions").glob("*.ipynb"))]


# --- the checker itself, on tiny generated pages ----------------------------------------------------------------


@pytest.mark.parametrize("heading, slug", [
    ("Two commands", "two-commands"),
    ("04 Search and visualisation: find your dog, see it, measure it",
     "04-search-and-visualisation-find-your-dog-see-it-measure-it"),
    ("`MODEL_NAME` and the backends", "model_name-and-the-backends"),
    ("Tests and CI", "tests-and-ci"),
    ("Milvus Lite at 100k: **not met**", "milvus-lite-at-100k-not-met"),
    ("A [linked](x.md) word", "a-linked-word"),
    ("Search by words (CLIP)", "search-by-words-clip"),
])
def test_github_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_repeated_headings_get_numbered_anchors() -> None:
    assert anchors("# Notes\n\n## Notes\n\n### Notes\n") == {"notes", "notes-1", "notes-2"}


def test_the_checker_finds_broken_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## The part you want\n")
    (tmp_path / "pic.png").write_bytes(b"")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\n## Read more\n\n"
        "[good page](docs/page.md), [good anchor](docs/page.md#the-part-you-want), [here](#read-more),\n"
        "![a picture](pic.png), [web](https://example.org/missing), [mail](mailto:a@b.c),\n"
        "[missing page](docs/nothing.md), [missing anchor](docs/page.md#no-such-part), [lost](#nowhere),\n"
        "![missing picture](gone.png \"title\")\n\n"
        "```\n[in a code block](not-checked.md)\n```\n\n`[in code](not-checked-either.md)`\n")
    assert [b.split(":")[0] for b in broken_links(readme)] == [
        "docs/nothing.md", "docs/page.md#no-such-part", "#nowhere", "gone.png"]


def test_the_checker_reads_notebooks_and_relative_folders(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "README.md").write_text("# Top\n")
    notebook = tmp_path / "notebooks" / "01.ipynb"
    notebook.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["# 01\n", "[up](../README.md#top) [bad](../README.md#bottom)"]},
        {"cell_type": "code", "source": ["x = '[not markdown](nowhere.md)'"]}]}))
    assert broken_links(notebook) == ["../README.md#bottom: no heading or anchor 'bottom' in README.md"]


# --- the real pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CHECKED, ids=_relative)
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_the_readme_links_are_really_read() -> None:
    """A checker that finds no links passes everything: the README links to pictures, notebooks and docs pages."""
    targets = [t for t in link_targets(README.read_text()) if not SCHEME.match(t)]
    assert any(t.endswith(".jpg") or t.endswith(".png") for t in targets)
    assert sum(t.startswith("notebooks/") for t in targets) >= 6
    assert sum(t.startswith("docs/") and ".md" in t for t in targets) >= 5


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    """A page nobody links to is a page nobody reads: follow the links from the README through docs/."""
    seen, todo = {README}, [README]
    while todo:
        page = todo.pop()
        for target in link_targets(page.read_text()):
            file_part = unquote(target).partition("#")[0]
            if not file_part or SCHEME.match(target):
                continue
            linked = (page.parent / file_part).resolve()
            if linked.suffix == ".md" and linked.exists() and linked not in seen:
                seen.add(linked)
                todo.append(linked)
    assert [_relative(p) for p in DOC_PAGES if p not in seen] == []


def test_the_readme_is_a_front_page() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move a topic into a docs/ page and link it"
