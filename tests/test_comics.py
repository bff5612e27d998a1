"""helpers.comic.comics, the lesson of notebook 05, through the real openai client against tests/fake_openai.py."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from fake_openai import FakeOpenAI
from PIL import Image

from helpers import config
from helpers.comic import comics
from helpers.photos.hits import Hit


@pytest.fixture
def photos(make_image: Callable[..., Path]) -> list[Path]:
    """Four photos as people have them: a big JPEG, a PNG with alpha, a palette GIF, a small JPEG."""
    return [make_image("big.jpg", size=(1200, 800), seed=1), make_image("alpha.png", mode="RGBA", seed=2),
            make_image("palette.gif", mode="P", seed=3), make_image("small.jpg", size=(40, 60), seed=4)]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# --- prompts and reference photos ------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "phrase"), [
    ("mouse", "four-panel, full-color, hilarious comic strip"), ("mouse", "gnawing on a mouse"),
    ("mouse", "when the owner finds out"), ("outfit", "rocks a cute outfit"),
    ("hogwarts", "Hogwarts School of Witchcraft and Wizardry"),
])
def test_the_blog_prompts_are_templates(template: str, phrase: str) -> None:
    prompt = comics.build_prompt(template, subject="Rex the Afghan hound")
    assert phrase in prompt and "Rex the Afghan hound" in prompt and "{subject}" not in prompt


def test_your_own_prompt_is_used_as_written() -> None:
    assert comics.build_prompt("  Draw {subject} surfing, with {braces} kept ") == \
        f"Draw {comics.DEFAULT_SUBJECT} surfing, with {{braces}} kept"


@pytest.mark.parametrize("text", ["", "   ", "x" * (comics.MAX_PROMPT_CHARS + 1)])
def test_an_empty_or_too_long_prompt_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="prompt"):
        comics.build_prompt(text)


def test_references_are_the_best_distinct_hits_within_the_limit() -> None:
    hits = [Hit("a.jpg", "dog", 0.9), Hit("b.jpg", "cat", 0.8), Hit("a.jpg", "dog", 0.7), Hit("c.jpg", "dog", 0.6)]
    assert comics.choose_references(hits, max_images=8) == [Path("a.jpg"), Path("b.jpg"), Path("c.jpg")]
    assert comics.choose_references(hits, max_images=8, label="dog") == [Path("a.jpg"), Path("c.jpg")]
    assert comics.choose_references(hits, max_images=2) == [Path("a.jpg"), Path("b.jpg")]
    with pytest.raises(ValueError, match="1 to 16"):
        comics.choose_references(hits, max_images=17)


def test_references_are_shrunk_and_compressed(photos: list[Path]) -> None:
    references = comics.prepare_references(photos)
    assert [ref.path for ref in references] == photos
    for ref in references:
        with Image.open(io.BytesIO(ref.jpeg)) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert max(image.size) <= comics.REFERENCE_MAX_SIDE and image.size == (ref.width, ref.height)
    assert (references[0].width, references[0].height) == (512, 341)  # 1200x800 shrunk, aspect kept
    assert references[0].path.stat().st_size > len(references[0].jpeg)  # the upload is smaller than the file
    assert "jpeg" not in repr(references[0])  # the bytes never flood a notebook output


def test_more_than_16_references_are_refused(photos: list[Path]) -> None:
    with pytest.raises(ValueError, match="at most 16"):
        comics.prepare_references(photos * 5)


def test_a_plan_shows_what_would_be_sent_without_a_key(photos: list[Path], no_key_anywhere: None) -> None:
    request = comics.plan_comic("hogwarts", photos[:2], model="gpt-image-2", quality="low")
    text = comics.describe_request(request)
    assert request.endpoint == "images.edit"
    for expected in ("images.edit", "gpt-image-2", "2 reference photos", "big.jpg", "Hogwarts", "quality low", "$"):
        assert expected in text
    assert [ref.image().size for ref in request.references] == [(512, 341), (32, 24)]
    without_photos = comics.plan_comic("hogwarts", model="gpt-image-2", quality="low")
    assert request.estimated_cost_usd > without_photos.estimated_cost_usd
    assert comics.plan_comic("mouse").endpoint == "images.generate"


@pytest.mark.parametrize(("size", "quality"), [("1000x1000", "medium"), ("big", "low"), ("1024x1024", "ultra")])
def test_bad_sizes_and_qualities_are_refused_before_sending(size: str, quality: str) -> None:
    with pytest.raises(ValueError, match="size|quality"):
        comics.plan_comic("mouse", size=size, quality=quality)


# --- generating, saving, refining ----------------------------------------------------------------------


def test_an_edit_sends_every_reference_and_saves_png_and_sidecar(openai_client: openai.OpenAI,
                                                                 openai_server: FakeOpenAI, photos: list[Path],
                                                                 tmp_path: Path) -> None:
    request = comics.plan_comic("mouse", photos, quality="low")
    result = comics.generate_comic(openai_client, request, tmp_path / "comics")
    sent = openai_server.image_requests()[-1]
    assert sent.path == "/v1/images/edits" and sent.status == 200
    assert [image["format"] for image in sent.images] == ["JPEG"] * len(photos)
    assert sent.fields["model"] == request.model and sent.fields["prompt"] == request.prompt
    assert Image.open(result.image_path).format == "PNG"
    record = json.loads(result.sidecar_path.read_text())
    assert record["reference_files"] == [str(p) for p in photos] and record["quality"] == "low"
    for key in ("prompt", "model", "size", "usage", "estimated_cost_usd", "seconds", "created_at"):
        assert record[key] is not None, key
    assert record["cost_basis"] == "usage" and record["usage"]["output_tokens"] > 0
    assert _files(tmp_path / "comics") == sorted([result.image_path.name, result.sidecar_path.name])


def test_without_references_the_image_is_generated(openai_client: openai.OpenAI, openai_server: FakeOpenAI,
                                                   tmp_path: Path) -> None:
    result = comics.generate_comic(openai_client, comics.plan_comic("Draw a dog on a bike"), tmp_path)
    assert openai_server.image_requests()[-1].path == "/v1/images/generations"
    assert result.record["endpoint"] == "images.generate" and result.record["reference_files"] == []


def test_a_refinement_edits_the_last_result(openai_client: openai.OpenAI, openai_server: FakeOpenAI,
                                           photos: list[Path], tmp_path: Path) -> None:
    first = comics.generate_comic(openai_client, comics.plan_comic("mouse", photos[:2]), tmp_path)
    request = comics.plan_refinement(first, "make panel three funnier")
    assert "make panel three funnier" in request.prompt and request.parent == first.image_path
    assert (request.model, request.size, request.quality) == (first.record["model"], first.record["size"],
                                                              first.record["quality"])
    second = comics.generate_comic(openai_client, request, tmp_path, check_model=False)
    edit = openai_server.image_requests()[-1]
    assert len(edit.images) == 1 and edit.images[0]["filename"].endswith(f"{first.image_path.stem}.jpg")
    assert comics.load_result(second.image_path).record["parent"] == str(first.image_path)
    assert second.input_paths == [first.image_path] and second.input_title == "previous turn (input)"
    assert first.input_title == "reference photos (input)" and first.input_paths == photos[:2]
    assert [r.path for r in openai_server.requests].count("/v1/models") == 1  # checked once, before paying


def test_a_result_says_which_model_made_it_and_its_cost(tmp_path: Path) -> None:
    result = comics.save_result(_png_bytes(), {"model": "m", "seconds": 41.6, "estimated_cost_usd": 0.0512}, tmp_path)
    assert result.caption == "generated by m in 42 s, about $0.051"
    assert comics.save_result(_png_bytes(), {"model": "m", "seconds": 3}, tmp_path).caption == "generated by m in 3 s"


# --- results on disk ---------------------------------------------------------------------------------------


def test_a_record_that_cannot_be_saved_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        comics.save_result(_png_bytes(), {"prompt": object()}, tmp_path)
    assert _files(tmp_path) == []


def test_results_go_under_the_output_folder_by_default(tmp_settings: config.Settings) -> None:
    result = comics.save_result(_png_bytes(), {"prompt": "p"})
    assert result.image_path.parent == tmp_settings.output_dir / "comics"
    assert comics.load_result(result.image_path).record["image_file"] == result.image_path.name



# --- a folder of saved comics (a teacher's, shared with the room) -------------------------------------------


def _saved(folder: Path, stem: str, created_at: str | None, **record: object) -> Path:
    """A PNG + sidecar pair as save_result writes it, with a chosen name and creation time."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.png").write_bytes(_png_bytes())
    record = {"prompt": f"prompt of {stem}", "model": "gpt-image-test", "image_file": f"{stem}.png", **record}
    if created_at is not None:
        record["created_at"] = created_at
    (folder / f"{stem}.json").write_text(json.dumps(record))
    return folder / f"{stem}.png"


def test_saved_comics_are_listed_newest_first(tmp_path: Path) -> None:
    shared = tmp_path / "teacher"
    _saved(shared, "a-oldest", "2026-03-01T09:00:00+00:00")
    _saved(shared, "b-newest", "2026-03-01T11:30:00+00:00")
    _saved(shared, "c-middle", "2026-03-01T12:00:00+02:00")  # 10:00 UTC: time zones are compared as times
    saved = comics.load_results(shared)
    assert [r.image_path.stem for r in saved.results] == ["b-newest", "c-middle", "a-oldest"]
    assert saved.skipped == []
    assert saved.results[0].prompt == "prompt of b-newest" and saved.results[0].input_paths == []


def test_results_saved_here_are_found_again(tmp_path: Path) -> None:
    first = comics.save_result(_png_bytes(), {"prompt": "p1", "model": "m", "created_at": "2026-01-01T00:00:00+00:00"},
                               tmp_path)
    second = comics.save_result(_png_bytes(), {"prompt": "p2", "model": "m", "created_at": "2026-01-02T00:00:00+00:00"},
                                tmp_path)
    assert [r.image_path for r in comics.load_results(tmp_path).results] == [second.image_path, first.image_path]


def test_a_sidecar_without_a_time_falls_back_to_the_file_time(tmp_path: Path) -> None:
    older = _saved(tmp_path, "z-no-time", None)
    os.utime(older, (1_000_000_000, 1_000_000_000))  # 2001
    _saved(tmp_path, "a-dated", "2026-03-01T09:00:00+00:00")
    assert [r.image_path.stem for r in comics.load_results(tmp_path).results] == ["a-dated", "z-no-time"]


def test_what_cannot_be_shown_is_skipped_with_a_reason(tmp_path: Path) -> None:
    good = _saved(tmp_path, "good", "2026-03-01T09:00:00+00:00")
    lonely = _saved(tmp_path, "lonely", "2026-03-01T09:00:00+00:00")
    lonely.with_suffix(".json").unlink()  # the PNG was copied without its sidecar
    damaged = _saved(tmp_path, "damaged", "2026-03-01T09:00:00+00:00")
    damaged.with_suffix(".json").write_text('{"prompt": "cut sho')  # a copy that stopped half way
    foreign = _saved(tmp_path, "foreign", None)
    foreign.with_suffix(".json").write_text('["not", "a", "record"]')
    broken = _saved(tmp_path, "broken", "2026-03-01T09:00:00+00:00")
    broken.write_bytes(b"\x89PNG not really")
    orphan = _saved(tmp_path, "orphan", "2026-03-01T09:00:00+00:00")
    orphan.unlink()  # a sidecar whose image is missing
    (tmp_path / "notes.txt").write_text("bring biscuits")
    (tmp_path / "older").mkdir()

    saved = comics.load_results(tmp_path)
    assert [r.image_path for r in saved.results] == [good]
    reasons = {path.name: reason for path, reason in saved.skipped}
    assert set(reasons) == {"lonely.png", "damaged.png", "foreign.png", "broken.png", "orphan.json",
                            "notes.txt", "older"}
    assert "no JSON sidecar (lonely.json)" in reasons["lonely.png"]
    assert "damaged.json is damaged (JSONDecodeError" in reasons["damaged.png"]
    assert "not a comic's record" in reasons["foreign.png"]
    assert "image cannot be read" in reasons["broken.png"]
    assert "without its image (orphan.png)" in reasons["orphan.json"]
    assert "not a comic" in reasons["notes.txt"] and "sub-folders" in reasons["older"]


def test_a_missing_shared_folder_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="OUTPUT_DIR/comics"):
        comics.load_results(tmp_path / "not-copied-yet")

def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()
