"""Use the notebooks as a learner does: JupyterLab on 127.0.0.1, driven in Debian's chromium by Playwright.

Shared by the browser tests (tests/test_browser.py) and the explorer benchmark (benchmarks/bench_explorer.py).

    with running_jupyterlab(notebook_dir, env, workdir) as lab, launched_browser() as browser:
        page = new_page(browser)
        open_notebook(page, lab, "04_search_and_visualisation.ipynb")
        run_all(page)
        wait_until_executed(page)
        assert not cell_errors(page)

Playwright cannot download its own browser here (no network), so it drives the system's chromium
(`CHROMIUM_PATH`, default /usr/bin/chromium from the Debian package `chromium`), headless, in a fresh profile
that Playwright makes for each launch, with Chromium's background traffic switched off. JupyterLab runs with its
own settings, workspaces and runtime folders under `workdir`, so nothing of yours is read or changed.

The explorer of notebook 04 is read through a small contract (tests/test_browser.py states it in full): its root
widget has the CSS class `search-explorer`; its gallery pictures are <img> elements inside it (in an element of
class `explorer-gallery`, or in an ipywidgets Output as today); and one element of class `explorer-caption` carries
`data-query`, `data-hits` and `data-labels` for the gallery on screen. Until the class is there, the explorer is
found as the widget box holding an upload button and a slider.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # Playwright is a test dependency, imported only when a browser is used
    from playwright.sync_api import Browser, Locator, Page

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # without these Chromium keeps trying to reach Google's servers
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)
VIEWPORT = {"width": 1400, "height": 1000}
# JupyterLab settings for a quiet, predictable page: no news or update toasts, every cell kept in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},  # never save the run
}
EXPLORER_SELECTOR = ".search-explorer"
# The explorer of today, before it carries its class: the widget box that holds both an upload button and a slider.
LEGACY_EXPLORER_SELECTOR = ".widget-vbox:has(.widget-upload):has(.widget-slider)"
CAPTION_SELECTOR = ".explorer-caption"
STDERR_SELECTOR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
ERROR_PATTERN = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception)\b.*:", re.MULTILINE)


def browser_problem() -> str | None:
    """Why the browser tests cannot run here (no Playwright, no chromium), or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright, or the test extra)"
    if not (Path(CHROMIUM_PATH).is_file() and os.access(CHROMIUM_PATH, os.X_OK)):
        return f"no chromium at {CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


def notebook_settings(root: Path, shared_data_dir: Path) -> dict[str, str]:
    """The environment of a learner's kernel in tests and benchmarks: offline model, no OpenAI key, Milvus Lite.

    Data and outputs go under `root` (a Milvus Lite file of its own); the embedding cache and model exports are
    links into `shared_data_dir`, so nothing is embedded twice. Add it to os.environ (DATASET_SOURCE passes through).
    """
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in ("cache", "models"):
        (shared_data_dir / name).mkdir(parents=True, exist_ok=True)
        if not (data_dir / name).exists():
            (data_dir / name).symlink_to(shared_data_dir / name, target_is_directory=True)
    return {
        "MODEL_NAME": os.environ.get("MODEL_NAME", "efficientnet_lite0"),
        "TUTORIAL_DATA_DIR": str(data_dir),
        "OUTPUT_DIR": str(root / "outputs"),
        "OPENAI_API_KEY": "",  # empty, not unset: a .env file would refill it
        "MILVUS_URI": "",
        "MILVUS_TOKEN": "",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }


# --- JupyterLab ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JupyterLab:
    """A running JupyterLab server: its base URL, token and log."""

    url: str
    token: str
    log_path: Path

    def notebook_url(self, name: str) -> str:
        """The address that opens notebook `name` (relative to the served folder) in JupyterLab, alone.

        `reset` starts from an empty workspace: otherwise JupyterLab reopens the notebooks of an earlier page (with
        new kernels) beside this one, and Run all from the menu may then reach none of them.
        """
        return f"{self.url}/lab/tree/{quote(name)}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API; the decoded JSON answer (None when empty)."""
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def _write_lab_settings(workdir: Path) -> dict[str, str]:
    """Write JupyterLab's user settings under `workdir`; the environment variables that point Jupyter there."""
    folders = {name: workdir / name for name in ("config", "runtime", "settings", "workspaces")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for name, values in LAB_SETTINGS.items():
        plugin, file = name.split("/", 1)[0], name.split("/", 1)[1]
        (folders["settings"] / plugin / file).parent.mkdir(parents=True, exist_ok=True)
        (folders["settings"] / plugin / file).write_text(json.dumps(values))
    return {"JUPYTER_CONFIG_DIR": str(folders["config"]), "JUPYTER_RUNTIME_DIR": str(folders["runtime"]),
            "JUPYTERLAB_SETTINGS_DIR": str(folders["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(folders["workspaces"])}


def _lab_command(notebook_dir: Path, port: int, token: str) -> list[str]:
    """The command line of a JupyterLab server on 127.0.0.1:`port` serving `notebook_dir`."""
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={notebook_dir}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # containers; it still listens on 127.0.0.1 only
    return command


@contextlib.contextmanager
def running_jupyterlab(notebook_dir: Path, env: Mapping[str, str], workdir: Path,
                       timeout: float = 120) -> Iterator[JupyterLab]:
    """Start JupyterLab on `notebook_dir` with `env` added to this environment; stop it and its kernels on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    token, port = secrets.token_hex(16), free_port()
    lab = JupyterLab(f"http://127.0.0.1:{port}", token, workdir / "jupyterlab.log")
    full_env = {**os.environ, **_write_lab_settings(workdir), **env}
    with open(lab.log_path, "w") as log:
        process = subprocess.Popen(_lab_command(Path(notebook_dir), port, token), env=full_env, cwd=notebook_dir,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for_lab(lab, process, timeout)
            yield lab
        finally:
            with contextlib.suppress(OSError):
                shutdown_kernels(lab)
            _stop(process)


def _wait_for_lab(lab: JupyterLab, process: subprocess.Popen, timeout: float) -> None:
    """Wait until the server answers; raise RuntimeError with its log if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError):
            lab.api("status")
            return
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not start ({lab.log_path}):\n{lab.log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """Stop the server (it shuts its kernels down on SIGTERM); kill its process group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def shutdown_kernels(lab: JupyterLab) -> int:
    """Shut every running kernel of `lab` down (frees the Milvus Lite file); how many there were."""
    kernels = lab.api("kernels")
    for kernel in kernels:
        with contextlib.suppress(urllib.error.HTTPError):  # already gone
            lab.api(f"kernels/{kernel['id']}", method="DELETE")
    return len(kernels)


# --- the browser --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def launched_browser() -> Iterator[Browser]:
    """Headless chromium (the system's), driven by Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser) -> Page:
    """A page in a fresh browser context (no cookies or storage from another test)."""
    return browser.new_context(viewport=VIEWPORT).new_page()


def save_screenshot(page: Page, path: Path) -> Path:
    """Save what the page shows now, with the explorer scrolled into view when there is one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):  # a screenshot must not hide the failure it documents
        explorer = find_explorer(page)
        if explorer.count():
            explorer.scroll_into_view_if_needed(timeout=2000)
    page.screenshot(path=str(path))
    return path


# --- notebooks ----------------------------------------------------------------------------------------------------

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front
# True once the notebook in front shows its cells and its kernel is connected and idle (not "No Kernel").
JS_KERNEL_READY = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const kernel = panel?.querySelector('.jp-Toolbar-kernelName')?.textContent.trim();
  return !!kernel && kernel !== 'No Kernel'
    && panel.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle';
}"""
# True once the kernel is idle, no cell waits and some cell has run: Run All finished or stopped at an error.
JS_RUN_FINISHED = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (panel?.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status !== 'idle') return false;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  return !prompts.includes('[*]:') && prompts.some(p => /^\\[\\d+\\]:$/.test(p));
}"""


def open_notebook(page: Page, lab: JupyterLab, name: str, timeout: float = 120) -> None:
    """Open notebook `name` and wait until its kernel is connected and idle."""
    page.goto(lab.notebook_url(name))
    page.wait_for_function(JS_KERNEL_READY, timeout=timeout * 1000, polling=250)


def run_all(page: Page) -> None:
    """Run > Run All Cells, through the menu as a learner does."""
    run_menu(page, "runmenu:run-all")


def run_menu(page: Page, command: str) -> None:
    """Open the Run menu and click the item of `command` (for example notebook:run-all-above)."""
    page.locator(".lm-MenuBar-item", has_text="Run").click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def wait_until_executed(page: Page, timeout: float = 1200) -> None:
    """Wait until the kernel is idle and no cell is queued (all ran, or Run All stopped at an error)."""
    page.wait_for_function(JS_RUN_FINISHED, timeout=timeout * 1000, polling=500)


def unexecuted_cells(page: Page) -> list[int]:
    """The 1-based positions, among the code cells, of those that have not run (prompt `[ ]:`)."""
    prompts = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").all_text_contents()
    return [i for i, prompt in enumerate(prompts, start=1) if not re.fullmatch(r"\[\d+\]:", prompt.strip())]


def cell_errors(page: Page) -> list[str]:
    """The error outputs the notebook shows now: each stderr output that holds a traceback or an error line."""
    return [text.strip() for text in stderr_outputs(page) if ERROR_PATTERN.search(text)]


def cell_outputs(page: Page) -> list[str]:
    """The text of every cell output, in order (stdout, results and stderr alike)."""
    return page.locator(f"{NOTEBOOK} .jp-OutputArea-output").all_text_contents()


def stderr_outputs(page: Page) -> list[str]:
    """The text of every stderr output (warnings, logs and errors)."""
    return page.locator(f"{NOTEBOOK} {STDERR_SELECTOR}").all_text_contents()


def code_cell(page: Page, code: str) -> Locator:
    """The first code cell of the notebook in front whose source contains `code`."""
    return page.locator(f"{NOTEBOOK} .jp-CodeCell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=code)).first


def cell_images(cell: Locator) -> Locator:
    """The pictures (PNG, JPEG) shown in the outputs of `cell`."""
    return cell.locator(".jp-RenderedImage img")


def run_through_cell(page: Page, code: str, timeout: float = 1200) -> None:
    """Run every cell above the code cell containing `code`, then that cell (Run menu, as a learner does)."""
    code_cell(page, code).locator(".jp-InputPrompt").click()
    for command in ("notebook:run-all-above", "notebook:run-cell"):
        run_menu(page, command)
        wait_until_executed(page, timeout)


# --- the explorer of notebook 04 ----------------------------------------------------------------------------------

# What the explorer's gallery shows now: a fingerprint of its pictures, the caption's data-* attributes, its message.
JS_GALLERY_STATE = """(root) => {
  const images = [...root.querySelectorAll('.explorer-gallery img, .widget-output .jp-OutputArea-output img')]
    .map(img => img.src.length + ':' + img.src.slice(-48));
  const caption = root.querySelector('.explorer-caption');
  const message = [...root.querySelectorAll('.widget-html')].map(e => e.textContent.trim()).filter(Boolean);
  return {images, caption: caption ? {...caption.dataset} : null, message: message.join(' | ')};
}"""
# Record in window.__redraw when the gallery has redrawn: its pictures changed and, if it had a caption, so did that.
JS_WATCH_REDRAW = """(root) => {
  const state = () => ({
    images: [...root.querySelectorAll('.explorer-gallery img, .widget-output .jp-OutputArea-output img')]
      .map(img => img.src.length + ':' + img.src.slice(-48)).join(','),
    caption: JSON.stringify({...root.querySelector('.explorer-caption')?.dataset})});
  const before = state();
  const redraw = window.__redraw = {start: performance.now(), end: null};
  const observer = new MutationObserver(() => {
    const now = state();
    if (now.images && now.images !== before.images && (before.caption === '{}' || now.caption !== before.caption)) {
      redraw.end = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


@dataclass(frozen=True)
class GalleryState:
    """What the explorer shows: fingerprints of its pictures, its caption's data attributes, its message text."""

    images: tuple[str, ...]
    caption: dict[str, str] | None
    message: str

    @property
    def hits(self) -> int:
        """The number of hits the caption announces (`data-hits`)."""
        return int(self._caption("hits"))

    @property
    def labels(self) -> list[str]:
        """The hits' labels, best first (`data-labels`)."""
        return [label for label in self._caption("labels").split(",") if label]

    @property
    def query(self) -> str:
        """The query photo's file name (`data-query`)."""
        return self._caption("query")

    def _caption(self, name: str) -> str:
        if self.caption is None:
            raise AssertionError(f"the explorer shows no {CAPTION_SELECTOR} element: its data-hits, data-labels and "
                                 "data-query attributes are how a test reads the gallery (tests/jupyter_browser.py); "
                                 f"the explorer says {self.message!r}")
        if name not in self.caption:
            raise AssertionError(f"the explorer caption has no data-{name} attribute: {self.caption}")
        return self.caption[name]


def find_explorer(page: Page) -> Locator:
    """The explorer widget of the notebook in front (its root element)."""
    explorer = page.locator(f"{NOTEBOOK} {EXPLORER_SELECTOR}")
    return explorer.or_(page.locator(f"{NOTEBOOK} {LEGACY_EXPLORER_SELECTOR}")).first


def gallery_state(explorer: Locator) -> GalleryState:
    """Read what the explorer's gallery shows now."""
    state = explorer.evaluate(JS_GALLERY_STATE)
    return GalleryState(tuple(state["images"]), state["caption"], state["message"])


def measure_redraw(explorer: Locator, action: Callable[[], None], timeout: float = 60) -> float:
    """Do `action` (a user's change) and wait until the gallery has redrawn; the seconds it took, in the page."""
    explorer.evaluate(JS_WATCH_REDRAW)
    action()
    explorer.page.wait_for_function("() => window.__redraw.end !== null", timeout=timeout * 1000, polling="raf")
    return explorer.page.evaluate("() => (window.__redraw.end - window.__redraw.start) / 1000")


def _label(explorer: Locator, description: str) -> Locator:
    """Widget labels that read exactly `description`."""
    return explorer.page.locator(".widget-label", has_text=re.compile(f"^{re.escape(description)}$"))


def slider(explorer: Locator, description: str = "k") -> Locator:
    """The slider of the explorer whose label is `description`."""
    return explorer.locator(".widget-slider").filter(has=_label(explorer, description))


def type_slider_value(explorer: Locator, value: int, description: str = "k") -> None:
    """Set a slider by typing `value` into its readout and pressing Enter (one change, as on release)."""
    readout = slider(explorer, description).locator(".widget-readout")
    readout.click()
    explorer.page.keyboard.press("ControlOrMeta+A")
    explorer.page.keyboard.type(str(value))
    explorer.page.keyboard.press("Enter")


def drag_slider(explorer: Locator, value: int, description: str = "k") -> None:
    """Drag a slider's handle to `value` with the mouse; the change fires once, on release."""
    handle = slider(explorer, description).locator(".noUi-handle")
    low, high = (float(handle.get_attribute(name)) for name in ("aria-valuemin", "aria-valuemax"))
    track = slider(explorer, description).locator(".noUi-base").bounding_box()
    start = handle.bounding_box()
    mouse = explorer.page.mouse
    mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    mouse.down()
    mouse.move(track["x"] + track["width"] * (value - low) / (high - low), start["y"] + start["height"] / 2, steps=8)
    mouse.up()


def slider_value(explorer: Locator, description: str = "k") -> int:
    """The value a slider shows now."""
    return int(float(slider(explorer, description).locator(".noUi-handle").get_attribute("aria-valuenow")))


def dropdown(explorer: Locator, description: str) -> Locator:
    """The <select> of the explorer's dropdown labelled `description`."""
    return explorer.locator(".widget-dropdown").filter(has=_label(explorer, description)).locator("select")


def options(explorer: Locator, description: str) -> list[str]:
    """The options of the explorer's dropdown labelled `description`, in order."""
    return dropdown(explorer, description).locator("option").evaluate_all("options => options.map(o => o.value)")


def choose(explorer: Locator, description: str, option: str) -> None:
    """Choose the option labelled `option` in the dropdown labelled `description`."""
    dropdown(explorer, description).select_option(value=option)


def upload_photo(explorer: Locator, path: Path) -> None:
    """Click the explorer's upload button and pick `path` in the file chooser that opens."""
    with explorer.page.expect_file_chooser() as chooser:
        explorer.locator(".widget-upload").click()
    chooser.value.set_files(str(path))
