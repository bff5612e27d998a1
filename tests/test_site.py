"""The tutorial as a site (`make site`): notebooks are kept as nbval executed them, and the built site reads well.

Unit layer (in `make unit`): a tiny notebook run by nbval with tools/executed_notebooks.py, as `make test` runs every
notebook, is saved with its printed text, its PNG, a tqdm bar at its final 100 % and a widget as static HTML;
tools/build_site.py turns it into a page that shows them, points notebook links at pages and repository files at
GitHub, and refuses notebooks that were not executed or changed since.

Site layer (marked `site` and `browser`; `make test` runs it after `make site`): the built site (SITE_DIR, default
site/) is served on 127.0.0.1 and opened in headless chromium: the home page, every notebook page and every docs
page load, every <img> has loaded (naturalWidth > 0), notebook 04 shows its figures, and no cell shows a traceback.
Without a built site or a browser these skip with the reason; SITE_TESTS=required (`make test`) makes that a failure.
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import jupyter_browser as jb
import nbformat
import pytest
from PIL import Image

from helpers import config

REPO_ROOT = config.REPO_ROOT
sys.path.insert(0, str(REPO_ROOT / "tools"))

import build_site  # noqa: E402
import executed_notebooks  # noqa: E402

SITE_DIR = Path(os.environ.get("SITE_DIR") or REPO_ROOT / "site")
WIDGET_VIEW = executed_notebooks.WIDGET_VIEW

TINY_MARKDOWN = "# A tiny notebook\n\nNext: [the other one](other.ipynb); the [Makefile](../Makefile)."


def _tiny_cells() -> list[tuple[str, str]]:
    """A markdown cell, then the code cells of tests/scripts/site_notebook.py (one per `# %%` block)."""
    blocks = (Path(__file__).parent / "scripts" / "site_notebook.py").read_text().split("# %%\n")[1:]
    return [("markdown", TINY_MARKDOWN), *[("code", block.strip()) for block in blocks]]


def _notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
                for kind, source in cells]
    return nb


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small repository whose notebook nbval ran with SAVE_EXECUTED_NOTEBOOKS set: (its root, the saved folder)."""
    root = tmp_path_factory.mktemp("repo")
    executed = root.parent / f"{root.name}-executed"
    (root / "notebooks").mkdir()
    (root / "docs").mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "Makefile").write_text("test:\n")
    (root / "README.md").write_text("# Home\n\nStart with [the tiny notebook](notebooks/tiny.ipynb), read"
                                    " [a page](docs/page.md#more), or the [Makefile](Makefile).\n")
    (root / "docs" / "page.md").write_text("# A page\n\n## More\n\nBack [home](../README.md).\n")
    nbformat.write(_notebook(_tiny_cells()), root / "notebooks" / "tiny.ipynb")
    nbformat.write(_notebook([("code", "1 + 1")]), root / "notebooks" / "other.ipynb")
    env = {**os.environ, executed_notebooks.ENV_VAR: str(executed),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "tools"), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-m", "pytest", "notebooks", "--nbval-lax", "--nbval-current-env",
                          "-p", "executed_notebooks", "-p", "no:cacheprovider", "-q"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return root, executed


def _outputs(path: Path) -> list[list[dict]]:
    return [cell.outputs for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def test_the_root_conftest_loads_the_plugin(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.get_plugin("executed_notebooks") is not None


def test_nbval_outputs_are_saved_with_the_notebook(tiny_repo: tuple[Path, Path]) -> None:
    root, executed = tiny_repo
    saved = executed / "notebooks" / "tiny.ipynb"
    printed, picture, bar, widget, gone = _outputs(saved)
    assert printed[0]["text"] == "hello from the kernel\n"
    assert base64.b64decode(picture[0]["data"]["image/png"]).startswith(b"\x89PNG")
    assert [cell.execution_count for cell in nbformat.read(saved, as_version=4).cells if cell.cell_type == "code"] \
        == [1, 2, 3, 4, 5]
    assert nbformat.read(saved, as_version=4).cells[0].source == TINY_MARKDOWN
    nbformat.validate(nbformat.read(saved, as_version=4))
    assert not gone, "a bar closed by the kernel (leave=False) is gone, as in a browser"
    assert (executed / "notebooks" / "other.ipynb").exists()


def test_progress_bars_are_saved_finished_and_widgets_as_static_html(tiny_repo: tuple[Path, Path]) -> None:
    _, executed = tiny_repo
    _, _, bar, widget, _ = _outputs(executed / "notebooks" / "tiny.ipynb")
    assert WIDGET_VIEW not in bar[0]["data"] and WIDGET_VIEW not in widget[0]["data"]
    assert "100%" in bar[0]["data"]["text/plain"] and "3/3" in bar[0]["data"]["text/plain"]
    assert "0%" not in bar[0]["data"]["text/plain"].replace("100%", "")
    assert "width:100.0%" in bar[0]["data"]["text/html"]
    html = widget[0]["data"]["text/html"]
    assert "<b>a caption</b>" in html and "data:image/png;base64," in html and "checked" in html
    assert widget[0]["data"]["text/plain"].splitlines() == ["a caption", "[image]", "[x] keep"]


def test_the_site_shows_the_saved_outputs(tiny_repo: tuple[Path, Path], tmp_path: Path) -> None:
    root, executed = tiny_repo
    site = tmp_path / "site"
    assert build_site.build(executed, site, root=root) == 4  # home, two notebooks, one docs page
    page = (site / "notebooks" / "tiny.html").read_text()
    assert "hello from the kernel" in page
    assert page.count('src="data:image/png;base64,') + page.count("src='data:image/png;base64,") == 2
    assert "steps:" in page and "100%" in page and "Traceback" not in page
    assert 'href="other.html"' in page
    assert f'href="{config.REPO_URL}/blob/{config.REPO_REF}/Makefile"' in page
    home = (site / "index.html").read_text()
    assert 'href="notebooks/tiny.html"' in home and 'href="docs/page.html#more"' in home
    assert (site / "docs" / "page.html").exists() and (site / "notebooks" / "tiny.ipynb").exists()


def test_the_site_is_not_built_from_notebooks_that_were_not_executed(tiny_repo: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    root, executed = tiny_repo
    with pytest.raises(build_site.SiteError, match="make notebooks"):
        build_site.build(tmp_path / "nothing", tmp_path / "site", root=root)
    partial = tmp_path / "partial"
    (partial / "notebooks").mkdir(parents=True)
    (partial / "notebooks" / "tiny.ipynb").write_text((executed / "notebooks" / "tiny.ipynb").read_text())
    with pytest.raises(build_site.SiteError, match="other.ipynb has no executed copy"):
        build_site.stage(root, partial, tmp_path)


def test_a_notebook_changed_since_its_run_is_refused(tiny_repo: tuple[Path, Path], tmp_path: Path) -> None:
    root, executed = tiny_repo
    changed = tmp_path / "changed"
    for name in ("tiny.ipynb", "other.ipynb"):
        nb = nbformat.read(executed / "notebooks" / name, as_version=4)
        if name == "other.ipynb":
            nb.cells[0].source = "2 + 2"
        (changed / "notebooks").mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, changed / "notebooks" / name)
    stage_dir = tmp_path / "stage"
    stage_dir.mkdir()
    with pytest.raises(build_site.SiteError, match="other.ipynb changed since it was executed"):
        build_site.stage(root, changed, stage_dir)


def _png(size: tuple[int, int] = (4, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, "PNG")
    return buffer.getvalue()


def _comm(msg_type: str, comm_id: str, data: dict | None = None, buffers: list | None = None) -> dict:
    content = {"comm_id": comm_id, "target_name": "jupyter.widget", "data": data or {}}
    return {"msg_type": msg_type, "content": content, "buffers": buffers or []}


@pytest.mark.parametrize(("model", "state", "html", "text"), [
    ("FloatProgress", {"value": 7, "max": 10, "bar_style": "danger"}, "width:70.0%", "|███████   |"),
    ("Label", {"value": "<3 dogs"}, "&lt;3 dogs", "<3 dogs"),
    ("Dropdown", {"description": "k", "_options_labels": ["a", "b"], "index": 1}, "<code>b</code>", "k b"),
    ("IntSlider", {"description": "k", "value": 5}, "<code>5</code>", "k 5"),
    ("Button", {"description": "Search"}, "<button disabled>Search</button>", "[Search]"),
])
def test_a_widget_is_drawn_from_its_last_state(model: str, state: dict, html: str, text: str) -> None:
    states = executed_notebooks.WidgetStates()
    states.record(_comm("comm_open", "w1", {"state": {"_model_name": f"{model}Model"}}))
    states.record(_comm("comm_msg", "w1", {"method": "update", "state": state}))
    output = executed_notebooks.widget_output({"output_type": "display_data", "metadata": {},
                                               "data": {WIDGET_VIEW: {"model_id": "w1"}, "text/plain": "x"}}, states)
    assert html in output["data"]["text/html"]
    assert output["data"]["text/plain"] == text


@pytest.mark.parametrize("source, shown", [("save_figure(fig)", True), ("save_figure(fig);", False),
                                           ("save_figure(fig);  # saved", False), ("x = 1\nx", True),
                                           ("%%bash\necho ';", True)])
def test_a_value_is_saved_only_where_jupyter_shows_it(source: str, shown: bool) -> None:
    """nbval cannot see a closing `;` (it runs cells without history): the saved notebook drops what Jupyter hides."""
    nb = _notebook([("code", source)])
    result = {"output_type": "execute_result", "data": {"text/plain": "PosixPath('fig.png')"}, "metadata": {},
              "execution_count": 1}
    item = type("Item", (), {"cell_num": 0, "test_outputs": [result]})()
    saved = executed_notebooks.executed_notebook(nb, [item], executed_notebooks.WidgetStates())
    assert [o["data"]["text/plain"] for o in saved.cells[0].outputs] == (["PosixPath('fig.png')"] if shown else [])


def test_image_bytes_come_from_the_message_buffers_and_hidden_widgets_are_left_out() -> None:
    states = executed_notebooks.WidgetStates()
    states.record(_comm("comm_open", "layout", {"state": {"_model_name": "LayoutModel", "display": "none"}}))
    states.record(_comm("comm_open", "hidden", {"state": {"_model_name": "HTMLModel", "value": "secret",
                                                          "layout": "IPY_MODEL_layout"}}))
    states.record(_comm("comm_open", "image", {"state": {"_model_name": "ImageModel", "format": "png"}}))
    states.record(_comm("comm_msg", "image", {"method": "update", "state": {}, "buffer_paths": [["value"]]},
                        [memoryview(_png())]))
    states.record(_comm("comm_open", "box", {"state": {"_model_name": "HBoxModel",
                                                       "children": ["IPY_MODEL_hidden", "IPY_MODEL_image"]}}))
    output = executed_notebooks.widget_output({"output_type": "display_data", "metadata": {},
                                               "data": {WIDGET_VIEW: {"model_id": "box"}}}, states)
    assert f"data:image/png;base64,{base64.b64encode(_png()).decode()}" in output["data"]["text/html"]
    assert "secret" not in output["data"]["text/html"]
    states.record(_comm("comm_close", "box"))
    assert executed_notebooks.widget_output({"output_type": "display_data", "metadata": {},
                                             "data": {WIDGET_VIEW: {"model_id": "box"}}}, states) is None


# ---- the built site in a real browser -----------------------------------------------------------------------------

# Every <img> of the page: where from (the start of its address), and whether it loaded.
JS_IMAGES = "() => [...document.images].map(i => [i.src.slice(0, 80), i.complete && i.naturalWidth > 0])"
# The only pictures the site takes from elsewhere: the Open in Colab badges (the test machine has no network).
EXTERNAL_IMAGES = ("https://colab.research.google.com/assets/colab-badge.svg",)
OUTPUT_IMAGES = ".jp-OutputArea-output img"
ERROR_OUTPUTS = '[data-mime-type="application/vnd.jupyter.stderr"]'


def _site_pages() -> list[str]:
    """The pages the browser opens: home, every notebook and solution, every docs page."""
    notebooks = sorted(f"{folder}/{path.stem}.html" for folder in build_site.NOTEBOOK_FOLDERS
                       for path in (REPO_ROOT / folder).glob("*.ipynb"))
    docs = sorted(path.relative_to(REPO_ROOT).with_suffix(".html").as_posix()
                  for path in (REPO_ROOT / "docs").rglob("*.md"))
    return ["index.html", *notebooks, *docs]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    """The built site, served on 127.0.0.1; skip (or fail, with SITE_TESTS=required) where it cannot be opened."""
    problem = None if (SITE_DIR / "index.html").exists() else (
        f"no built site in {SITE_DIR}: run `make site` after `make test` or `make notebooks`")
    problem = problem or jb.browser_problem()
    if problem:
        if os.environ.get("SITE_TESTS") == "required":
            pytest.fail(f"SITE_TESTS=required, but the site tests cannot run: {problem}")
        pytest.skip(problem)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=SITE_DIR))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site_browser(site_url: str):
    """Headless chromium for the site's pages (site_url has checked that there is one)."""
    with jb.launched_browser() as browser:
        yield browser


@pytest.fixture
def page_of_site(site_browser):
    """A fresh page (a failing test leaves its screenshot: tests/conftest.py keeps those of fixtures named page*)."""
    page = jb.new_page(site_browser)
    yield page
    page.context.close()


@pytest.mark.site
@pytest.mark.browser
@pytest.mark.parametrize("path", _site_pages(), ids=lambda path: path.removesuffix(".html").replace("/", "-"))
def test_a_site_page_loads_its_images_and_shows_no_error(site_url: str, page_of_site, path: str) -> None:
    assert (SITE_DIR / path).exists(), f"{path} is missing from the built site in {SITE_DIR}"
    response = page_of_site.goto(f"{site_url}/{path}", wait_until="load")
    assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
    assert page_of_site.title()
    images = page_of_site.evaluate(JS_IMAGES)
    own = [(src, loaded) for src, loaded in images if src.startswith((site_url, "data:"))]
    assert [src for src, loaded in own if not loaded] == [], f"{path}: images of the site that did not load"
    assert {src for src, _ in images} - {src for src, _ in own} <= set(EXTERNAL_IMAGES), f"{path}: other hosts"
    errors = [text for text in page_of_site.locator(ERROR_OUTPUTS).all_text_contents() if jb.ERROR_PATTERN.search(text)]
    assert not errors, f"{path}: a cell shows an error:\n{errors[0][:2000]}"
    if path.startswith("notebooks/04"):
        assert page_of_site.locator(OUTPUT_IMAGES).count() >= 3, "notebook 04 shows its figures"
