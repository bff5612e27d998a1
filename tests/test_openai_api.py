"""helpers.comic.openai_api through the real openai client, against the local test server in tests/fake_openai.py:
the key, the model check, each failure explained, retries only where a retry cannot bill twice."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openai
import pytest
from fake_openai import TEST_KEY, FakeOpenAI

from helpers import config
from helpers.comic import comics, openai_api


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# --- the key --------------------------------------------------------------------------------------------


def test_no_key_gives_the_how_to(no_key_anywhere: None) -> None:
    with pytest.raises(openai_api.RequestError) as caught:
        openai_api.make_client()
    assert caught.value.reason == "no_key"
    assert "OPENAI_API_KEY" in str(caught.value) and ".env" in str(caught.value) and "Colab" in str(caught.value)


def test_asking_for_the_key_never_blocks_where_no_one_can_answer(no_key_anywhere: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.error import StdinNotImplementedError

    def no_stdin(prompt: str = "") -> str:  # what ipykernel does under nbval/nbclient
        raise StdinNotImplementedError("getpass was called, but this frontend does not support input requests.")

    monkeypatch.setattr("getpass.getpass", no_stdin)
    with pytest.raises(openai_api.RequestError, match="No OpenAI API key") as caught:
        openai_api.make_client(ask=True)
    assert caught.value.reason == "no_key"


def test_a_key_typed_into_the_hidden_prompt_is_used(no_key_anywhere: None, monkeypatch: pytest.MonkeyPatch,
                                                    openai_server: FakeOpenAI) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": TEST_KEY)
    client = openai_api.make_client(ask=True)
    assert openai_api.check_image_model(client).usable and openai_server.requests[-1].key_ok
    assert client.max_retries == 0  # a retried image call is billed again


def test_keys_are_redacted_from_error_messages() -> None:
    assert TEST_KEY not in str(openai_api.RequestError(f"bad {TEST_KEY} here", reason="bad_key"))


# --- the model check ------------------------------------------------------------------------------------


def test_the_configured_model_is_checked_for_free(openai_client: openai.OpenAI, openai_server: FakeOpenAI) -> None:
    check = openai_api.check_image_model(openai_client)
    assert check.model == config.load_settings().image_model and check.usable
    assert [r.path for r in openai_server.requests] == ["/v1/models"]


@pytest.mark.parametrize(("model", "usable", "phrase"), [
    ("gpt-image-1", False, "was shut down on 2026-10-23"),  # shutdown_date from the model list
    ("gpt-image-1-mini", True, "shuts down on 2026-12-01 (in 6 days)"),  # no shutdown_date: the known table
    ("gpt-image-1.5", True, "switch soon"),
    ("gpt-image-9", False, "not in your account's model list"),
])
def test_missing_or_retired_models_say_what_to_use(openai_client: openai.OpenAI, model: str, usable: bool,
                                                   phrase: str) -> None:
    check = openai_api.check_image_model(openai_client, model, today=date(2026, 11, 25))
    assert check.usable is usable and phrase in check.message
    assert "IMAGE_MODEL" in check.message and "gpt-image-2" in check.available
    assert "gpt-image-1" not in check.available and "gpt-5" not in check.available


def test_after_the_shutdown_date_a_model_is_refused(openai_client: openai.OpenAI) -> None:
    assert not openai_api.check_image_model(openai_client, "gpt-image-1.5", today=date(2026, 12, 1)).usable


def test_without_a_key_only_known_shutdowns_are_checked() -> None:
    assert not openai_api.check_image_model(None, "gpt-image-1", today=date(2026, 11, 25)).usable
    check = openai_api.check_image_model(None, "gpt-image-2")
    assert check.usable and "not checked" in check.message


def test_a_retired_model_is_refused_before_any_money_is_spent(openai_client: openai.OpenAI,
                                                              openai_server: FakeOpenAI, tmp_path: Path) -> None:
    with pytest.raises(openai_api.RequestError) as caught:
        comics.generate_comic(openai_client, comics.plan_comic("mouse", model="gpt-image-1"), tmp_path)
    assert caught.value.reason == "model" and openai_server.image_requests() == []


# --- failures: each a clear message, nothing written, billed calls never retried ----------------------


@pytest.mark.parametrize(("kind", "reason", "phrase"), [
    ("403", "unverified", "organisation must be verified"),
    ("moderation", "moderation", "reword the prompt"),
    ("500", "server", "not retried automatically"),
    ("quota", "quota", "retrying will not help"),
    ("garbage", "bad_response", "no readable image"),
])
def test_failures_are_explained_and_leave_nothing_behind(openai_client: openai.OpenAI, openai_server: FakeOpenAI,
                                                         tmp_path: Path, waits: list[float], kind: str, reason: str,
                                                         phrase: str) -> None:
    openai_server.fail_next(kind, times=5)
    with pytest.raises(openai_api.RequestError) as caught:
        comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path / "comics")
    assert caught.value.reason == reason and phrase in str(caught.value)
    assert TEST_KEY not in str(caught.value)
    assert len(openai_server.image_requests()) == 1 and waits == []  # not retried
    assert _files(tmp_path / "comics") == []


def test_a_bad_key_is_explained(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    wrong_key = "sk-test-WRONG-" + "x" * 30
    with pytest.raises(openai_api.RequestError) as caught:
        comics.generate_comic(openai_api.make_client(wrong_key), comics.plan_comic("mouse"), tmp_path)
    assert caught.value.reason == "bad_key" and "401" in str(caught.value)
    assert wrong_key not in str(caught.value) and openai_server.image_requests() == []


def test_rate_limits_are_retried_honouring_retry_after(openai_client: openai.OpenAI, openai_server: FakeOpenAI,
                                                       tmp_path: Path, waits: list[float]) -> None:
    openai_server.fail_next("429", times=2, retry_after=7)
    result = comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path)
    assert waits == [7.0, 7.0] and [r.status for r in openai_server.image_requests()] == [429, 429, 200]
    assert result.image_path.is_file()


def test_rate_limit_retries_are_bounded(openai_client: openai.OpenAI, openai_server: FakeOpenAI, tmp_path: Path,
                                        waits: list[float]) -> None:
    openai_server.fail_next("429", times=99)
    with pytest.raises(openai_api.RequestError) as caught:
        comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path)
    assert caught.value.reason == "rate_limit"
    max_retries = openai_api.RETRIES.max_retries
    assert len(openai_server.image_requests()) == max_retries + 1 and len(waits) == max_retries == 3
    assert all(2 <= wait <= 30 * 1.25 for wait in waits) and waits == sorted(waits)  # growing backoff
    assert _files(tmp_path) == []


def test_a_retry_after_longer_than_we_wait_is_reported(openai_client: openai.OpenAI, openai_server: FakeOpenAI,
                                                       tmp_path: Path, waits: list[float]) -> None:
    openai_server.fail_next("429", retry_after=3600)
    with pytest.raises(openai_api.RequestError, match="asked to wait 3600 s"):
        comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path)
    assert waits == [] and len(openai_server.image_requests()) == 1


def test_a_slow_answer_times_out_and_is_not_retried(openai_server: FakeOpenAI, tmp_path: Path,
                                                    waits: list[float]) -> None:
    openai_server.fail_next("slow", delay=3)
    slow_client = openai_api.make_client(TEST_KEY, timeout=0.5)
    with pytest.raises(openai_api.RequestError) as caught:
        comics.generate_comic(slow_client, comics.plan_comic("mouse"), tmp_path, check_model=False)
    assert caught.value.reason == "timeout" and "timeout=" in str(caught.value)
    assert len(openai_server.image_requests()) == 1 and waits == [] and _files(tmp_path) == []


def test_a_dropped_connection_is_retried(openai_client: openai.OpenAI, openai_server: FakeOpenAI, tmp_path: Path,
                                         waits: list[float]) -> None:
    openai_server.fail_next("drop")
    result = comics.generate_comic(openai_client, comics.plan_comic("mouse"), tmp_path)
    assert [r.status for r in openai_server.image_requests()] == [-1, 200] and len(waits) == 1
    assert result.sidecar_path.is_file()


def test_an_unreachable_server_is_explained(monkeypatch: pytest.MonkeyPatch, waits: list[float]) -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    monkeypatch.setenv("OPENAI_BASE_URL", url)  # nothing listens there any more
    with pytest.raises(openai_api.RequestError) as caught:
        openai_api.check_image_model(openai_api.make_client(TEST_KEY))
    assert caught.value.reason == "connection" and len(waits) == openai_api.RETRIES.max_retries


def test_every_reason_has_help_that_says_what_to_do() -> None:
    reasons = {"no_key", "bad_key", "unverified", "forbidden", "moderation", "bad_request", "model", "rate_limit",
               "quota", "timeout", "connection", "server", "bad_response",
               "tool_unsupported", "conversation_expired"}  # the last two: the conversation mode (comic_chat)
    assert set(openai_api.FAILURE_HELP) == reasons
    assert all(len(text) > 40 for text in openai_api.FAILURE_HELP.values())
    assert "CHAT_MODEL" in openai_api.FAILURE_HELP["tool_unsupported"]
