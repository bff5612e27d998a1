"""How the tutorial talks to OpenAI: the client, bounded retries, failures explained, the model checks (notebook 05).

Image calls are slow and billed per call, so the client makes no automatic retries (a retried call is
billed again): only rate limits (429) and connection failures are retried, a few times, by `send`. Every
failure becomes a `RequestError` whose `reason` names the case and whose message says what to do. The
models (the image model, and the chat model of the conversation mode) are checked against the account's
model list and their shutdown dates before any money is spent. The API key is never printed, saved or logged.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import openai

from helpers import config
from helpers.comic import openai_models

log = logging.getLogger(__name__)
T = TypeVar("T")

IMAGE_TIMEOUT_S = 300.0  # an image call can take over 2 minutes
SHUTDOWN_WARNING_DAYS = 30  # warn when the model shuts down within this many days

HOW_TO_ENABLE = (
    "No OpenAI API key found, so nothing is sent and nothing is billed. To generate the comic:\n"
    "  1. create a key at https://platform.openai.com/api-keys (image models may need a verified organisation);\n"
    "  2. hand it over in one of these ways: set OPENAI_API_KEY in the environment before starting Jupyter;\n"
    "     or put the line OPENAI_API_KEY=<your key> in a .env file at the repository root (it is git-ignored);\n"
    "     or on Colab add a secret named OPENAI_API_KEY (key icon, left) and give this notebook access;\n"
    "     or set ASK_FOR_KEY = True in the notebook and type the key into the hidden box;\n"
    "  3. run the notebook again from the top. The key is never printed or saved."
)
FAILURE_HELP = {  # reason -> what happened and what to do; every RequestError message starts with one of these
    "no_key": HOW_TO_ENABLE,
    "bad_key": ("OpenAI rejected the API key (401). Check OPENAI_API_KEY (complete, no quotes or spaces, not "
                "revoked), or create a new key at https://platform.openai.com/api-keys, then restart the kernel."),
    "unverified": ("Your OpenAI organisation must be verified to use this image model (403). Verify it at "
                   "https://platform.openai.com/settings/organization/general (access can take 15 minutes "
                   "to arrive), or choose another model with the IMAGE_MODEL setting."),
    "forbidden": ("OpenAI refused access (403): this key's project may not be allowed to use the model. Check the "
                  "project's model permissions, or choose another model with the IMAGE_MODEL setting."),
    "moderation": ("OpenAI's safety system refused the request (400 moderation_blocked). It also blocks harmless "
                   "requests: reword the prompt (say 'plays with a toy mouse' rather than 'gnawing on a mouse'), "
                   "or send other photos, then try again."),
    "bad_request": "OpenAI rejected the request (400): check the size, the quality and the prompt.",
    "model": ("The model is not available (404): run openai_api.check_image_model(openai_client) (for the "
              "conversation also check_chat_model) to see the models your account can use, then change the "
              "IMAGE_MODEL (or CHAT_MODEL) setting."),
    "rate_limit": ("OpenAI's rate limit was hit (429) and the retries ran out. Wait a minute and run the cell "
                   "again, or use a lower quality (fewer tokens per minute)."),
    "quota": ("Your OpenAI account is out of credit (429 insufficient_quota); retrying will not help. Add credit "
              "or raise the limit at https://platform.openai.com/settings/organization/billing."),
    "timeout": ("OpenAI did not answer in time. Image calls can take minutes: run the cell again, use a lower "
                "quality, or allow more time with openai_api.make_client(timeout=...). The call may have been "
                "billed."),
    "connection": ("Could not reach OpenAI: check your network connection (and OPENAI_BASE_URL, if you set it), "
                   "then run the cell again."),
    "server": ("OpenAI had a server error (5xx). It is not retried automatically, because a retried image call is "
               "billed again: wait a minute and run the cell again; https://status.openai.com lists incidents."),
    "bad_response": "OpenAI's answer held no readable image: run the cell again; nothing was saved.",
    "tool_unsupported": ("The chat model cannot call the image generation tool (or not with this image model). "
                         "Set CHAT_MODEL to a chat model that can, in the environment or in .env (in a notebook: "
                         "%env CHAT_MODEL=<model>), and run the cells again; "
                         "openai_api.check_chat_model(openai_client) lists the ones your account has."),
    "conversation_expired": ("OpenAI no longer has the earlier turn this follow-up continues (responses are kept "
                             "for 30 days, and only when stored): start a new conversation with "
                             "comic_chat.plan_conversation. Nothing was saved."),
}
_SECRET = re.compile(r"sk-[A-Za-z0-9*_\-]{4,}")


class RequestError(RuntimeError):
    """An OpenAI request cannot be made or failed: `reason` names the case, the message what to do (notebook 05)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(_SECRET.sub("sk-***", message))
        self.reason = reason


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures `send` retries, how often, and how it waits: rate limits and lost connections only."""

    max_retries: int = 3
    max_wait_s: float = 120.0  # a longer Retry-After is not waited for: the message says so instead
    sleep: Callable[[float], None] = time.sleep  # how to wait; a workshop could show a countdown instead


RETRIES = RetryPolicy()


@dataclass(frozen=True)
class ModelCheck:
    """What `check_image_model` or `check_chat_model` found: can the model be used, and which others are there."""

    model: str
    usable: bool
    message: str
    shutdown_date: str | None = None
    available: tuple[str, ...] = ()
    reason: str | None = None  # why it cannot be used: "model" (missing, retired) or "tool_unsupported"


def make_client(api_key: str | None = None, *, ask: bool = False, timeout: float = IMAGE_TIMEOUT_S) -> openai.OpenAI:
    """An OpenAI client for image calls: no automatic retries, a generous timeout (notebook 05).

    The key comes from `api_key`, else the environment, `.env` or Colab secrets, else (with `ask=True`,
    in JupyterLab, Colab or a terminal) a hidden prompt. Raises RequestError(reason="no_key") without one.
    """
    if api_key is None:
        api_key = config.get_openai_api_key(prompt=ask)
    if not api_key:
        raise RequestError(HOW_TO_ENABLE, reason="no_key")
    # OPENAI_BASE_URL, when set, is read by the client itself (the tests point it at a local server).
    return openai.OpenAI(api_key=api_key, max_retries=0, timeout=openai.Timeout(timeout, connect=15.0))


def check_image_model(openai_client: openai.OpenAI | None, model: str | None = None,
                      today: date | None = None) -> ModelCheck:
    """Check the image model against your account's model list and its shutdown date, for free (notebook 05).

    Without a client (no key) only the known shutdown dates are checked.
    """
    model = model or config.load_settings().image_model
    return _check(_list_models(openai_client), model, today or date.today(), _IMAGE)


def check_chat_model(openai_client: openai.OpenAI | None, model: str | None = None, image_model: str | None = None,
                     today: date | None = None) -> ModelCheck:
    """Check the conversation's chat model: listed, not retired, able to call the image tool, for free (nb 05).

    A model known to call the image generation tool (with `image_model`) is usable; one known not to is not;
    one the table of `openai_models` does not know is usable with a warning (the first turn will tell).
    """
    settings = config.load_settings()
    model, image_model = model or settings.chat_model, image_model or settings.image_model
    return _check_chat(_list_models(openai_client), model, image_model, today or date.today())


def require_image_model(openai_client: openai.OpenAI, model: str) -> ModelCheck:
    """`check_image_model`, raising RequestError(reason="model") when the model cannot be used (notebook 05)."""
    check = check_image_model(openai_client, model)
    if not check.usable:
        raise RequestError(check.message, reason="model")
    return check


def require_chat_models(openai_client: openai.OpenAI, chat_model: str, image_model: str) -> ModelCheck:
    """Check both models of a conversation turn with one free model list; RequestError if one cannot be used.

    The reason is "model" for a missing or retired model, "tool_unsupported" for a chat model that cannot
    call the image generation tool (notebook 05).
    """
    listed, today = _list_models(openai_client), date.today()
    for check in (_check(listed, image_model, today, _IMAGE), _check_chat(listed, chat_model, image_model, today)):
        if not check.usable:
            raise RequestError(check.message, reason=check.reason or "model")
    return check


@dataclass(frozen=True)
class _Kind:
    """Which setting a model check is about, and which listed models count as candidates for it."""

    setting: str
    noun: str
    is_candidate: Callable[[str], bool]


_IMAGE = _Kind("IMAGE_MODEL", "Image models", lambda m_id: m_id.startswith(openai_models.IMAGE_MODEL_PREFIXES))


def _chat_kind(image_model: str) -> _Kind:
    return _Kind("CHAT_MODEL", f"Chat models that can call the image tool with {image_model}",
                 lambda m_id: openai_models.can_call_image_tool(m_id, image_model) is True)


def _list_models(openai_client: openai.OpenAI | None) -> dict[str, Any] | None:
    """The account's models by id (a free call), or None without a client."""
    if openai_client is None:
        return None
    return {m.id: m for m in send(lambda: list(openai_client.models.list()))}


def _check(listed: dict[str, Any] | None, model: str, today: date, kind: _Kind) -> ModelCheck:
    """Is `model` on the list (when there is one) and not shut down? Suggests the candidates of `kind`."""
    if listed is None:
        return _judge(model, openai_models.KNOWN_SHUTDOWNS.get(model), today, None, kind)
    shutdowns = {m_id: _shutdown_date(m) for m_id, m in listed.items() if kind.is_candidate(m_id)}
    available = {m_id: day for m_id, day in sorted(shutdowns.items(), key=lambda item: (item[1] is not None, item))
                 if not _is_past(day, today)}  # models without a shutdown date first
    if model not in listed:
        message = f"{model!r} is not in your account's model list." + _change_hint(available, kind)
        return ModelCheck(model, False, message, None, tuple(available), reason="model")
    return _judge(model, _shutdown_date(listed[model]), today, available, kind)


def _check_chat(listed: dict[str, Any] | None, model: str, image_model: str, today: date) -> ModelCheck:
    """`_check` for the chat model, then whether it can call the image generation tool with `image_model`."""
    kind = _chat_kind(image_model)
    check = _check(listed, model, today, kind)
    able = openai_models.can_call_image_tool(model, image_model)
    if not check.usable or able is True:
        return check
    available = None if listed is None else dict.fromkeys(check.available)
    if able is False:
        message = (f"{model!r} cannot call the image generation tool with {image_model!r} (see "
                   f"{openai_models.IMAGE_TOOL_SOURCE}).")
        return ModelCheck(model, False, message + _change_hint(available, kind), check.shutdown_date, check.available,
                          reason="tool_unsupported")
    message = (f" Note: {model!r} is not among the chat models known to call the image generation tool (checked "
               f"{openai_models.IMAGE_TOOL_CHECKED_ON}); if the first turn fails with 'tool_unsupported', change it.")
    return ModelCheck(model, True, check.message + message, check.shutdown_date, check.available)


def _shutdown_date(model: Any) -> str | None:
    """A listed model's `shutdown_date` (YYYY-MM-DD) when the API gives one, else the known-shutdown table."""
    value = getattr(model, "shutdown_date", None)
    try:
        return date.fromisoformat(value).isoformat() if value else openai_models.KNOWN_SHUTDOWNS.get(model.id)
    except (TypeError, ValueError):  # an unexpected format: fall back to what we know
        return openai_models.KNOWN_SHUTDOWNS.get(model.id)


def _is_past(shutdown: str | None, today: date) -> bool:
    return shutdown is not None and date.fromisoformat(shutdown) <= today


def _change_hint(available: dict[str, str | None] | None, kind: _Kind = _IMAGE) -> str:
    """How to pick another model, naming the ones the account can use."""
    if available is None:
        return (f" Add your key to see the {kind.noun[0].lower() + kind.noun[1:]} your account has; change the "
                f"model with {kind.setting}.")
    listed = ", ".join(m + (f" (until {day})" if day else "") for m, day in available.items()) or "none found"
    example = next(iter(available), "<model>")
    return (f" {kind.noun} available to you: {listed}. To change the model, set {kind.setting} in the environment "
            f"or in .env (in a notebook: %env {kind.setting}={example}) and run the cells again.")


def _judge(model: str, shutdown: str | None, today: date, available: dict[str, str | None] | None,
           kind: _Kind = _IMAGE) -> ModelCheck:
    """The verdict on one model from its shutdown date."""
    names = tuple(available or ())
    if _is_past(shutdown, today):
        return ModelCheck(model, False, f"{model!r} was shut down on {shutdown}." + _change_hint(available, kind),
                          shutdown, names, reason="model")
    scope = ("It is on your account's model list." if available is not None
             else "Your account's model list was not checked (no key).")
    if shutdown and (date.fromisoformat(shutdown) - today).days <= SHUTDOWN_WARNING_DAYS:
        days = (date.fromisoformat(shutdown) - today).days
        message = f"{model!r} shuts down on {shutdown} (in {days} days): switch soon. {scope}"
        return ModelCheck(model, True, message + _change_hint(available, kind), shutdown, names)
    when = f"shuts down on {shutdown}" if shutdown else "has no shutdown announced"
    return ModelCheck(model, True, f"{model!r} {when}. {scope}", shutdown, names)


def send(call: Callable[[], T], retries: RetryPolicy | None = None) -> T:
    """Run one API call, retrying only rate limits and connection failures; explain any failure (notebook 05)."""
    retries = retries or RETRIES
    for attempt in range(retries.max_retries + 1):
        try:
            return call()
        except openai.APITimeoutError as err:  # the call may be running and billed: never retried
            raise _explain(err) from err
        except (openai.RateLimitError, openai.APIConnectionError) as err:
            wait = _retry_wait(err, attempt, retries)
            if wait is None or attempt == retries.max_retries:
                raise _explain(err, wait_asked=_retry_after(err), retries=retries) from err
            log.info("%s; retrying in %.1f s (retry %d of %d)", type(err).__name__, wait, attempt + 1,
                     retries.max_retries)
            retries.sleep(wait)
        except openai.OpenAIError as err:
            raise _explain(err) from err
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(err: openai.OpenAIError) -> float | None:
    """Seconds the server asked us to wait (Retry-After or retry-after-ms header), if it did."""
    headers = getattr(getattr(err, "response", None), "headers", None) or {}
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        try:
            return float(headers[name]) / divisor
        except (KeyError, ValueError):
            continue
    return None


def _retry_wait(err: openai.OpenAIError, attempt: int, retries: RetryPolicy) -> float | None:
    """Seconds to wait before the next try, or None when retrying cannot help."""
    if isinstance(err, openai.RateLimitError):
        if reason_for(err) == "quota":
            return None
        asked = _retry_after(err)
        if asked is not None:
            return asked if 0 <= asked <= retries.max_wait_s else None
    return min(2.0 ** (attempt + 1), 30.0) * random.uniform(1.0, 1.25)  # 2, 4, 8 s with some jitter


def reason_for(err: openai.OpenAIError) -> str:
    """Which case of FAILURE_HELP an openai exception is (notebook 05)."""
    if isinstance(err, openai.APITimeoutError):
        return "timeout"
    if isinstance(err, openai.APIConnectionError):
        return "connection"
    if not isinstance(err, openai.APIStatusError):
        return "bad_response"
    text, status = f"{err.code} {err.message}".lower(), err.status_code
    if status == 400 and "previous_response_not_found" in text:
        return "conversation_expired"
    if status == 400 and "image_generation" in text and "not supported" in text:
        return "tool_unsupported"
    by_status = {401: "bad_key", 404: "model",
                 403: "unverified" if "verif" in text else "forbidden",
                 400: "moderation" if "moderation" in text or "safety" in text else "bad_request",
                 429: "quota" if "quota" in text else "rate_limit"}
    return by_status.get(status, "server" if status >= 500 else "bad_request")


def _explain(err: openai.OpenAIError, wait_asked: float | None = None,
             retries: RetryPolicy | None = None) -> RequestError:
    """Our RequestError for an openai exception: what happened, what to do, and what the server said."""
    reason = reason_for(err)
    message = FAILURE_HELP[reason]
    if reason == "rate_limit" and wait_asked is not None and wait_asked > (retries or RETRIES).max_wait_s:
        message += f" (OpenAI asked to wait {wait_asked:.0f} s, longer than we wait automatically.)"
    if reason in ("bad_request", "forbidden", "model", "server", "tool_unsupported") and isinstance(err,
                                                                                                  openai.APIError):
        message += f"\nOpenAI said: {err.message}"
    request_id = getattr(err, "request_id", None)
    return RequestError(message + (f"\n(request id {request_id})" if request_id else ""), reason=reason)
