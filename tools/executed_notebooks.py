"""Keep the notebooks that nbval executes, outputs included, so the site is built from them (`make site`).

nbval runs the code cells of a notebook in one kernel and keeps each cell's outputs on its test item
(`IPyNbCell.test_outputs`), but never writes them anywhere. With SAVE_EXECUTED_NOTEBOOKS=<dir> set, this pytest
plugin writes every notebook it ran, with those outputs, to <dir>/<its path under the rootdir> when the session
ends; `make test` and `make notebooks` set it, and tools/build_site.py reads that folder. So nothing runs twice.

Widgets: nbval skips the comm messages that carry a widget's state, so a tqdm bar would be saved as the text of its
first draw (`0%|          | 0/1000`) and an ipywidgets Image as nothing. The plugin also reads those messages (it
wraps the notebook's `get_kernel_message`), keeps each widget's last state, and saves each widget output as
static HTML and text of that last state: a finished bar at 100 %, an image as an <img>, a checkbox as ticked or
not. A widget closed by the kernel (tqdm with leave=False) is left out, as a browser would remove it.

Registered by the root conftest.py; a run outside this repository can load it with
`PYTHONPATH=tools pytest -p executed_notebooks ...`.
"""

from __future__ import annotations

import base64
import copy
import html
import os
import re
import tokenize
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
import pytest

ENV_VAR = "SAVE_EXECUTED_NOTEBOOKS"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_MODEL_REF = "IPY_MODEL_"
_MAX_DEPTH = 30  # widget trees nest a few levels; this only guards against a cycle
_SAVE_DIR = pytest.StashKey[Path | None]()  # where this session saves, from SAVE_EXECUTED_NOTEBOOKS


class WidgetStates:
    """The last state of every ipywidgets model a kernel opened, read from its comm messages."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.closed: set[str] = set()

    def record(self, msg: Mapping[str, Any]) -> None:
        """Fold one kernel message into the states (messages that are not about widgets are ignored)."""
        msg_type = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        content = msg.get("content") or {}
        comm_id = content.get("comm_id")
        data = content.get("data") or {}
        if msg_type == "comm_open" and content.get("target_name") == "jupyter.widget":
            self.models[comm_id] = {}
            self._update(comm_id, data, msg.get("buffers") or [])
        elif msg_type == "comm_msg" and comm_id in self.models and data.get("method") in ("update", "echo_update"):
            self._update(comm_id, data, msg.get("buffers") or [])
        elif msg_type == "comm_close" and comm_id in self.models:
            self.closed.add(comm_id)

    def _update(self, comm_id: str, data: Mapping[str, Any], buffers: list) -> None:
        state = copy.deepcopy(dict(data.get("state") or {}))
        for path, buffer in zip(data.get("buffer_paths") or [], buffers):
            target = state
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = bytes(buffer)
        self.models[comm_id].update(state)


def widget_output(output: Mapping[str, Any], states: WidgetStates) -> dict[str, Any] | None:
    """A display output of a widget as static HTML and text of its last state; None when it was closed."""
    model_id = output["data"][WIDGET_VIEW].get("model_id", "")
    data = {key: value for key, value in output["data"].items() if key != WIDGET_VIEW}
    if model_id in states.closed:
        return None
    if model_id in states.models:
        markup, text = _render(states, model_id, 0)
        data["text/html"] = f'<div class="widget-static">{markup}</div>'
        data["text/plain"] = text
    return {**output, "data": data}


def _render(states: WidgetStates, model_id: str, depth: int) -> tuple[str, str]:
    """(HTML, text) of one widget and its children, drawn from the last state."""
    state = states.models.get(model_id)
    if state is None or depth > _MAX_DEPTH or _hidden(states, state):
        return "", ""
    name = state.get("_model_name", "").removesuffix("Model")
    description = state.get("description") or ""
    label = f"{html.escape(description)} " if description and name not in ("Button", "Checkbox") else ""
    if "children" in state:
        return _render_box(states, state, name, depth)
    if name in ("HTML", "HTMLMath"):
        value = state.get("value") or ""
        return label + value, _strip_tags(f"{description} {value}".strip())
    if name == "Label":
        return html.escape(state.get("value") or ""), state.get("value") or ""
    if name in ("FloatProgress", "IntProgress"):
        return _render_progress(state, label)
    if name == "Image":
        return _render_image(state)
    if name in ("Button", "FileUpload", "ToggleButton"):
        text = description or state.get("tooltip") or name
        return f"<button disabled>{html.escape(text)}</button>", f"[{text}]"
    if name == "Checkbox":
        checked = " checked" if state.get("value") else ""
        return (f"<label><input type='checkbox' disabled{checked}> {html.escape(description)}</label>",
                f"[{'x' if state.get('value') else ' '}] {description}")
    if name == "Output":
        return _render_outputs(state.get("outputs") or [])
    value = _value_text(state)
    markup = f"<span class='widget-value'>{label}<code>{html.escape(value)}</code></span>"
    return markup, f"{description} {value}".strip()


def _render_box(states: WidgetStates, state: Mapping[str, Any], name: str, depth: int) -> tuple[str, str]:
    parts = [_render(states, child.removeprefix(_MODEL_REF), depth + 1) for child in state.get("children") or []]
    titles = state.get("titles") or state.get("_titles") or []
    if name in ("Tab", "Accordion", "Stack"):
        parts = [(f"<h4>{html.escape(str(title))}</h4>{markup}", f"{title}\n{text}")
                 for title, (markup, text) in zip([*titles, *[""] * len(parts)], parts)]
    layout = _layout(states, state)
    if name == "GridBox" and layout.get("grid_template_columns"):
        style = f"display:grid;grid-template-columns:{layout['grid_template_columns']};gap:4px"
    elif name == "VBox":
        style = "display:flex;flex-direction:column;gap:4px"
    else:  # an HBox (a tqdm bar is one: description, bar, counts) stays on one line, as in JupyterLab
        style = "display:flex;align-items:center;gap:4px;white-space:nowrap"
    markup = "".join(f"<div>{part}</div>" for part, _ in parts if part)
    separator = "\n" if name in ("VBox", "GridBox", "Tab", "Accordion", "Stack") else " "
    return f'<div style="{style}">{markup}</div>', separator.join(text for _, text in parts if text)


def _render_progress(state: Mapping[str, Any], label: str) -> tuple[str, str]:
    value, low, high = (float(state.get(key) or 0) for key in ("value", "min", "max"))
    fraction = (value - low) / (high - low) if high > low else 0.0
    colour = {"success": "#4caf50", "danger": "#f44336", "warning": "#ff9800", "info": "#2196f3"}
    bar_colour = colour.get(state.get("bar_style") or "", "#2196f3")
    markup = (f"{label}<span style='display:inline-block;width:10em;height:1em;background:#eee;vertical-align:middle'>"
              f"<span style='display:block;height:100%;width:{fraction:.1%};background:{bar_colour}'></span></span>")
    filled = round(fraction * 10)
    return markup, f"|{'█' * filled}{' ' * (10 - filled)}|"


def _render_image(state: Mapping[str, Any]) -> tuple[str, str]:
    value, image_format = state.get("value") or b"", state.get("format") or "png"
    if not value:
        return "", ""
    if image_format == "url":
        source = value.decode() if isinstance(value, bytes) else str(value)
    else:
        raw = value if isinstance(value, bytes) else str(value).encode()
        source = f"data:image/{image_format};base64,{base64.b64encode(raw).decode()}"
    size = "".join(f" {key}='{html.escape(str(state[key]))}'" for key in ("width", "height") if state.get(key))
    return f"<img src='{html.escape(source)}'{size} alt=''>", "[image]"


def _render_outputs(outputs: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    parts: list[tuple[str, str]] = []
    for output in outputs:
        data = output.get("data") or {}
        if output.get("output_type") == "stream":
            text = output.get("text", "")
            parts.append((f"<pre>{html.escape(text)}</pre>", text))
        elif "image/png" in data or "image/jpeg" in data:
            mime = "image/png" if "image/png" in data else "image/jpeg"
            parts.append((f"<img src='data:{mime};base64,{data[mime]}' alt=''>", "[image]"))
        elif "text/html" in data:
            parts.append((_joined(data["text/html"]), _strip_tags(_joined(data["text/html"]))))
        elif "text/plain" in data:
            parts.append((f"<pre>{html.escape(_joined(data['text/plain']))}</pre>", _joined(data["text/plain"])))
    return "".join(markup for markup, _ in parts), "\n".join(text for _, text in parts)


def _layout(states: WidgetStates, state: Mapping[str, Any]) -> Mapping[str, Any]:
    layout = state.get("layout")
    return states.models.get(layout.removeprefix(_MODEL_REF), {}) if isinstance(layout, str) else {}


def _hidden(states: WidgetStates, state: Mapping[str, Any]) -> bool:
    layout = _layout(states, state)
    return layout.get("display") == "none" or layout.get("visibility") == "hidden"


def _value_text(state: Mapping[str, Any]) -> str:
    labels, index = state.get("_options_labels"), state.get("index")
    if labels is not None and isinstance(index, int) and 0 <= index < len(labels):
        return str(labels[index])
    if labels is not None and isinstance(index, (list, tuple)):
        return ", ".join(str(labels[i]) for i in index if 0 <= i < len(labels))
    value = state.get("value")
    return "" if value is None or isinstance(value, (bytes, dict, list)) else str(value)


def _joined(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text


def _strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


def executed_notebook(nb: nbformat.NotebookNode, cells: Iterable[Any], states: WidgetStates) -> nbformat.NotebookNode:
    """A copy of `nb` whose code cells carry the outputs nbval produced (`cells`: its items, in run order)."""
    nb = copy.deepcopy(nb)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in code_cells:
        cell.execution_count = None
    count = 0
    for item in cells:
        if item.test_outputs is None:  # skipped (NBVAL_SKIP) or never reached: keep the committed cell
            continue
        count += 1
        cell = code_cells[item.cell_num]
        cell.execution_count = count
        cell.outputs = []
        quiet = _ends_with_semicolon(cell.source)
        for output in item.test_outputs:
            output = copy.deepcopy(dict(output))
            if output["output_type"] == "execute_result":
                if quiet:
                    continue
                output["execution_count"] = count
            if WIDGET_VIEW in output.get("data", {}):
                output = widget_output(output, states)
            if output is not None:
                cell.outputs.append(nbformat.from_dict(output))
    return nb


def _ends_with_semicolon(source: str) -> bool:
    """True for a cell whose last expression ends with `;`, whose value Jupyter does not show.

    nbval runs cells with store_history=False, so IPython cannot see the `;` and shows the value
    (`pictures.save_figure(fig, ...);` would show its path on the site, but not in JupyterLab).
    """
    from IPython.core.displayhook import DisplayHook
    from IPython.core.inputtransformer2 import TransformerManager

    try:  # IPython checks the cell as it ran it: magics and shell escapes turned into Python first
        return DisplayHook.semicolon_at_end_of_expression(TransformerManager().transform_cell(source))
    except (SyntaxError, tokenize.TokenError):  # not Python after all: keep what it showed
        return False


def pytest_configure(config: pytest.Config) -> None:
    """Take the folder from SAVE_EXECUTED_NOTEBOOKS for this session alone.

    The variable is removed from the environment, so that a test that runs nbval in a subprocess (on a real
    notebook, against another server) cannot overwrite what this session saves.
    """
    target = os.environ.pop(ENV_VAR, None)
    config.stash[_SAVE_DIR] = Path(target).resolve() if target else None


def _save_dir(config: pytest.Config) -> Path | None:
    return config.stash.get(_SAVE_DIR, None)


def _nbval_cells(items: Iterable[pytest.Item]) -> list[pytest.Item]:
    return [item for item in items if hasattr(item, "test_outputs") and getattr(item, "cell", None) is not None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Listen in on each notebook's kernel messages, to keep the widget states nbval skips."""
    if _save_dir(config) is None:
        return
    for notebook in {item.parent for item in _nbval_cells(items)}:
        states, read = WidgetStates(), notebook.get_kernel_message

        def tapped(*args: Any, _read=read, _states=states, **kwargs: Any) -> dict:
            msg = _read(*args, **kwargs)
            _states.record(msg)
            return msg

        notebook.get_kernel_message = tapped  # nbval reads every message through this method of the notebook
        notebook.executed_widget_states = states


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write every notebook that nbval ran, with its outputs, under SAVE_EXECUTED_NOTEBOOKS."""
    target = _save_dir(session.config)
    if target is None:
        return
    by_notebook: dict[Any, list[pytest.Item]] = {}
    for item in _nbval_cells(getattr(session, "items", [])):
        by_notebook.setdefault(item.parent, []).append(item)
    for notebook, cells in by_notebook.items():
        if not any(item.test_outputs is not None for item in cells):
            continue  # deselected, or not run at all
        path = Path(notebook.path)
        try:
            relative = path.relative_to(session.config.rootpath)
        except ValueError:
            relative = Path(path.name)
        states = getattr(notebook, "executed_widget_states", WidgetStates())
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(executed_notebook(notebook.nb, cells, states), destination)
