"""helpers.comic.comic_chat, the comic as a conversation (Responses API), through the real openai client against
tests/fake_openai.py: turns linked by response ids, no photo uploaded twice, every failure explained, costs."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import openai
import pytest
from fake_openai import TEST_KEY, FakeOpenAI
from PIL import Image

from helpers import config
from helpers.comic import comic_chat, comics, openai_api, openai_models

FOLLOW_UPS = ("make panel three funnier", "now the same dog at Hogwarts")


@pytest.fixture
def dog_photos(make_image: Callable[..., Path]) -> list[Path]:
    """Three photos: a big JPEG, a PNG with alpha, a small JPEG."""
    return [make_image("dog1.jpg", size=(900, 600), seed=1), make_image("dog2.png", mode="RGBA", seed=2),
            make_image("dog3.jpg", size=(40, 60), seed=3)]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def _content(sent) -> list[dict]:
    """The content parts of the one user message a turn sends."""
    [message] = sent.fields["input"]
    assert message["role"] == "user"
    return message["content"]


# --- naming and planning: free, no key ------------------------------------------------------------------


def test_the_api_table_names_gpt_4o_and_todays_models() -> None:
    table = comic_chat.describe_apis("image-model-x", "chat-model-y")
    assert "GPT-4o image generation" in table and "previous_response_id" in table
    assert "`image-model-x`" in table and "`chat-model-y`" in table
    assert len({line.count("|") for line in table.splitlines()}) == 1  # a well-formed Markdown table


def test_a_first_turn_is_planned_and_described_without_a_key(dog_photos: list[Path], no_key_anywhere: None) -> None:
    request = comic_chat.plan_conversation("hogwarts", dog_photos, quality="low")
    settings = config.load_settings()
    assert (request.chat_model, request.image_model) == (settings.chat_model, settings.image_model)
    assert request.previous_response_id is None and request.turn == 1 and len(request.references) == 3
    assert request.tool == {"type": "image_generation", "model": settings.image_model, "size": "1024x1024",
                            "quality": "low", "output_format": "png"}
    text = comic_chat.describe_turn(request)
    for expected in ("responses.create", "POST /v1/responses", "CHAT_MODEL", "IMAGE_MODEL", settings.chat_model,
                     "a new conversation", "3 reference photos as data URLs", "quality low", "Hogwarts", "$"):
        assert expected in text, expected
    without_photos = comic_chat.plan_conversation("hogwarts", quality="low")
    assert request.estimated_cost_usd > without_photos.estimated_cost_usd > 0


def test_a_follow_up_of_a_plan_is_a_free_preview_that_cannot_be_sent(
        dog_photos: list[Path], openai_client: openai.OpenAI, openai_server: FakeOpenAI) -> None:
    first = comic_chat.plan_conversation("mouse", dog_photos)
    second = comic_chat.plan_follow_up(first, FOLLOW_UPS[0])
    third = comic_chat.plan_follow_up(second, FOLLOW_UPS[1])
    assert (second.turn, third.turn) == (2, 3) and second.references == () and second.is_preview
    assert second.prompt == FOLLOW_UPS[0]  # sent as written: the model sees the earlier turns
    text = comic_chat.describe_turn(third)
    assert "continues <the response id of turn 2>" in text and "none uploaded" in text
    # each turn reads the whole conversation again, so later turns cost more
    assert first.estimated_input_tokens < second.estimated_input_tokens < third.estimated_input_tokens
    assert first.estimated_cost_usd < second.estimated_cost_usd < third.estimated_cost_usd
    with pytest.raises(ValueError, match="preview"):
        comic_chat.send_turn(openai_client, second)
    assert openai_server.requests == []


@pytest.mark.parametrize("follow_up", ["", "   "])
def test_an_empty_follow_up_is_refused(dog_photos: list[Path], follow_up: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        comic_chat.plan_follow_up(comic_chat.plan_conversation("mouse", dog_photos), follow_up)


def test_an_images_api_result_is_no_conversation(tmp_path: Path) -> None:
    result = comics.save_result(_png_bytes(), {"model": "m", "size": "1024x1024", "quality": "low"}, tmp_path)
    with pytest.raises(ValueError, match="Images API"):
        comic_chat.plan_follow_up(result, "make it funnier")


# --- the happy path: a conversation of three turns ------------------------------------------------------


def test_a_conversation_links_its_turns_and_uploads_the_photos_once(
        dog_photos: list[Path], openai_client: openai.OpenAI, openai_server: FakeOpenAI, tmp_path: Path) -> None:
    out = tmp_path / "comics"
    first = comic_chat.send_turn(openai_client, comic_chat.plan_conversation("mouse", dog_photos), out)
    second = comic_chat.send_turn(openai_client, comic_chat.plan_follow_up(first, FOLLOW_UPS[0]), out)
    third = comic_chat.send_turn(openai_client, comic_chat.plan_follow_up(second, FOLLOW_UPS[1]), out)

    sent = openai_server.response_requests()
    assert [r.status for r in sent] == [200, 200, 200] and all(r.key_ok for r in sent)
    settings = config.load_settings()
    for request in sent:
        assert request.fields["model"] == settings.chat_model and request.fields["store"] is True
        assert request.fields["tools"] == [{"type": "image_generation", "model": settings.image_model,
                                            "size": "1024x1024", "quality": "medium", "output_format": "png"}]
        assert request.fields["tool_choice"] == {"type": "image_generation"}
    # the photos go with the first turn only, as data URLs the server decoded
    assert [part["type"] for part in _content(sent[0])] == ["input_text"] + ["input_image"] * 3
    assert [image["format"] for image in sent[0].images] == ["JPEG"] * 3
    assert "previous_response_id" not in sent[0].fields
    assert [_content(r) for r in sent[1:]] == [[{"type": "input_text", "text": f}] for f in FOLLOW_UPS]
    assert sent[1].images == sent[2].images == []
    # each follow-up names the response of the turn before, and the sidecars record the chain
    ids = [r.answer["id"] for r in sent]
    assert [r.fields.get("previous_response_id") for r in sent] == [None, ids[0], ids[1]]
    records = [json.loads(turn.sidecar_path.read_text()) for turn in (first, second, third)]
    assert [r["response_id"] for r in records] == ids
    assert [r["previous_response_id"] for r in records] == [None, ids[0], ids[1]]
    assert [r["turn"] for r in records] == [1, 2, 3]
    assert [r["parent"] for r in records] == [None, str(first.image_path), str(second.image_path)]
    assert records[0]["reference_files"] == [str(p) for p in dog_photos] and records[1]["reference_files"] == []
    for record in records:
        assert record["chat_model"] == settings.chat_model and record["model"] == settings.image_model
        assert record["endpoint"] == "responses.create" and record["cost_basis"] == "chat usage + image estimate"
        for key in ("usage", "estimated_cost_usd", "seconds", "created_at", "revised_prompt", "reply",
                    "image_call_id"):
            assert record[key] is not None, key
    # the conversation grows: the server counts the earlier turns as (cached) input again
    assert records[0]["usage"]["input_tokens"] < records[1]["usage"]["input_tokens"] < \
        records[2]["usage"]["input_tokens"]
    assert len(records[2]["context_images"]) == 3 + 3  # the photos and the three drawn images
    assert comic_chat.follow_conversation(third) == [comics.load_result(t.image_path) for t in (first, second, third)]
    assert Image.open(third.image_path).format == "PNG" and "via " + settings.chat_model in third.caption
    assert first.input_paths == dog_photos and second.input_paths == [first.image_path]
    assert second.input_title == "previous turn (input)"
    assert _files(out) == sorted(p.name for t in (first, second, third) for p in (t.image_path, t.sidecar_path))
    assert [r.path for r in openai_server.requests].count("/v1/models") == 3  # checked before each paid turn


def test_a_follow_up_may_bring_new_photos(dog_photos: list[Path], openai_client: openai.OpenAI,
                                          openai_server: FakeOpenAI, tmp_path: Path) -> None:
    first = comic_chat.send_turn(openai_client, comic_chat.plan_conversation("mouse", dog_photos[:1]), tmp_path)
    request = comic_chat.plan_follow_up(first, "add this toy to panel two", dog_photos[2:])
    comic_chat.send_turn(openai_client, request, tmp_path, check_models=False)
    sent = openai_server.response_requests()[-1]
    assert sent.fields["previous_response_id"] == first.record["response_id"] and len(sent.images) == 1


def test_the_request_shown_in_the_notebook_is_the_one_sent(dog_photos: list[Path], openai_client: openai.OpenAI,
                                                           openai_server: FakeOpenAI, tmp_path: Path) -> None:
    request = comic_chat.plan_conversation("Draw {subject} surfing", dog_photos[:2], quality="low")
    comic_chat.send_turn(openai_client, request, tmp_path)
    [sent] = openai_server.response_requests()
    assert _content(sent)[0] == {"type": "input_text", "text": request.prompt}
    assert all(part["detail"] == comic_chat.IMAGE_DETAIL for part in _content(sent)[1:])
    assert sent.fields["tools"] == [request.tool]


# --- failures: explained, nothing written, billed calls not retried -----------------------------------------


@pytest.mark.parametrize(("kind", "reason", "phrase"), [
    ("403", "unverified", "organisation must be verified"),
    ("moderation", "moderation", "reword the prompt"),
    ("tool_moderation", "moderation", "reword the prompt"),  # the tool refuses inside a 200 answer
    ("500", "server", "not retried automatically"),
    ("quota", "quota", "retrying will not help"),
    ("garbage", "bad_response", "no readable image"),
    ("no_image", "bad_response", "The model answered: Which panel"),  # the model talked instead of drawing
])
def test_failed_turns_are_explained_and_leave_nothing_behind(
        dog_photos: list[Path], openai_client: openai.OpenAI, openai_server: FakeOpenAI, tmp_path: Path,
        waits: list[float], kind: str, reason: str, phrase: str) -> None:
    openai_server.fail_next(kind, times=5)
    with pytest.raises(openai_api.RequestError) as caught:
        comic_chat.send_turn(openai_client, comic_chat.plan_conversation("mouse", dog_photos), tmp_path / "comics")
    assert caught.value.reason == reason and phrase in str(caught.value)
    assert TEST_KEY not in str(caught.value)
    assert len(openai_server.response_requests()) == 1 and waits == []  # not retried
    assert _files(tmp_path / "comics") == [] and openai_server.responses == {}  # nothing to continue either


def test_a_bad_key_is_explained_before_anything_is_sent(dog_photos: list[Path], openai_server: FakeOpenAI,
                                                        tmp_path: Path) -> None:
    wrong_key = "sk-test-WRONG-" + "x" * 30
    with pytest.raises(openai_api.RequestError) as caught:
        comic_chat.send_turn(openai_api.make_client(wrong_key), comic_chat.plan_conversation("mouse", dog_photos),
                             tmp_path)
    assert caught.value.reason == "bad_key" and wrong_key not in str(caught.value)
    assert openai_server.response_requests() == []


def test_rate_limited_turns_are_retried_honouring_retry_after(dog_photos: list[Path], openai_client: openai.OpenAI,
                                                               openai_server: FakeOpenAI, tmp_path: Path,
                                                               waits: list[float]) -> None:
    first = comic_chat.send_turn(openai_client, comic_chat.plan_conversation("mouse", dog_photos), tmp_path)
    openai_server.fail_next("429", times=2, retry_after=7)
    second = comic_chat.send_turn(openai_client, comic_chat.plan_follow_up(first, FOLLOW_UPS[0]), tmp_path)
    assert waits == [7.0, 7.0] and [r.status for r in openai_server.response_requests()] == [200, 429, 429, 200]
    assert second.record["previous_response_id"] == first.record["response_id"]


def test_a_slow_turn_times_out_and_is_not_retried(dog_photos: list[Path], openai_server: FakeOpenAI,
                                                  tmp_path: Path, waits: list[float]) -> None:
    openai_server.fail_next("slow", delay=3)
    slow_client = openai_api.make_client(TEST_KEY, timeout=0.5)
    with pytest.raises(openai_api.RequestError) as caught:
        comic_chat.send_turn(slow_client, comic_chat.plan_conversation("mouse", dog_photos), tmp_path / "comics",
                             check_models=False)
    assert caught.value.reason == "timeout" and slow_client.max_retries == 0
    assert len(openai_server.response_requests()) == 1 and waits == [] and _files(tmp_path / "comics") == []


def test_a_dropped_connection_is_retried(dog_photos: list[Path], openai_client: openai.OpenAI,
                                         openai_server: FakeOpenAI, tmp_path: Path, waits: list[float]) -> None:
    openai_server.fail_next("drop")
    turn = comic_chat.send_turn(openai_client, comic_chat.plan_conversation("mouse", dog_photos), tmp_path)
    assert [r.status for r in openai_server.response_requests()] == [-1, 200] and len(waits) == 1
    assert turn.sidecar_path.is_file()


def test_a_forgotten_conversation_is_explained(dog_photos: list[Path], openai_client: openai.OpenAI,
                                               openai_server: FakeOpenAI, tmp_path: Path) -> None:
    first = comic_chat.send_turn(openai_client, comic_chat.plan_conversation("mouse", dog_photos), tmp_path / "comics")
    openai_server.forget(first.record["response_id"])  # what 30 days, or store=False, do
    with pytest.raises(openai_api.RequestError) as caught:
        comic_chat.send_turn(openai_client, comic_chat.plan_follow_up(first, FOLLOW_UPS[0]), tmp_path / "comics")
    assert caught.value.reason == "conversation_expired" and "plan_conversation" in str(caught.value)
    assert _files(tmp_path / "comics") == sorted([first.image_path.name, first.sidecar_path.name])


def test_a_chat_model_the_server_refuses_the_tool_to_is_explained(
        dog_photos: list[Path], openai_client: openai.OpenAI, openai_server: FakeOpenAI, tmp_path: Path,
        waits: list[float]) -> None:
    check = openai_api.check_chat_model(openai_client, "gpt-test-notools")
    assert check.usable and "not among the chat models known" in check.message  # unknown to our table
    request = comic_chat.plan_conversation("mouse", dog_photos, chat_model="gpt-test-notools")
    with pytest.raises(openai_api.RequestError) as caught:
        comic_chat.send_turn(openai_client, request, tmp_path / "comics")
    assert caught.value.reason == "tool_unsupported" and "CHAT_MODEL" in str(caught.value)
    assert "Tool 'image_generation' is not supported with gpt-test-notools" in str(caught.value)  # OpenAI's words
    assert len(openai_server.response_requests()) == 1 and waits == [] and _files(tmp_path / "comics") == []


def _raw_turn(openai_client: openai.OpenAI, **changes) -> None:
    """A Responses request as comic_chat sends it, with `changes`, sent by the plain openai client."""
    image = "data:image/png;base64," + base64.b64encode(_png_bytes()).decode()
    request = {"model": "gpt-5.5", "tools": [{"type": "image_generation", "model": "gpt-image-2"}],
               "input": [{"role": "user", "content": [{"type": "input_text", "text": "draw"},
                                                      {"type": "input_image", "image_url": image, "detail": "auto"}]}]}
    openai_client.responses.create(**{**request, **changes})


@pytest.mark.parametrize(("changes", "phrase"), [
    ({}, None),  # the request as sent is accepted
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "draw"}, {
        "type": "input_image", "image_url": "data:image/png;base64,bm90IGFuIGltYWdl"}]}]}, "not a valid image"),
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "draw"}, {
        "type": "input_image", "image_url": "data:image/jpeg;base64," + base64.b64encode(_png_bytes()).decode()}]}]},
     "data URL says image/jpeg"),
    ({"tools": [{"type": "image_generation", "model": "gpt-image-2", "colour": "red"}]}, "documented options"),
    ({"tools": [{"type": "image_generation", "model": "gpt-image-2", "size": "1000x1000"}]}, "bad size"),
    ({"tool_choice": {"type": "web_search"}}, "not found in 'tools'"),
    ({"previous_response_id": "resp_never_issued"}, "Previous response with id 'resp_never_issued' not found"),
    ({"model": "gpt-9"}, "does not exist"),
    ({"extra_body": {"temprature": 1}}, "Unknown parameter"),  # a typo the SDK's own arguments would catch
])
def test_the_test_server_refuses_what_openai_refuses(openai_client: openai.OpenAI, openai_server: FakeOpenAI,
                                                     changes: dict, phrase: str | None) -> None:
    if phrase is None:
        _raw_turn(openai_client, **changes)
        assert openai_server.response_requests()[-1].status == 200
        return
    with pytest.raises(openai.APIStatusError, match=re.escape(phrase)):
        _raw_turn(openai_client, **changes)
    assert openai_server.responses == {}


# --- the model checks, before any money is spent ----------------------------------------------------------


@pytest.mark.parametrize(("chat_model", "image_model", "reason", "phrases"), [
    ("gpt-9-chat", None, "model", ("not in your account's model list", "CHAT_MODEL", "gpt-5.5")),
    ("gpt-image-2", None, "tool_unsupported", ("cannot call the image generation tool", "%env CHAT_MODEL=")),
    ("gpt-4o", "gpt-image-2", "tool_unsupported", ("cannot call the image generation tool with 'gpt-image-2'",)),
    (None, "gpt-image-1", "model", ("was shut down on 2026-10-23", "IMAGE_MODEL")),
])
def test_unusable_models_are_refused_before_paying(dog_photos: list[Path], openai_client: openai.OpenAI,
                                                   openai_server: FakeOpenAI, tmp_path: Path, chat_model: str | None,
                                                   image_model: str | None, reason: str,
                                                   phrases: tuple[str, ...]) -> None:
    request = comic_chat.plan_conversation("mouse", dog_photos, chat_model=chat_model, image_model=image_model)
    with pytest.raises(openai_api.RequestError) as caught:
        comic_chat.send_turn(openai_client, request, tmp_path / "comics")
    assert caught.value.reason == reason
    for phrase in phrases:
        assert phrase in str(caught.value), phrase
    assert openai_server.response_requests() == [] and _files(tmp_path / "comics") == []


def test_without_the_check_the_api_answers_a_bad_pairing_with_a_vague_400(
        dog_photos: list[Path], openai_client: openai.OpenAI, openai_server: FakeOpenAI, tmp_path: Path) -> None:
    request = comic_chat.plan_conversation("mouse", dog_photos, chat_model="gpt-4o")  # with gpt-image-2
    with pytest.raises(openai_api.RequestError) as caught:
        comic_chat.send_turn(openai_client, request, tmp_path, check_models=False)
    assert caught.value.reason == "bad_request" and "issue with your request" in str(caught.value)


def test_the_chat_model_check_lists_the_models_that_can_call_the_tool(openai_client: openai.OpenAI,
                                                                      openai_server: FakeOpenAI) -> None:
    check = openai_api.check_chat_model(openai_client, today=date(2026, 11, 27))
    assert check.model == config.load_settings().chat_model and check.usable
    refused = openai_api.check_chat_model(openai_client, "gpt-image-2", today=date(2026, 11, 27))
    assert not refused.usable and refused.reason == "tool_unsupported"
    assert "gpt-5.5" in refused.available and "gpt-5" in refused.available
    for not_offered in ("gpt-4o", "gpt-test-notools", "gpt-image-2"):  # cannot draw with gpt-image-2
        assert not_offered not in refused.available
    assert [r.path for r in openai_server.requests] == ["/v1/models", "/v1/models"]


def test_without_a_key_the_chat_model_check_uses_the_tables() -> None:
    assert "not checked" in openai_api.check_chat_model(None, "gpt-5.5", "gpt-image-2").message
    assert not openai_api.check_chat_model(None, "gpt-image-2", "gpt-image-2").usable
    assert not openai_api.check_chat_model(None, "gpt-5", "gpt-image-2", today=date(2026, 12, 11)).usable
    unknown = openai_api.check_chat_model(None, "gpt-7-someday", "gpt-image-2")
    assert unknown.usable and openai_models.IMAGE_TOOL_CHECKED_ON in unknown.message


@pytest.mark.parametrize(("chat_model", "image_model", "able"), [
    ("gpt-5.5", "gpt-image-2", True), ("gpt-5-2025-08-07", "gpt-image-2", True),  # a snapshot of a listed model
    ("gpt-4o", "gpt-image-2", False), ("gpt-4o", "gpt-image-1.5", True),
    ("gpt-image-2", "gpt-image-2", False), ("text-embedding-3-small", "gpt-image-2", False),
    ("gpt-7-someday", "gpt-image-2", None),
])
def test_which_chat_models_can_call_the_tool(chat_model: str, image_model: str, able: bool | None) -> None:
    assert openai_models.can_call_image_tool(chat_model, image_model) is able


# --- cost ----------------------------------------------------------------------------------------------


def test_a_turn_estimate_adds_the_chat_tokens_and_the_tools_image(dog_photos: list[Path]) -> None:
    request = comic_chat.plan_conversation("mouse", dog_photos, chat_model="gpt-5.5", image_model="gpt-image-2")
    chat_in, _, chat_out = openai_models.CHAT_PRICES_PER_MILLION["gpt-5.5"]
    text_in, image_in, image_out = openai_models.PRICES_PER_MILLION["gpt-image-2"]
    photo_tokens = sum(openai_models.image_tokens(ref.width, ref.height) for ref in request.references)
    chat = ((len(request.prompt) // 4 + photo_tokens + openai_models.TOOL_DEFINITION_TOKENS) * chat_in
            + openai_models.CHAT_REPLY_TOKENS * chat_out) / 1e6
    tool = (openai_models.CHAT_REPLY_TOKENS * text_in + photo_tokens * image_in
            + openai_models.estimate_output_tokens("1024x1024", "medium") * image_out) / 1e6
    assert request.estimated_cost_usd == pytest.approx(chat + tool)


def test_a_paid_turn_prices_the_reported_chat_usage(dog_photos: list[Path], openai_client: openai.OpenAI,
                                                    tmp_path: Path) -> None:
    turn = comic_chat.send_turn(openai_client, comic_chat.plan_conversation("mouse", dog_photos), tmp_path)
    usage = turn.record["usage"]
    chat = openai_models.chat_cost("gpt-5.5", usage)
    assert chat == pytest.approx((usage["input_tokens"] * 5.00 + usage["output_tokens"] * 30.00) / 1e6)
    tool = turn.record["estimated_cost_usd"] - chat
    assert tool == pytest.approx(openai_models.estimate_turn_cost("gpt-5.5", "gpt-image-2", "1024x1024", "medium",
                                                                  0, turn.record["context_images"][:3])
                                 - openai_models.chat_cost("gpt-5.5", {"input_tokens": 265, "output_tokens": 300}))


def test_cached_input_is_cheaper_and_unknown_prices_say_so(dog_photos: list[Path]) -> None:
    fresh = openai_models.chat_cost("gpt-5.5", {"input_tokens": 1000, "output_tokens": 0})
    cached = openai_models.chat_cost("gpt-5.5", {"input_tokens": 1000, "output_tokens": 0,
                                                 "input_tokens_details": {"cached_tokens": 800}})
    assert cached == pytest.approx((200 * 5.00 + 800 * 0.50) / 1e6) and cached < fresh
    request = comic_chat.plan_conversation("mouse", dog_photos, chat_model="gpt-7-someday")
    assert request.estimated_cost_usd is None and "Cost:      unknown" in comic_chat.describe_turn(request)

