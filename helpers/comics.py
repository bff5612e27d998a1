"""From found photos to a comic with OpenAI image generation (introduced in notebook 05).

The steps: pick reference photos among the search hits (`choose_references`), write a prompt
(`build_prompt`), see exactly what would be sent and roughly what it costs (`plan_comic`,
`describe_request`, `make_contact_sheet`), check the image model for free (`check_image_model`),
then pay for one call (`generate_comic`) and refine the result in turns (`ComicSession`).
Each result is a PNG with a JSON sidecar, written atomically under OUTPUT_DIR/comics.

Image calls are slow and billed per call, so the client makes no automatic retries (a retried call
is billed again): only rate limits (429) and connection failures are retried here, a few times.
The API key is never printed, saved or logged.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import openai
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers import config, data

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_REFERENCE_IMAGES = 16  # the most input images images.edit accepts
REFERENCE_MAX_SIDE = 512  # pixels: references are shrunk to fit, which keeps the upload small
REFERENCE_JPEG_QUALITY = 85
MAX_PROMPT_CHARS = 32_000  # the API's limit for GPT image models
QUALITIES = ("low", "medium", "high", "auto")
IMAGE_TIMEOUT_S = 300.0  # an image call can take over 2 minutes
MAX_RETRIES = 3  # for rate limits (429) and connection failures only
MAX_RETRY_WAIT_S = 120.0  # a longer Retry-After is not waited for: the message says so instead
SHUTDOWN_WARNING_DAYS = 30  # warn when the model shuts down within this many days
IMAGE_MODEL_PREFIXES = ("gpt-image", "chatgpt-image", "dall-e")

# Fallback when the model list carries no `shutdown_date` (from OpenAI's deprecations page, checked 2026-11-25).
KNOWN_SHUTDOWNS = {
    "dall-e-2": "2026-05-12",
    "dall-e-3": "2026-05-12",
    "gpt-image-1": "2026-10-23",
    "gpt-image-1.5": "2026-12-01",
    "gpt-image-1.5-2025-12-16": "2026-12-01",
    "gpt-image-1-mini": "2026-12-01",
    "chatgpt-image-latest": "2026-12-01",
}
# USD per 1M tokens: (text input, image input, image output), from openai.com/api/pricing, checked 2026-11-25.
PRICES_PER_MILLION = {
    "gpt-image-2": (5.00, 8.00, 30.00),
    "gpt-image-1-mini": (2.00, 2.50, 8.00),
}

PROMPT_TEMPLATES = {  # the blog's three prompts; `{subject}` is filled in by build_prompt
    "mouse": ("Create a four-panel, full-color, hilarious comic strip starring {subject}. The dog is caught "
              "gnawing on a mouse, and the panels show what happens when the owner finds out. Keep the dog's "
              "look (coat, colours, ears) the same in every panel, with short speech bubbles."),
    "outfit": ("Draw {subject} as a full-color cartoon: this dog rocks a cute outfit. Keep the dog's coat, "
               "colours and ears exactly as in the photos."),
    "hogwarts": ("Draw {subject} attending Hogwarts School of Witchcraft and Wizardry: a full-color "
                 "illustration in the Great Hall, with a house scarf and a wand. Keep the dog recognisable."),
}
DEFAULT_SUBJECT = "the dog in the reference photos"
REFINE_TEMPLATE = ("Edit this comic: {follow_up}. Keep the characters, the drawing style and everything "
                   "else in the image as it is.")

HOW_TO_ENABLE = (
    "No OpenAI API key found, so nothing is sent and nothing is billed. To generate the comic:\n"
    "  1. create a key at https://platform.openai.com/api-keys (image models may need a verified organisation);\n"
    "  2. hand it over in one of these ways: set OPENAI_API_KEY in the environment before starting Jupyter;\n"
    "     or put the line OPENAI_API_KEY=<your key> in a .env file at the repository root (it is git-ignored);\n"
    "     or on Colab add a secret named OPENAI_API_KEY (key icon, left) and give this notebook access;\n"
    "     or set ASK_FOR_KEY = True in the notebook and type the key into the hidden box;\n"
    "  3. run the notebook again from the top. The key is never printed or saved."
)
FAILURE_HELP = {  # reason -> what happened and what to do; every ComicError message starts with one of these
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
    "model": ("The image model is not available (404): run comics.check_image_model(openai_client) to see the "
              "image models your account can use, then change the IMAGE_MODEL setting."),
    "rate_limit": ("OpenAI's rate limit was hit (429) and the retries ran out. Wait a minute and run the cell "
                   "again, or use a lower quality (fewer tokens per minute)."),
    "quota": ("Your OpenAI account is out of credit (429 insufficient_quota); retrying will not help. Add credit "
              "or raise the limit at https://platform.openai.com/settings/organization/billing."),
    "timeout": ("OpenAI did not answer in time. Image calls can take minutes: run the cell again, use a lower "
                "quality, or allow more time with comics.make_client(timeout=...). The call may have been billed."),
    "connection": ("Could not reach OpenAI: check your network connection (and OPENAI_BASE_URL, if you set it), "
                   "then run the cell again."),
    "server": ("OpenAI had a server error (5xx). It is not retried automatically, because a retried image call is "
               "billed again: wait a minute and run the cell again; https://status.openai.com lists incidents."),
    "bad_response": "OpenAI's answer held no readable image: run the cell again; nothing was saved.",
}
_SECRET = re.compile(r"sk-[A-Za-z0-9*_\-]{4,}")
_sleep = time.sleep  # replaced by the tests, so that backoff waits are recorded rather than slept


class ComicError(RuntimeError):
    """An image request cannot be made or failed: `reason` names the case, the message what to do (notebook 05)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(_SECRET.sub("sk-***", message))
        self.reason = reason


@dataclass(frozen=True)
class ReferenceImage:
    """One reference photo as it is uploaded: a small JPEG made from `path`."""

    path: Path
    jpeg: bytes = field(repr=False)
    width: int
    height: int

    def as_upload(self, index: int) -> tuple[str, bytes, str]:
        """The (file name, bytes, content type) tuple the openai client sends as one `image[]` part."""
        return f"ref{index:02d}-{self.path.stem}.jpg", self.jpeg, "image/jpeg"


@dataclass(frozen=True)
class ComicRequest:
    """Everything one image call sends, except the key: look at it before paying (notebook 05)."""

    prompt: str
    model: str
    references: tuple[ReferenceImage, ...] = ()
    size: str = "1024x1024"
    quality: str = "medium"
    parent: Path | None = None  # the result this request edits, in a refinement turn

    @property
    def endpoint(self) -> str:
        """`images.edit` when reference photos go with the prompt, else `images.generate`."""
        return "images.edit" if self.references else "images.generate"

    @property
    def upload_bytes(self) -> int:
        """Size of the reference photos as uploaded."""
        return sum(len(ref.jpeg) for ref in self.references)

    @property
    def estimated_cost_usd(self) -> float | None:
        """Rough price of this call before it is made (see `estimate_cost`)."""
        return estimate_cost(self.model, self.size, self.quality, self.references, self.prompt)


@dataclass(frozen=True)
class ComicResult:
    """A generated image on disk: the PNG and what its JSON sidecar records (prompt, model, cost...)."""

    image_path: Path
    record: dict[str, Any]

    @property
    def sidecar_path(self) -> Path:
        """The JSON file next to the PNG."""
        return self.image_path.with_suffix(".json")

    @property
    def prompt(self) -> str:
        """The prompt that was sent."""
        return self.record["prompt"]


@dataclass(frozen=True)
class ModelCheck:
    """What `check_image_model` found: can the model be used, and which image models are there."""

    model: str
    usable: bool
    message: str
    shutdown_date: str | None = None
    available: tuple[str, ...] = ()


# --- reference photos and prompts -------------------------------------------------------------------


def choose_references(hits: Sequence[Any], max_images: int = 8, label: str | None = None) -> list[Path]:
    """The best distinct photos among search hits (`store.Hit`s or paths), at most 16 (notebook 05)."""
    if not 1 <= max_images <= MAX_REFERENCE_IMAGES:
        raise ValueError(f"max_images={max_images}: images.edit takes 1 to {MAX_REFERENCE_IMAGES} input images.")
    chosen: list[Path] = []
    for hit in hits:  # hits come best first
        if label is not None and getattr(hit, "label", label) != label:
            continue
        path = Path(getattr(hit, "path", hit))
        if path not in chosen:
            chosen.append(path)
    return chosen[:max_images]


def prepare_references(image_paths: Sequence[Path | str], max_side: int = REFERENCE_MAX_SIDE,
                       quality: int = REFERENCE_JPEG_QUALITY) -> tuple[ReferenceImage, ...]:
    """Shrink each photo to fit `max_side` pixels and JPEG-compress it for the upload (notebook 05)."""
    if len(image_paths) > MAX_REFERENCE_IMAGES:
        raise ValueError(f"{len(image_paths)} photos: images.edit takes at most {MAX_REFERENCE_IMAGES}.")
    references = []
    for path in image_paths:
        image = data.load_image(path)  # EXIF rotation applied, RGB
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, optimize=True)
        references.append(ReferenceImage(Path(path), buffer.getvalue(), *image.size))
    return tuple(references)


def build_prompt(template: str, subject: str = DEFAULT_SUBJECT) -> str:
    """A blog prompt by name (`PROMPT_TEMPLATES`) or your own text, with `{subject}` filled in (notebook 05)."""
    text = PROMPT_TEMPLATES.get(template, template).replace("{subject}", subject).strip()
    if not text:
        raise ValueError(f"The prompt is empty: name one of {sorted(PROMPT_TEMPLATES)} or write your own text.")
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(f"The prompt has {len(text):,} characters; the API takes at most {MAX_PROMPT_CHARS:,}.")
    return text


def build_refinement_prompt(follow_up: str) -> str:
    """The prompt of a refinement turn: your follow-up request, asking to keep the rest (notebook 05)."""
    follow_up = follow_up.strip().rstrip(".")
    if not follow_up:
        raise ValueError("The follow-up is empty: say what to change, for example 'make panel three funnier'.")
    return REFINE_TEMPLATE.format(follow_up=follow_up)


def plan_comic(prompt: str, reference_paths: Sequence[Path | str] = (), *, model: str | None = None,
               size: str = "1024x1024", quality: str = "medium") -> ComicRequest:
    """Prepare the request for one image: nothing is sent yet, so this is free and needs no key (notebook 05)."""
    _check_size(size)
    if quality not in QUALITIES:
        raise ValueError(f"quality={quality!r}: use one of {QUALITIES}.")
    return ComicRequest(prompt=build_prompt(prompt), model=model or config.load_settings().image_model,
                        references=prepare_references(reference_paths), size=size, quality=quality)


def plan_refinement(previous: ComicResult, follow_up: str, **options: Any) -> ComicRequest:
    """Prepare a refinement turn: the previous result is the one input image, edited by `follow_up` (nb 05)."""
    options = {"model": previous.record["model"], "size": previous.record["size"],
               "quality": previous.record["quality"], **{k: v for k, v in options.items() if v is not None}}
    request = plan_comic(build_refinement_prompt(follow_up), **options)
    references = prepare_references([previous.image_path], max_side=1024, quality=90)
    return ComicRequest(request.prompt, request.model, references, request.size, request.quality,
                        parent=previous.image_path)


def _check_size(size: str) -> None:
    """Raise ValueError unless `size` is 'auto' or WIDTHxHEIGHT with both sides divisible by 16."""
    match = re.fullmatch(r"(\d+)x(\d+)", size)
    if size != "auto" and not (match and int(match[1]) % 16 == 0 and int(match[2]) % 16 == 0):
        raise ValueError(f"size={size!r}: use 'auto' or WIDTHxHEIGHT with both divisible by 16, like '1024x1536'.")


def describe_request(request: ComicRequest) -> str:
    """Exactly what a request would send (the key aside), as text for the notebook (notebook 05)."""
    cost = request.estimated_cost_usd
    lines = [
        f"Call:      client.{request.endpoint}(...)  -> POST /v1/images/"
        + ("edits" if request.references else "generations"),
        f"Model:     {request.model}  (the IMAGE_MODEL setting)",
        f"Output:    {request.size}, quality {request.quality}, 1 image, PNG",
        f"Photos:    {len(request.references)} reference photos, {request.upload_bytes / 1024:.0f} KB in all",
        f"Cost:      about ${cost:.3f} (a rough estimate; the sidecar records the real usage)" if cost is not None
        else f"Cost:      unknown for {request.model}: see https://openai.com/api/pricing",
        *[f"           - {ref.path.name} ({ref.width}x{ref.height})" for ref in request.references],
        "Prompt:    " + request.prompt,
    ]
    return "\n".join(lines)


def make_contact_sheet(images: Sequence[ReferenceImage | Path | str], ncols: int = 4, cell: int = 192) -> Image.Image:
    """One picture of the reference photos side by side, as they are uploaded (notebook 05)."""
    nrows = max(1, math.ceil(len(images) / ncols))
    sheet = Image.new("RGB", (ncols * cell, nrows * cell), "white")
    for i, item in enumerate(images):
        if isinstance(item, ReferenceImage):
            image = Image.open(io.BytesIO(item.jpeg)).convert("RGB")
        else:
            image = data.load_image(item)
        image = ImageOps.contain(image, (cell - 8, cell - 8))
        x, y = (i % ncols) * cell, (i // ncols) * cell
        sheet.paste(image, (x + (cell - image.width) // 2, y + (cell - image.height) // 2))
    return sheet


# --- cost ---------------------------------------------------------------------------------------------


def _prices(model: str) -> tuple[float, float, float] | None:
    """Prices of a model or of the model its dated snapshot belongs to (gpt-image-2-2026-04-21 -> gpt-image-2)."""
    return PRICES_PER_MILLION.get(re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model))


def estimate_output_tokens(size: str, quality: str) -> int:
    """Image tokens of one gpt-image-2 output by OpenAI's size-and-quality rule; 'auto' counts as high (nb 05)."""
    width, height = (1536, 1024) if size == "auto" else map(int, size.split("x"))
    factor = {"low": 16, "medium": 48, "high": 96}.get(quality, 96)
    long_edge, short_edge = max(width, height), min(width, height)
    short_factor = (2 * factor * short_edge + long_edge) // (2 * long_edge)
    return (factor * short_factor * (2_000_000 + width * height) + 3_999_999) // 4_000_000


def estimate_cost(model: str, size: str, quality: str, references: Sequence[ReferenceImage] = (),
                  prompt: str = "") -> float | None:
    """Rough USD price of one image call before it is made; None when the model's prices are unknown (nb 05)."""
    prices = _prices(model)
    if prices is None or not model.startswith("gpt-image-2"):
        return None
    text_tokens = len(prompt) / 4  # about 4 characters a token
    image_tokens = sum(85 + 170 * math.ceil(r.width / 512) * math.ceil(r.height / 512) for r in references)
    output_tokens = estimate_output_tokens(size, quality)
    return (text_tokens * prices[0] + image_tokens * prices[1] + output_tokens * prices[2]) / 1e6


def cost_from_usage(model: str, usage: dict[str, Any] | None) -> float | None:
    """USD price of a finished call from the token usage the API reported; None if unknown (notebook 05)."""
    prices = _prices(model)
    if prices is None or not usage:
        return None
    details = usage.get("input_tokens_details") or {}
    text_tokens = details.get("text_tokens", usage.get("input_tokens", 0))
    image_tokens = details.get("image_tokens", 0)
    return (text_tokens * prices[0] + image_tokens * prices[1] + usage.get("output_tokens", 0) * prices[2]) / 1e6


# --- the client, the model check and the call -----------------------------------------------------------


def make_client(api_key: str | None = None, *, ask: bool = False, timeout: float = IMAGE_TIMEOUT_S) -> openai.OpenAI:
    """An OpenAI client for image calls: no automatic retries, a generous timeout (notebook 05).

    The key comes from `api_key`, else the environment, `.env` or Colab secrets, else (with `ask=True`,
    in JupyterLab, Colab or a terminal) a hidden prompt. Raises ComicError(reason="no_key") without one.
    """
    if api_key is None:
        api_key = config.get_openai_api_key(prompt=ask)
    if not api_key:
        raise ComicError(HOW_TO_ENABLE, reason="no_key")
    # OPENAI_BASE_URL, when set, is read by the client itself (the tests point it at a local server).
    return openai.OpenAI(api_key=api_key, max_retries=0, timeout=openai.Timeout(timeout, connect=15.0))


def check_image_model(openai_client: openai.OpenAI | None, model: str | None = None,
                      today: date | None = None) -> ModelCheck:
    """Check the image model against your account's model list and its shutdown date, for free (notebook 05).

    Without a client (no key) only the known shutdown dates are checked.
    """
    model = model or config.load_settings().image_model
    today = today or date.today()
    if openai_client is None:
        return _judge(model, KNOWN_SHUTDOWNS.get(model), today, available=None)
    listed = {m.id: m for m in _send(lambda: list(openai_client.models.list()))}
    shutdowns = {m_id: _shutdown_date(m) for m_id, m in listed.items() if m_id.startswith(IMAGE_MODEL_PREFIXES)}
    available = {m_id: day for m_id, day in sorted(shutdowns.items(), key=lambda item: (item[1] is not None, item))
                 if not _is_past(day, today)}  # models without a shutdown date first
    if model not in listed:
        return ModelCheck(model, False, f"{model!r} is not in your account's model list." + _change_hint(available),
                          None, tuple(available))
    return _judge(model, _shutdown_date(listed[model]), today, available)


def require_image_model(openai_client: openai.OpenAI, model: str) -> ModelCheck:
    """`check_image_model`, raising ComicError(reason="model") when the model cannot be used (notebook 05)."""
    check = check_image_model(openai_client, model)
    if not check.usable:
        raise ComicError(check.message, reason="model")
    return check


def _shutdown_date(model: Any) -> str | None:
    """A listed model's `shutdown_date` (YYYY-MM-DD) when the API gives one, else the known-shutdown table."""
    value = getattr(model, "shutdown_date", None)
    try:
        return date.fromisoformat(value).isoformat() if value else KNOWN_SHUTDOWNS.get(model.id)
    except (TypeError, ValueError):  # an unexpected format: fall back to what we know
        return KNOWN_SHUTDOWNS.get(model.id)


def _is_past(shutdown: str | None, today: date) -> bool:
    return shutdown is not None and date.fromisoformat(shutdown) <= today


def _change_hint(available: dict[str, str | None] | None) -> str:
    """How to pick another model, naming the ones the account can use."""
    if available is None:
        return " Add your key to see the image models your account can use; change the model with IMAGE_MODEL."
    listed = ", ".join(m + (f" (until {day})" if day else "") for m, day in available.items()) or "none found"
    example = next(iter(available), "<model>")
    return (f" Image models available to you: {listed}. To change the model, set IMAGE_MODEL in the environment "
            f"or in .env (in a notebook: %env IMAGE_MODEL={example}) and run the cells again.")


def _judge(model: str, shutdown: str | None, today: date, available: dict[str, str | None] | None) -> ModelCheck:
    """The verdict on one model from its shutdown date."""
    names = tuple(available or ())
    if _is_past(shutdown, today):
        return ModelCheck(model, False, f"{model!r} was shut down on {shutdown}." + _change_hint(available),
                          shutdown, names)
    scope = ("It is on your account's model list." if available is not None
             else "Your account's model list was not checked (no key).")
    if shutdown and (date.fromisoformat(shutdown) - today).days <= SHUTDOWN_WARNING_DAYS:
        days = (date.fromisoformat(shutdown) - today).days
        message = f"{model!r} shuts down on {shutdown} (in {days} days): switch soon. {scope}"
        return ModelCheck(model, True, message + _change_hint(available), shutdown, names)
    when = f"shuts down on {shutdown}" if shutdown else "has no shutdown announced"
    return ModelCheck(model, True, f"{model!r} {when}. {scope}", shutdown, names)


def request_image(openai_client: openai.OpenAI, request: ComicRequest) -> Any:
    """One image call: images.edit with the reference photos, images.generate without (notebook 05)."""
    options = {"model": request.model, "prompt": request.prompt, "size": request.size,
               "quality": request.quality, "n": 1, "output_format": "png"}
    if request.references:
        uploads = [ref.as_upload(i) for i, ref in enumerate(request.references)]  # sent as image[] parts
        return openai_client.images.edit(image=uploads, **options)
    return openai_client.images.generate(**options)


def _send(call: Callable[[], T], max_retries: int = MAX_RETRIES) -> T:
    """Run an API call, retrying only rate limits and connection failures; explain any failure."""
    for attempt in range(max_retries + 1):
        try:
            return call()
        except openai.APITimeoutError as err:  # the call may be running and billed: never retried
            raise _explain(err) from err
        except (openai.RateLimitError, openai.APIConnectionError) as err:
            wait = _retry_wait(err, attempt)
            if wait is None or attempt == max_retries:
                raise _explain(err, wait_asked=_retry_after(err)) from err
            log.info("%s; retrying in %.1f s (retry %d of %d)", type(err).__name__, wait, attempt + 1, max_retries)
            _sleep(wait)
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


def _retry_wait(err: openai.OpenAIError, attempt: int) -> float | None:
    """Seconds to wait before the next try, or None when retrying cannot help."""
    if isinstance(err, openai.RateLimitError):
        if _reason_for(err) == "quota":
            return None
        asked = _retry_after(err)
        if asked is not None:
            return asked if 0 <= asked <= MAX_RETRY_WAIT_S else None
    return min(2.0 ** (attempt + 1), 30.0) * random.uniform(1.0, 1.25)  # 2, 4, 8 s with some jitter


def _reason_for(err: openai.OpenAIError) -> str:
    """Which case of FAILURE_HELP an openai exception is."""
    if isinstance(err, openai.APITimeoutError):
        return "timeout"
    if isinstance(err, openai.APIConnectionError):
        return "connection"
    if not isinstance(err, openai.APIStatusError):
        return "bad_response"
    text, status = f"{err.code} {err.message}".lower(), err.status_code
    by_status = {401: "bad_key", 404: "model",
                 403: "unverified" if "verif" in text else "forbidden",
                 400: "moderation" if "moderation" in text or "safety" in text else "bad_request",
                 429: "quota" if "quota" in text else "rate_limit"}
    return by_status.get(status, "server" if status >= 500 else "bad_request")


def _explain(err: openai.OpenAIError, wait_asked: float | None = None) -> ComicError:
    """Our ComicError for an openai exception: what happened, what to do, and what the server said."""
    reason = _reason_for(err)
    message = FAILURE_HELP[reason]
    if reason == "rate_limit" and wait_asked is not None and wait_asked > MAX_RETRY_WAIT_S:
        message += f" (OpenAI asked to wait {wait_asked:.0f} s, longer than we wait automatically.)"
    if reason in ("bad_request", "forbidden", "model", "server") and isinstance(err, openai.APIError):
        message += f"\nOpenAI said: {err.message}"
    request_id = getattr(err, "request_id", None)
    return ComicError(message + (f"\n(request id {request_id})" if request_id else ""), reason=reason)


# --- results on disk ---------------------------------------------------------------------------------------


def generate_comic(openai_client: openai.OpenAI, request: ComicRequest, output_dir: Path | None = None,
                   *, check_model: bool = True) -> ComicResult:
    """Pay for one image: check the model, call the API, save the PNG and its sidecar (notebook 05)."""
    if check_model:
        require_image_model(openai_client, request.model)
    started = time.monotonic()
    response = _send(lambda: request_image(openai_client, request))
    seconds = round(time.monotonic() - started, 2)
    png = _png_from_response(response)
    usage = response.usage.model_dump() if getattr(response, "usage", None) else None
    cost = cost_from_usage(request.model, usage)
    record = {
        "prompt": request.prompt, "model": request.model, "endpoint": request.endpoint,
        "reference_files": [str(ref.path) for ref in request.references],
        "parent": str(request.parent) if request.parent else None,
        "size": request.size, "quality": request.quality, "usage": usage,
        "estimated_cost_usd": cost if cost is not None else request.estimated_cost_usd,
        "cost_basis": "usage" if cost is not None else "estimate",
        "seconds": seconds, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return save_result(png, record, output_dir)


def _png_from_response(response: Any) -> bytes:
    """The first image of an ImagesResponse as PNG bytes; ComicError(reason="bad_response") if there is none."""
    try:
        raw = base64.b64decode(response.data[0].b64_json, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            if image.format == "PNG":
                return raw
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return buffer.getvalue()
    except (AttributeError, IndexError, TypeError, ValueError, UnidentifiedImageError, OSError) as err:
        raise ComicError(FAILURE_HELP["bad_response"] + f" ({type(err).__name__})", reason="bad_response") from err


def save_result(png: bytes, record: dict[str, Any], output_dir: Path | None = None) -> ComicResult:
    """Write the PNG and its JSON sidecar atomically: both appear complete, or neither does (notebook 05)."""
    output_dir = Path(output_dir or config.load_settings().output_dir / "comics")
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"comic-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    image_path, sidecar_path = output_dir / f"{stem}.png", output_dir / f"{stem}.json"
    record = {**record, "image_file": image_path.name}
    text = json.dumps(record, indent=2, ensure_ascii=False)  # fails before anything is written
    temps: list[Path] = []
    try:
        temps.append(_write_temp(output_dir, png))
        temps.append(_write_temp(output_dir, text.encode()))
        os.replace(temps[0], image_path)
        os.replace(temps[1], sidecar_path)  # last: a PNG without its sidecar never stays behind
    except BaseException:
        for path in (*temps, image_path):
            path.unlink(missing_ok=True)
        raise
    return ComicResult(image_path, record)


def _write_temp(folder: Path, content: bytes) -> Path:
    """Write `content` to a hidden temporary file in `folder` (same disk, so os.replace is atomic)."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", delete=False) as f:
        path = Path(f.name)
        try:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return path


def load_result(image_path: Path | str) -> ComicResult:
    """A saved result from its PNG path, with the record of its sidecar (notebook 05)."""
    image_path = Path(image_path)
    return ComicResult(image_path, json.loads(image_path.with_suffix(".json").read_text()))


@dataclass
class ComicSession:
    """A comic made in turns: a first prompt with the reference photos, then follow-ups that edit the last
    result; `history` keeps every result (notebook 05)."""

    openai_client: openai.OpenAI = field(repr=False)
    reference_paths: Sequence[Path | str]
    model: str | None = None
    size: str = "1024x1024"
    quality: str = "medium"
    output_dir: Path | None = None
    history: list[ComicResult] = field(default_factory=list)

    def start(self, prompt: str) -> ComicResult:
        """First turn: the prompt (a template name or your text) with the reference photos."""
        request = plan_comic(prompt, self.reference_paths, model=self.model, size=self.size, quality=self.quality)
        return self._run(request)

    def refine(self, follow_up: str) -> ComicResult:
        """Next turn: edit the last result with a follow-up such as 'make panel three funnier'."""
        if not self.history:
            raise ValueError("Nothing to refine yet: call session.start(prompt) first.")
        return self._run(plan_refinement(self.history[-1], follow_up, model=self.model))

    @property
    def prompts(self) -> list[str]:
        """The prompts sent so far, in order."""
        return [result.prompt for result in self.history]

    def _run(self, request: ComicRequest) -> ComicResult:
        result = generate_comic(self.openai_client, request, self.output_dir, check_model=not self.history)
        self.history.append(result)
        return result
