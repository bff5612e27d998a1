"""Notebook 05 end to end against the local test server, with a recognisable fake key that must leak nowhere:
the Images API comic and its refinement, then the same story as a conversation (Responses API).

(`make test` also runs the notebook through nbval with no key at all: the preview mode.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from fake_openai import TEST_KEY, FakeOpenAI
from nbclient import NotebookClient

from helpers import config

NOTEBOOK = config.REPO_ROOT / "notebooks" / "05_comic_generation.ipynb"
LEAK_MARKERS = (TEST_KEY, "LEAKCHECK")  # the whole key, and the part a masked copy would still show


def _code(notebook: dict) -> str:
    return "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")


def test_no_model_name_is_hard_coded() -> None:
    notebook = json.loads(NOTEBOOK.read_text())
    text = "\n".join("".join(c["source"]) for c in notebook["cells"])
    chat_default = config.SETTINGS["CHAT_MODEL"][1]
    for name in ("gpt-image", "dall-e", "chatgpt-image", chat_default, "gpt-4", "gpt-5", "gpt-6", "o3-", "o4-"):
        assert name not in text, name  # model ids come from the settings ("GPT-4o", the product, is named)
    code = _code(notebook)
    assert "model=settings.image_model" in code and "chat_model=settings.chat_model" in code
    assert "GPT-4o image generation" in text  # where learners look for it


def test_the_key_is_never_asked_for_by_default() -> None:
    code = _code(json.loads(NOTEBOOK.read_text()))
    assert "ASK_FOR_KEY = False" in code and "getpass" not in code


def _share_caches(data_dir: Path) -> None:
    """Reuse the embedding cache and model exports of the usual data folder, so the notebook embeds nothing twice."""
    shared = config.load_settings().data_dir
    for name in ("cache", "models"):
        if (shared / name).is_dir():
            (data_dir / name).symlink_to(shared / name, target_is_directory=True)


def _saved_files(folder: Path) -> list[Path]:
    """Every file the run wrote under `folder` (shared caches, being links, are not followed)."""
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names
            if not (Path(root) / name).is_symlink()]


@pytest.mark.slow
def test_the_notebook_makes_a_comic_and_leaks_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir, outputs = tmp_path / "data", tmp_path / "outputs"
    data_dir.mkdir()
    _share_caches(data_dir)
    with FakeOpenAI(api_key=TEST_KEY) as server:
        monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("TUTORIAL_DATA_DIR", str(data_dir))  # its own Milvus Lite file
        monkeypatch.setenv("OUTPUT_DIR", str(outputs))
        monkeypatch.setenv("MODEL_NAME", os.environ.get("MODEL_NAME", "efficientnet_lite0"))
        for name in ("IMAGE_MODEL", "CHAT_MODEL", "MILVUS_URI", "MILVUS_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(notebook, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
        requests = list(server.requests)

    executed = nbformat.writes(notebook)
    saved = _saved_files(tmp_path)
    for marker in LEAK_MARKERS:
        assert marker not in executed, "the key appears in the executed notebook"
        assert not [p for p in saved if marker.encode() in p.read_bytes()], "the key appears in a saved file"

    settings = config.load_settings()
    edits = [r for r in requests if r.path == "/v1/images/edits"]
    assert [len(r.images) for r in edits] == [8, 1]  # the comic from 8 photos, then the refinement turn
    assert all(r.key_ok and r.status == 200 for r in edits)
    assert edits[0].fields["model"] == settings.image_model
    turns = [r for r in requests if r.path == "/v1/responses"]  # the conversation: three turns
    assert [len(r.images) for r in turns] == [8, 0, 0] and all(r.key_ok and r.status == 200 for r in turns)
    assert [r.fields.get("previous_response_id") for r in turns] == [None, turns[0].answer["id"],
                                                                     turns[1].answer["id"]]
    assert {r.fields["model"] for r in turns} == {settings.chat_model}
    assert {r.fields["tools"][0]["model"] for r in turns} == {settings.image_model}
    sidecars = sorted((outputs / "comics").glob("comic-*.json"))
    assert len(sidecars) == 5 and all(p.with_suffix(".png").is_file() for p in sidecars)
    assert {*sidecars, *(p.with_suffix(".png") for p in sidecars)} <= set(saved)  # the leak scan covered them
    records = [json.loads(p.read_text()) for p in sidecars]
    assert all(r["usage"] for r in records)
    images_api = [r for r in records if r["endpoint"] == "images.edit"]
    chat = sorted((r for r in records if r["endpoint"] == "responses.create"), key=lambda r: r["turn"])
    assert sorted(len(r["reference_files"]) for r in images_api) == [1, 8]
    assert [r["response_id"] for r in chat] == [t.answer["id"] for t in turns]
    assert [r["previous_response_id"] for r in chat] == [None, chat[0]["response_id"], chat[1]["response_id"]]
    assert not list((outputs / "comics").glob(".tmp-*"))
    shown = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "image/png" in o.get("data", {})]
    assert len(shown) >= 5  # the search results, the contact sheet, the comic, the refined comic, side by side
    side_by_side = next(c for c in notebook.cells if "show_side_by_side" in c.source)
    assert any("image/png" in o.get("data", {}) for o in side_by_side.outputs)
