"""helpers.comics through the real openai client, against the local test server in tests/fake_openai.py."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import openai
import pytest
from fake_openai import TEST_KEY, FakeOpenAI
from PIL import Image

from helpers import comics, config


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The local Images API, with OPENAI_BASE_URL pointing at it."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        yield fake


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits are recorded here instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(comics, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def openai_client(server: FakeOpenAI) -> openai.OpenAI:
    return comics.make_client(TEST_KEY)


@pytest.fixture
def photos(make_image: Callable[..., Path]) -> list[Path]:
    """Four photos as people have them: a big JPEG, a PNG with alpha, a palette GIF, a small JPEG."""
    return [make_image("big.jpg", size=(1200, 800), seed=1), make_image("alpha.png", mode="RGBA", seed=2),
            make_image("palette.gif", mode="P", seed=3), make_image("small.jpg", size=(40, 60), seed=4)]


@pytest.fixture
def no_key_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key in the environment, and a developer's .env is not read."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(config, "_load_dotenv", lambda: None)


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
    class Hit:  # the shape of store.Hit
        def __init__(self, path: str, label: str) -> None:
            self.path, self.label = path, label

    hits = [Hit("a.jpg", "dog"), Hit("b.jpg", "cat"), Hit("a.jpg", "dog"), Hit("c.jpg", "dog")]
    assert comics.choose_references(hits, max_images=8) == [Path("a.jpg"), Path("b.jpg"), Path("c.jpg")]
    assert comics.choose_references(hits, max_images=8, label="dog") == [Path("a.jpg"), Path("c.jpg")]
    assert comics.choose_references(["x.jpg", "y.jpg", "z.jpg"], max_images=2) == [Path("x.jpg"), Path("y.jpg")]
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
    assert request.endpoint == "images.edit" and request.upload_bytes > 0
    for expected in ("images.edit", "gpt-image-2", "2 reference photos", "big.jpg", "Hogwarts", "quality low", "$"):
        assert expected in text
    sheet = comics.make_contact_sheet(request.references, ncols=2, cell=100)
    assert sheet.size == (200, 100)
    assert comics.plan_comic("mouse").endpoint == "images.generate"


@pytest.mark.parametrize(("size", "quality"), [("1000x1000", "medium"), ("big", "low"), ("1024x1024", "ultra")])
def test_bad_sizes_and_qualities_are_refused_before_sending(size: str, quality: str) -> None:
    with pytest.raises(ValueError, match="size|quality"):
        comics.plan_comic("mouse", size=size, quality=quality)


# --- cost -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "quality", "tokens"), [
    ("1024x1024", "low", 196), ("1024x1024", "medium", 1756), ("1024x1024", "high", 7024),
    ("1536x1024", "high", 5488), ("1024x1536", "medium", 1372),
])
def test_output_tokens_follow_the_size_and_quality_rule(size: str, quality: str, tokens: int) -> None:
    assert comics.estimate_output_tokens(size, quality) == pytest.approx(tokens, abs=1)


def test_cost_estimates_and_usage_prices() -> None:
    medium = comics.estimate_cost("gpt-image-2", "1024x1024", "medium")
    assert medium == pytest.approx(1756 * 30 / 1e6, rel=0.01)
    assert comics.estimate_cost("gpt-image-2-2026-04-21", "1024x1024", "high") > medium  # snapshots share prices
    assert comics.estimate_cost("some-future-model", "1024x1024", "medium") is None
    usage = {"input_tokens": 300, "output_tokens": 1000,
             "input_tokens_details": {"text_tokens": 100, "image_tokens": 200}}
    assert comics.cost_from_usage("gpt-image-2", usage) == pytest.approx((100 * 5 + 200 * 8 + 1000 * 30) / 1e6)
    assert comics.cost_from_usage("unknown", usage) is None and comics.cost_from_usage("gpt-image-2", None) is None


# --- the key --------------------------------------------------------------------------------------------


def test_no_key_gives_the_how_to(no_key_anywhere: None) -> None:
    with pytest.raises(comics.ComicError) as caught:
        comics.make_client()
    assert caught.value.reason == "no_key"
    assert "OPENAI_API_KEY" in str(caught.value) and ".env" in str(caught.value) and "Colab" in str(caught.value)


def test_asking_for_the_key_never_blocks_where_no_one_can_answer(no_key_anywhere: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.error import StdinNotImplementedError

    def no_stdin(prompt: str = "") -> str:  # what ipykernel does under nbval/nbclient
        raise StdinNotImplementedError("getpass was called, but this frontend does not support input requests.")

    monkeypatch.setattr("getpass.getpass", no_stdin)
    with pytest.raises(comics.ComicError, match="No OpenAI API key") as caught:
        comics.make_client(ask=True)
    assert caught.value.reason == "no_key"


def test_a_key_typed_into_the_hidden_prompt_is_used(no_key_anywhere: None, monkeypatch: pytest.MonkeyPatch,
                                                    server: FakeOpenAI) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": TEST_KEY)
    client = comics.make_client(ask=True)
    assert comics.check_image_model(client).usable and server.requests[-1].key_ok
    assert client.max_retries == 0  # a retried image call is billed again


def test_keys_are_redacted_from_error_messages() -> None:
    assert TEST_KEY not in str(comics.ComicError(f"bad {TEST_KEY} here", reason="bad_key"))


# --- the model check ------------------------------------------------------------------------------------


def test_the_configured_model_is_checked_for_free(openai_client: openai.OpenAI, server: FakeOpenAI) -> None:
    check = comics.check_image_model(openai_client)
    assert check.model == config.load_settings().image_model and check.usable
    assert [r.path for r in server.requests] == ["/v1/models"]


@pytest.mark.parametrize(("model", "usable", "phrase"), [
    ("gpt-image-1", False, "was shut down on 2026-10-23"),  # shutdown_date from the model list
    ("gpt-image-1-mini", True, "shuts down on 2026-12-01 (in 6 days)"),  # no shutdown_date: the known table
    ("gpt-image-1.5", True, "switch soon"),
    ("gpt-image-9", False, "not in your account's model list"),
])
def test_missing_or_retired_models_say_what_to_use(openai_client: openai.OpenAI, model: str, usable: bool,
                                                   phrase: str) -> None:
    check = comics.check_image_model(openai_client, model, today=date(2026, 11, 25))
    assert check.usable is usable and phrase in check.message
    assert "IMAGE_MODEL" in check.message and "gpt-image-2" in check.available
    assert "gpt-image-1" not in check.available and "gpt-5" not in check.available


def test_after_the_shutdown_date_a_model_is_refused(openai_client: openai.OpenAI) -> None:
    assert not comics.check_image_model(openai_client, "gpt-image-1.5", today=date(2026, 12, 1)).usable


def test_without_a_key_only_known_shutdowns_are_checked() -> None:
    assert not comics.check_image_model(None, "gpt-image-1", today=date(2026, 11, 25)).usable
    check = comics.check_image_model(None, "gpt-image-2")
    assert check.usable and "not checked" in check.message


def test_a_retired_model_is_refused_before_any_money_is_spent(openai_client: openai.OpenAI, server: FakeOpenAI,
                                                              tmp_path: Path) -> None:
    with pytest.raises(comics.ComicError) as caught:
        comics.generate_comic(openai_client, comics.plan_comic("mouse", model="gpt-image-1"), tmp_path)
    assert caught.value.reason == "model" and server.image_requests() == []


# --- generating, saving, refining ----------------------------------------------------------------------


def test_an_edit_sends_every_reference_and_saves_png_and_sidecar(openai_client: openai.OpenAI, server: FakeOpenAI,
                                                                 photos: list[Path], tmp_path: Path) -> None:
    request = comics.plan_comic("mouse", photos, quality="low")
    result = comics.generate_comic(openai_client, request, tmp_path / "comics")
    sent = server.image_requests()[-1]
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


def test_without_references_the_image_is_generated(openai_client: openai.OpenAI, server: FakeOpenAI,
                                                   tmp_path: Path) -> None:
    result = comics.generate_comic(openai_client, comics.plan_comic("Draw a dog on a bike"), tmp_path)
    assert server.image_requests()[-1].path == "/v1/images/generations"
    assert result.record["endpoint"] == "images.generate" and result.record["reference_files"] == []


def test_a_session_refines_the_last_result_and_keeps_the_history(openai_client: openai.OpenAI, server: FakeOpenAI,
                                                                 photos: list[Path], tmp_path: Path) -> None:
    session = comics.ComicSession(openai_client, photos[:2], output_dir=tmp_path)
    with pytest.raises(ValueError, match="start"):
        session.refine("make panel three funnier")
    first = session.start("mouse")
    second = session.refine("make panel three funnier")
    assert [r.image_path for r in session.history] == [first.image_path, second.image_path]
    assert "make panel three funnier" in session.prompts[1] and session.prompts[0] == first.prompt
    edit = server.image_requests()[-1]
    assert len(edit.images) == 1 and edit.images[0]["filename"].endswith(f"{first.image_path.stem}.jpg")
    assert comics.load_result(second.image_path).record["parent"] == str(first.image_path)
    assert [r.path for r in server.requests].count("/v1/models") == 1  # the model is checked once a session


# --- failures: each a clear message, nothing written, billed calls never retried ----------------------


@pytest.mark.parametrize(("kind", "reason", "phrase"), [
    ("403", "unverified", "organisation must be verified"),
    ("moderation", "moderation", "reword the prompt"),
    ("500", "server", "not retried automatically"),
    ("quota", "quota", "retrying will not help"),
    ("garbage", "bad_response", "no readable image"),
])
def test_failures_are_explained_and_leave_nothing_behind(openai_client: openai.OpenAI, server: FakeOpenAI,
                                                         tmp_path: Path, waits: list[float], kind: str, reason: str,
                                                         phrase: str) -> None:
    server.fail_next(kind, times=5)
    with pytest.raises(comics.ComicError) as caught:
        comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path / "comics")
    assert caught.value.reason == reason and phrase in str(caught.value)
    assert TEST_KEY not in str(caught.value)
    assert len(server.image_requests()) == 1 and waits == []  # not retried
    assert _files(tmp_path / "comics") == []


def test_a_bad_key_is_explained(server: FakeOpenAI, tmp_path: Path) -> None:
    wrong_key = "sk-test-WRONG-" + "x" * 30
    with pytest.raises(comics.ComicError) as caught:
        comics.generate_comic(comics.make_client(wrong_key), comics.plan_comic("mouse"), tmp_path)
    assert caught.value.reason == "bad_key" and "401" in str(caught.value)
    assert wrong_key not in str(caught.value) and server.image_requests() == []


def test_rate_limits_are_retried_honouring_retry_after(openai_client: openai.OpenAI, server: FakeOpenAI,
                                                       tmp_path: Path, waits: list[float]) -> None:
    server.fail_next("429", times=2, retry_after=7)
    result = comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path)
    assert waits == [7.0, 7.0] and [r.status for r in server.image_requests()] == [429, 429, 200]
    assert result.image_path.is_file()


def test_rate_limit_retries_are_bounded(openai_client: openai.OpenAI, server: FakeOpenAI, tmp_path: Path,
                                        waits: list[float]) -> None:
    server.fail_next("429", times=99)
    with pytest.raises(comics.ComicError) as caught:
        comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path)
    assert caught.value.reason == "rate_limit"
    assert len(server.image_requests()) == comics.MAX_RETRIES + 1 and len(waits) == comics.MAX_RETRIES
    assert all(2 <= wait <= 30 * 1.25 for wait in waits) and waits == sorted(waits)  # growing backoff
    assert _files(tmp_path) == []


def test_a_retry_after_longer_than_we_wait_is_reported(openai_client: openai.OpenAI, server: FakeOpenAI,
                                                       tmp_path: Path, waits: list[float]) -> None:
    server.fail_next("429", retry_after=3600)
    with pytest.raises(comics.ComicError, match="asked to wait 3600 s"):
        comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path)
    assert waits == [] and len(server.image_requests()) == 1


def test_a_slow_answer_times_out_and_is_not_retried(server: FakeOpenAI, tmp_path: Path, waits: list[float]) -> None:
    server.fail_next("slow", delay=3)
    slow_client = comics.make_client(TEST_KEY, timeout=0.5)
    with pytest.raises(comics.ComicError) as caught:
        comics.generate_comic(slow_client, comics.plan_comic("mouse"), tmp_path, check_model=False)
    assert caught.value.reason == "timeout" and "timeout=" in str(caught.value)
    assert len(server.image_requests()) == 1 and waits == [] and _files(tmp_path) == []


def test_a_dropped_connection_is_retried(openai_client: openai.OpenAI, server: FakeOpenAI, tmp_path: Path,
                                         waits: list[float]) -> None:
    server.fail_next("drop")
    result = comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path)
    assert [r.status for r in server.image_requests()] == [-1, 200] and len(waits) == 1
    assert result.sidecar_path.is_file()


def test_an_unreachable_server_is_explained(monkeypatch: pytest.MonkeyPatch, waits: list[float]) -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    monkeypatch.setenv("OPENAI_BASE_URL", url)  # nothing listens there any more
    with pytest.raises(comics.ComicError) as caught:
        comics.check_image_model(comics.make_client(TEST_KEY))
    assert caught.value.reason == "connection" and len(waits) == comics.MAX_RETRIES


# --- atomic writes ---------------------------------------------------------------------------------------


def test_saving_writes_both_files_or_neither(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    png = _png_bytes()
    real_replace, calls = comics.os.replace, []

    def failing_replace(src: Path, dst: Path) -> None:  # the disk fails while the sidecar is put in place
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(comics.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        comics.save_result(png, {"prompt": "p"}, tmp_path)
    assert len(calls) == 2 and _files(tmp_path) == []  # the PNG already in place was taken back, no temp files


def test_a_failing_temporary_write_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_write, writes = comics._write_temp, []

    def failing_write(folder: Path, content: bytes) -> Path:
        writes.append(content)
        if len(writes) == 2:
            raise OSError("no space left on device")
        return real_write(folder, content)

    monkeypatch.setattr(comics, "_write_temp", failing_write)
    with pytest.raises(OSError, match="no space"):
        comics.save_result(_png_bytes(), {"prompt": "p"}, tmp_path)
    assert _files(tmp_path) == []


def test_a_record_that_cannot_be_saved_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        comics.save_result(_png_bytes(), {"prompt": object()}, tmp_path)
    assert _files(tmp_path) == []


def test_results_go_under_the_output_folder_by_default(tmp_settings: config.Settings) -> None:
    result = comics.save_result(_png_bytes(), {"prompt": "p"})
    assert result.image_path.parent == tmp_settings.output_dir / "comics"
    assert comics.load_result(result.image_path).record["image_file"] == result.image_path.name


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()
