"""Notebooks 04 and 05 as a learner uses them: JupyterLab on 127.0.0.1, clicked through in headless chromium.

Each class opens its notebook, runs all cells from the Run menu, then checks what the page shows; notebook 04's
explorer is then used step by step (slider, class filter, another query, an upload, the slider again), and after
each step the page must show a redrawn gallery with the expected hits, and no cell may show an error.
The harness is tests/jupyter_browser.py. Without Playwright or chromium the tests skip with the reason;
BROWSER_TESTS=required (CI) makes that a failure. A failing test leaves a screenshot of its page in
BROWSER_ARTIFACTS_DIR (default: browser-artifacts/ in the data folder; data/test-run/browser-artifacts in
`make test`), through the report hook in tests/conftest.py.

The explorer contract these tests read (tests/jupyter_browser.py), which the explorer must offer:
- its root widget has the CSS class `search-explorer` (ipywidgets `add_class`);
- its gallery pictures are <img> elements inside that root: in an element of class `explorer-gallery`, or in an
  ipywidgets Output as today; a redraw changes them;
- one element inside the root has the class `explorer-caption` and, for the gallery on screen, the attributes
  `data-query` (the query photo's file name, e.g. `n02088094_4261.JPEG` or an upload's `my_dog.jpg`),
  `data-hits` (how many hits are shown) and `data-labels` (their labels, best first, joined by commas);
- a failed search shows its message in an HTML widget inside the root (the tests read it into their messages).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import jupyter_browser as jb
import pytest

from helpers import config
from helpers.comic import openai_api
from helpers.photos import data
from helpers.pictures.explorer import TOOLTIPS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
QUERY_CLASS = "Afghan_hound"  # the notebook's query photo is the explorer's first; a cell sets k=5 and this filter
REDRAW_TIMEOUT = 90  # seconds; generous: a redraw takes seconds on a busy 2-core machine
RUN_TIMEOUT = 1800  # seconds for Run All (the first run embeds the 1,100 photos)


@contextlib.contextmanager
def screenshot_on_error(page, path: Path) -> Iterator[None]:
    """Keep a screenshot of `page` at `path` if the block fails (for fixtures: the report hook sees only tests)."""
    try:
        yield
    except BaseException:
        jb.save_screenshot(page, path)
        raise


def notebook_digests() -> dict[str, str]:
    """A digest of each committed notebook, to check that the browser runs save nothing."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in NOTEBOOK_DIR.glob("*.ipynb")}


@pytest.fixture(scope="session")
def browser():
    """Headless chromium for this session; skip (or fail, with BROWSER_TESTS=required) where there is none."""
    problem = jb.browser_problem()
    if problem:
        if os.environ.get("BROWSER_TESTS") == "required":
            pytest.fail(f"BROWSER_TESTS=required, but the browser tests cannot run: {problem}")
        pytest.skip(problem)
    with jb.launched_browser() as browser:
        yield browser


@pytest.fixture(scope="session")
def lab(browser, notebook_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """JupyterLab serving notebooks/ with the test settings; the notebooks must be unchanged afterwards."""
    before = notebook_digests()
    with jb.running_jupyterlab(NOTEBOOK_DIR, notebook_env, tmp_path_factory.mktemp("jupyterlab")) as lab:
        yield lab
    assert notebook_digests() == before, "the browser run saved a notebook"


def open_and_run_all(browser, lab: jb.JupyterLab, notebook: str, artifacts: Path):
    """A new page with `notebook` open and every cell run from the Run menu."""
    page = jb.new_page(browser)
    with screenshot_on_error(page, artifacts / f"{Path(notebook).stem}-run-all.png"):
        jb.open_notebook(page, lab, notebook)
        jb.run_all(page)
        jb.wait_until_executed(page, RUN_TIMEOUT)
    return page


@pytest.fixture(scope="class")
def page_04(browser, lab: jb.JupyterLab, browser_artifacts: Path):
    """Notebook 04 with every cell run, for the steps of one class; then its kernel is shut down (frees Milvus Lite)."""
    page = open_and_run_all(browser, lab, "04_search_and_visualisation.ipynb", browser_artifacts)
    yield page
    page.context.close()
    jb.shutdown_kernels(lab)


@pytest.fixture(scope="class")
def page_05(browser, lab: jb.JupyterLab, browser_artifacts: Path):
    """Notebook 05 with every cell run; then its kernel is shut down."""
    page = open_and_run_all(browser, lab, "05_comic_generation.ipynb", browser_artifacts)
    yield page
    page.context.close()
    jb.shutdown_kernels(lab)


def redraw(explorer, action: Callable[[], None]) -> jb.GalleryState:
    """Do `action` and wait for the gallery to change; what it shows then."""
    try:
        jb.measure_redraw(explorer, action, timeout=REDRAW_TIMEOUT)
    except Exception as err:  # Playwright's TimeoutError: say what the explorer shows instead
        state = jb.gallery_state(explorer)
        raise AssertionError(f"the gallery did not redraw within {REDRAW_TIMEOUT} s; the explorer says "
                             f"{state.message!r}") from err
    return jb.gallery_state(explorer)


def assert_no_error(page, state: jb.GalleryState) -> None:
    """No cell shows an error, and the explorer reports no failed search."""
    assert jb.cell_errors(page) == []
    assert not re.search(r"fail|error|closed", state.message, re.IGNORECASE), state.message


def query_option(explorer, label: str) -> str:
    """The query picker's first option for a test photo of class `label`, e.g. 'goldfish (n01443537_3883)'."""
    return next(option for option in jb.options(explorer, "Query") if option.startswith(f"{label} ("))


class TestExplorer:
    """Notebook 04: Run All, then the explorer as a learner uses it, step by step (the steps share one page)."""

    @pytest.fixture
    def explorer(self, page_04):
        """The explorer widget, scrolled into view."""
        explorer = jb.find_explorer(page_04)
        explorer.scroll_into_view_if_needed()
        return explorer

    def test_run_all_runs_every_cell_without_error(self, page_04) -> None:
        assert jb.unexecuted_cells(page_04) == []
        assert jb.cell_errors(page_04) == []

    def test_no_grpc_log_lines_in_the_outputs(self, page_04) -> None:
        noise = [text[:300] for text in jb.stderr_outputs(page_04) if re.search(r"GOAWAY|chttp2|grpc", text)]
        assert noise == []

    def test_explorer_shows_what_the_code_set(self, page_04, explorer) -> None:
        state = jb.gallery_state(explorer)
        assert len(state.images) >= 1
        assert state.hits == 5 and state.labels == [QUERY_CLASS] * 5
        assert_no_error(page_04, state)

    def test_controls_have_real_tooltips(self, page_04, explorer) -> None:
        assert explorer.locator('[title="null"]').count() == 0  # what ipywidgets shows for a tooltip never set
        assert explorer.locator(".widget-upload").get_attribute("title") == TOOLTIPS["upload"]
        assert explorer.locator('[title="' + TOOLTIPS["top_k"] + '"]').count() >= 1
        buttons = page_04.locator(f"{jb.NOTEBOOK} .widget-upload")  # the notebook's own upload button too
        assert buttons.count() == 2
        assert all(title and title != "null" for title in buttons.evaluate_all("bs => bs.map(b => b.title)"))

    def test_k_slider(self, page_04, explorer) -> None:
        state = redraw(explorer, lambda: jb.type_slider_value(explorer, 7))
        assert jb.slider_value(explorer) == 7
        assert state.hits == 7 and state.labels == [QUERY_CLASS] * 7  # the class filter still holds
        assert_no_error(page_04, state)

    def test_class_filter_then_clear_it(self, page_04, explorer) -> None:
        # A class near the query: filtered HNSW search on Milvus Lite can return fewer than k hits for a far one.
        state = redraw(explorer, lambda: jb.choose(explorer, "Only class", "malamute"))
        assert state.hits == 7 and state.labels == ["malamute"] * 7
        assert_no_error(page_04, state)
        state = redraw(explorer, lambda: jb.choose(explorer, "Only class", "any class"))
        assert state.hits == 7 and state.labels[0] == QUERY_CLASS and set(state.labels) != {"malamute"}
        assert_no_error(page_04, state)

    def test_another_query(self, page_04, explorer) -> None:
        option = query_option(explorer, "goldfish")
        state = redraw(explorer, lambda: jb.choose(explorer, "Query", option))
        assert state.query == option.split("(")[1].rstrip(")") + ".JPEG"
        assert state.hits == 7 and state.labels[0] == "goldfish"
        assert_no_error(page_04, state)

    def test_upload_a_photo(self, page_04, explorer, real_dataset: data.Dataset, tmp_path: Path) -> None:
        photo = tmp_path / "my_dog.jpg"  # the notebook's query photo under a learner's file name
        shutil.copyfile(real_dataset.root / "test" / QUERY_CLASS / "n02088094_4261.JPEG", photo)
        state = redraw(explorer, lambda: jb.upload_photo(explorer, photo))
        assert state.query == "my_dog.jpg"
        assert "my_dog.jpg" in jb.dropdown(explorer, "Query").input_value()
        assert state.hits == 7 and state.labels[0] == QUERY_CLASS
        assert_no_error(page_04, state)

    def test_slider_once_more_after_the_last_cell(self, page_04, explorer) -> None:
        assert jb.unexecuted_cells(page_04) == []  # the last cell (which releases the database) has run
        state = redraw(explorer, lambda: jb.drag_slider(explorer, 3))
        assert jb.slider_value(explorer) == 3
        assert state.hits == 3 and state.labels[0] == QUERY_CLASS
        assert_no_error(page_04, state)


class TestComicPreview:
    """Notebook 05 without an OpenAI key: the preview of what would be sent, and no error."""

    def test_run_all_runs_every_cell_without_error(self, page_05) -> None:
        assert jb.unexecuted_cells(page_05) == []
        assert jb.cell_errors(page_05) == []

    def test_contact_sheet_and_cost_estimate_are_shown(self, page_05) -> None:
        sheet = jb.cell_images(jb.code_cell(page_05, "reference.image() for reference in"))  # the contact sheet
        assert sheet.count() == 1
        assert sheet.evaluate("img => img.naturalWidth") > 0
        sheet.scroll_into_view_if_needed()
        assert sheet.is_visible()
        outputs = "\n".join(jb.cell_outputs(page_05))
        assert re.search(r"Cost:\s+about \$\d+\.\d+", outputs), "no cost estimate on the page_05"
        assert openai_api.HOW_TO_ENABLE.split(". ")[0] in outputs  # "No OpenAI API key found, so nothing is sent..."
