"""Build the tutorial as a static site (`make site`): README, docs/ and the notebooks as `make test` executed them.

    python tools/build_site.py --executed data/test-run/executed --site site

MkDocs with mkdocs-jupyter (mkdocs.yml says why) renders a staged copy of the repository's reading matter: README.md
as the home page, everything under docs/, and the executed copies of notebooks/ and solutions/ that nbval saved
through tools/executed_notebooks.py (SAVE_EXECUTED_NOTEBOOKS, set by `make test` and `make notebooks`). Nothing is
executed here. A notebook without an executed copy, or whose executed copy has other code than the notebook now,
stops the build with what to run.

This file is also the MkDocs hook module (mkdocs.yml `hooks:`): `on_page_content` points the links of every page,
notebooks included, at the site's pages (`02_feature_extraction.ipynb` -> `02_feature_extraction.html`) or, for a
file of the repository that is not part of the site (Makefile, helpers/...), at that file on GitHub; a link that
resolves to neither is reported as a warning.
"""

from __future__ import annotations

import argparse
import logging
import posixpath
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_FOLDERS = ("notebooks", "solutions")
log = logging.getLogger("mkdocs.hooks.build_site")


class SiteError(Exception):
    """The site cannot be built as asked; the message says what to run."""


def _code(path: Path) -> list[str]:
    import nbformat

    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def stage(root: Path, executed: Path, stage_dir: Path) -> list:
    """Copy README.md, docs/ and the executed notebooks into `stage_dir`; return the MkDocs nav for them."""
    problems, nav = [], [{"Home": "README.md"}]
    shutil.copy2(root / "README.md", stage_dir / "README.md")
    for folder in NOTEBOOK_FOLDERS:
        pages = []
        for notebook in sorted((root / folder).glob("*.ipynb")):
            copy = executed / folder / notebook.name
            if not copy.exists():
                problems.append(f"{folder}/{notebook.name} has no executed copy in {executed}")
                continue
            if _code(copy) != _code(notebook):
                problems.append(f"{folder}/{notebook.name} changed since it was executed into {executed}")
                continue
            (stage_dir / folder).mkdir(exist_ok=True)
            shutil.copy2(copy, stage_dir / folder / notebook.name)
            pages.append(f"{folder}/{notebook.name}")
        if pages:
            nav.append({folder.capitalize(): pages})
    if problems:
        raise SiteError("\n".join(problems) + "\nRun `make test` or `make notebooks` first: they execute the notebooks"
                        " and save them (SAVE_EXECUTED_NOTEBOOKS) for `make site`.")
    if (root / "docs").is_dir():
        shutil.copytree(root / "docs", stage_dir / "docs")
        docs = sorted(path.relative_to(stage_dir).as_posix() for path in (stage_dir / "docs").rglob("*.md"))
        if docs:
            nav.append({"Docs": docs})
    return nav


def build(executed: Path, site: Path, root: Path = REPO_ROOT, config_file: Path | None = None) -> int:
    """Build the site into `site` from the executed notebooks in `executed`; return how many pages it has."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    from helpers import config

    if not executed.is_dir():
        raise SiteError(f"No executed notebooks in {executed}. Run `make test` or `make notebooks` first: they execute"
                        " the notebooks and save them (SAVE_EXECUTED_NOTEBOOKS) for `make site`.")
    with tempfile.TemporaryDirectory(prefix="site-src-") as stage_dir:
        nav = stage(root, executed, Path(stage_dir))
        settings = load_config(str(config_file or REPO_ROOT / "mkdocs.yml"), docs_dir=stage_dir, site_dir=str(site),
                               nav=nav, repo_url=config.REPO_URL, edit_uri="",
                               extra={"source_root": str(root), "source_ref": config.REPO_REF})
        mkdocs_build(settings)
    return len(list(site.rglob("*.html"))) - (1 if (site / "404.html").exists() else 0)


# ---- the MkDocs hook --------------------------------------------------------------------------------------------

_LINK = re.compile(r"""\b(?P<attr>href|src)=(?P<quote>["'])(?P<target>[^"'#?]*)(?P<rest>[#?][^"']*)?(?P=quote)""")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def site_link(target: str, page_uri: str, pages: dict, site_files: set[str], root: Path, blob_url: str) -> str | None:
    """Where a relative link of the page at `page_uri` should point: a page, a site file, GitHub; None if nowhere."""
    path = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), unquote(target)))
    if path.startswith(".."):
        return None
    if path in site_files:
        return target
    if path in pages:
        return pages[path]
    if (root / path).exists():
        kind = "tree" if (root / path).is_dir() else "blob"
        return f"{blob_url.format(kind=kind)}/{path}"
    return None


def on_page_content(html: str, page, config, files) -> str:
    """Point relative links at the site's pages, or at the repository on GitHub for files outside the site."""
    extra = config["extra"]
    if "source_root" not in extra:
        return html
    root = Path(extra["source_root"])
    blob_url = f"{config['repo_url'].rstrip('/')}/{{kind}}/{extra['source_ref']}"
    pages = {file.src_uri: file.url_relative_to(page.file) for file in files if file.is_documentation_page()}
    site_files = {file.dest_uri for file in files}

    def relink(match: re.Match) -> str:
        target = match["target"]
        if not target or _SCHEME.match(target) or target.startswith("/"):
            return match[0]
        new = site_link(target, page.file.src_uri, pages, site_files, root, blob_url)
        if new is None:
            log.warning("%s links to %s, which is neither in the site nor in the repository", page.file.src_uri,
                        target)
            return match[0]
        return f"{match['attr']}={match['quote']}{new}{match['rest'] or ''}{match['quote']}"

    return _LINK.sub(relink, html)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, default=REPO_ROOT / "data" / "test-run" / "executed",
                        help="the folder SAVE_EXECUTED_NOTEBOOKS pointed at (default: %(default)s)")
    parser.add_argument("--site", type=Path, default=REPO_ROOT / "site", help="where to build (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    # nbconvert warns about every figure without alt text (matplotlib's have none) and gives each a generic one.
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    started = time.perf_counter()
    try:
        pages = build(args.executed.resolve(), args.site.resolve())
    except SiteError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Built {pages} pages into {args.site} in {time.perf_counter() - started:.0f} s: open"
          f" {args.site / 'index.html'}, or publish the folder to any static host.")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))  # `python tools/build_site.py` from a clone, as for the other tools
    sys.exit(main())
