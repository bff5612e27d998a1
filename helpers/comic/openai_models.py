"""Facts about OpenAI's image and chat models that change on OpenAI's schedule: prices, shutdowns, cost estimates.

Everything here goes stale: OpenAI changes prices and retires models every few months. Each table says
where it comes from and when it was last checked; update both together. The lesson (`comics`) and the
client policy (`openai_api`) only read these tables, so an update never touches them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

CHECKED_ON = "2026-11-25"  # the day both tables below were last compared with their sources
SHUTDOWNS_SOURCE = "https://platform.openai.com/docs/deprecations"
PRICES_SOURCE = "https://openai.com/api/pricing"

IMAGE_MODEL_PREFIXES = ("gpt-image", "chatgpt-image", "dall-e")  # model ids that make images

# Announced shutdowns (YYYY-MM-DD), used when the account's model list carries no `shutdown_date`.
KNOWN_SHUTDOWNS = {
    "dall-e-2": "2026-05-12",
    "dall-e-3": "2026-05-12",
    "gpt-image-1": "2026-10-23",
    "gpt-image-1.5": "2026-12-01",
    "gpt-image-1.5-2025-12-16": "2026-12-01",
    "gpt-image-1-mini": "2026-12-01",
    "chatgpt-image-latest": "2026-12-01",
    # Chat models that can call the image generation tool (the conversation mode of notebook 05), from the same
    # deprecations page, read 2026-11-27: gpt-5, gpt-5-mini, gpt-5-nano and o3 (deprecated 2026-06-11); gpt-4o,
    # gpt-4o-mini, gpt-4.1 and gpt-4.1-mini (deprecated 2026-10-14); gpt-4.1-nano shut down with gpt-image-1.
    "gpt-5": "2026-12-11", "gpt-5-mini": "2026-12-11", "gpt-5-nano": "2026-12-11", "o3": "2026-12-11",
    "gpt-4o": "2027-01-14", "gpt-4o-mini": "2027-01-14", "gpt-4.1": "2027-01-14", "gpt-4.1-mini": "2027-01-14",
    "gpt-4.1-nano": "2026-10-23",
}
# USD per 1M tokens: (text input, image input, image output).
PRICES_PER_MILLION = {
    "gpt-image-2": (5.00, 8.00, 30.00),
    "gpt-image-1-mini": (2.00, 2.50, 8.00),
}


# --- The conversation mode: a chat model that calls the image generation tool (Responses API) -----------------
IMAGE_TOOL_SOURCE = "https://developers.openai.com/api/docs/guides/tools-image-generation"
IMAGE_TOOL_CHECKED_ON = "2026-11-27"
# Chat models able to call the `image_generation` tool: the "Supported models" list of the tool's guide (as
# quoted by OpenAI's documentation assistant in 2026; the guide's own page was read only in search excerpts),
# plus gpt-5.4 and gpt-5.5, which the guide's and the conversation-state guide's examples use. Newer chat
# models (the gpt-5.6 and gpt-6 families) were not found in any list: they count as unknown, not as unable.
# Dated snapshots share their model's entry.
IMAGE_TOOL_CHAT_MODELS = ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.2", "gpt-5", "gpt-5-nano",
                          "o3", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini")
# Image models a tool-capable chat model is known NOT to drive: OpenAI answers a generic 400. gpt-4o with
# gpt-image-2 was reported in github.com/garrytan/gstack/issues/1771 (2026-05), where gpt-5 worked.
IMAGE_TOOL_PAIRING_FAILS = {"gpt-4o": ("gpt-image-2",), "gpt-4o-mini": ("gpt-image-2",)}
# Model ids that are no chat model at all (a common slip: CHAT_MODEL=gpt-image-2), or that OpenAI answers with
# "Tool 'image_generation' is not supported with ..." (gpt-5.3-codex-spark, seen in public bug reports 2026).
NOT_TOOL_CHAT_PREFIXES = (*IMAGE_MODEL_PREFIXES, "text-embedding", "omni-moderation", "tts", "whisper", "sora",
                          "gpt-realtime", "gpt-audio", "gpt-3.5", "davinci", "babbage", "gpt-5.3-codex-spark")
# USD per 1M tokens of a chat model: (input, cached input, output), checked IMAGE_TOOL_CHECKED_ON against
# secondary sources only (PRICES_SOURCE is the authority): gpt-5.5 as quoted from OpenAI's pricing in several
# April-June 2026 write-ups (one older post disagrees); the gpt-5.6 pair as summarised from OpenAI's Models
# page on 2026-08-02 (github.com/gh640/openai-models-ja).
CHAT_PRICES_PER_MILLION = {
    "gpt-5.5": (5.00, 0.50, 30.00),
    "gpt-5.6-sol": (5.00, 0.50, 30.00),
    "gpt-5.6-terra": (2.50, 0.25, 15.00),
}
# Rough sizes of what a conversation turn adds, for estimates before paying (a real turn records its usage):
TOOL_DEFINITION_TOKENS = 265  # the tool's description the chat model reads every turn (measured on the OpenAI
                              # community forum, 2025: "Responses API Image Generation Token Usage")
CHAT_REPLY_TOKENS = 300  # the chat model's prompt for the tool and its short reply (reasoning not counted)


def _base_model(model: str) -> str:
    """The model a dated snapshot belongs to: gpt-image-2-2026-04-21 -> gpt-image-2."""
    return re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model)


def prices(model: str) -> tuple[float, float, float] | None:
    """Prices of a model or of the model its dated snapshot belongs to (gpt-image-2-2026-04-21 -> gpt-image-2)."""
    return PRICES_PER_MILLION.get(_base_model(model))


def can_call_image_tool(chat_model: str, image_model: str | None = None) -> bool | None:
    """Can this chat model call the image generation tool (with this image model)? None: not known (nb 05)."""
    base = _base_model(chat_model)
    if base.startswith(NOT_TOOL_CHAT_PREFIXES):
        return False
    if base not in IMAGE_TOOL_CHAT_MODELS:
        return None
    fails = IMAGE_TOOL_PAIRING_FAILS.get(base, ())
    return not (image_model and _base_model(image_model) in fails)


def image_tokens(width: int, height: int) -> int:
    """Input tokens of one image by the tile rule: 85 plus 170 per 512-pixel tile."""
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def estimate_output_tokens(size: str, quality: str) -> int:
    """Image tokens of one gpt-image-2 output by OpenAI's size-and-quality rule; 'auto' counts as high (nb 05)."""
    width, height = (1536, 1024) if size == "auto" else map(int, size.split("x"))
    factor = {"low": 16, "medium": 48, "high": 96}.get(quality, 96)
    long_edge, short_edge = max(width, height), min(width, height)
    short_factor = (2 * factor * short_edge + long_edge) // (2 * long_edge)
    return (factor * short_factor * (2_000_000 + width * height) + 3_999_999) // 4_000_000


def estimate_cost(model: str, size: str, quality: str, image_sizes: Sequence[tuple[int, int]] = (),
                  prompt: str = "") -> float | None:
    """Rough USD price of one image call before it is made; None when the model's prices are unknown (nb 05).

    Args:
        image_sizes: (width, height) of each input image as uploaded.
    """
    return _image_call_cost(model, size, quality, image_sizes, text_tokens=len(prompt) / 4)  # ~4 characters a token


def _image_call_cost(model: str, size: str, quality: str, image_sizes: Sequence[tuple[int, int]],
                     text_tokens: float) -> float | None:
    """Text, input images and one output image at an image model's prices; None unless a gpt-image-2 model."""
    model_prices = prices(model)
    if model_prices is None or not model.startswith("gpt-image-2"):
        return None
    input_image_tokens = sum(image_tokens(w, h) for w, h in image_sizes)
    output_tokens = estimate_output_tokens(size, quality)
    return (text_tokens * model_prices[0] + input_image_tokens * model_prices[1]
            + output_tokens * model_prices[2]) / 1e6


def cost_from_usage(model: str, usage: dict[str, Any] | None) -> float | None:
    """USD price of a finished call from the token usage the API reported; None if unknown (notebook 05)."""
    model_prices = prices(model)
    if model_prices is None or not usage:
        return None
    details = usage.get("input_tokens_details") or {}
    text_tokens = details.get("text_tokens", usage.get("input_tokens", 0))
    image_tokens = details.get("image_tokens", 0)
    return (text_tokens * model_prices[0] + image_tokens * model_prices[1]
            + usage.get("output_tokens", 0) * model_prices[2]) / 1e6


def estimate_turn_cost(chat_model: str, image_model: str, size: str, quality: str, chat_input_tokens: float,
                       image_sizes: Sequence[tuple[int, int]] = ()) -> float | None:
    """Rough USD price of one conversation turn before it is made; None when a price is unknown (notebook 05).

    A turn is billed twice: the chat model's tokens (everything in the conversation so far is input again,
    plus the tool's description and its reply), and the image tool at the image model's prices (its
    prompt, the images in the conversation, and the new image). Here both are estimated.

    Args:
        chat_input_tokens: the chat model's input tokens (prompt, images, earlier turns), estimated.
        image_sizes: (width, height) of each image in the conversation, which the tool also reads.
    """
    chat = chat_cost(chat_model, {"input_tokens": chat_input_tokens + TOOL_DEFINITION_TOKENS,
                                  "output_tokens": CHAT_REPLY_TOKENS})
    tool = _image_call_cost(image_model, size, quality, image_sizes, text_tokens=CHAT_REPLY_TOKENS)
    return None if chat is None or tool is None else chat + tool


def chat_cost(chat_model: str, usage: dict[str, Any] | None) -> float | None:
    """USD price of a chat model's tokens from a Responses API `usage` (cached input is cheaper); None if unknown."""
    model_prices = CHAT_PRICES_PER_MILLION.get(_base_model(chat_model))
    if model_prices is None or not usage:
        return None
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
    return ((usage.get("input_tokens", 0) - cached) * model_prices[0] + cached * model_prices[1]
            + usage.get("output_tokens", 0) * model_prices[2]) / 1e6


def turn_cost_from_usage(chat_model: str, image_model: str, usage: dict[str, Any] | None, size: str, quality: str,
                         image_sizes: Sequence[tuple[int, int]] = ()) -> float | None:
    """USD price of a finished turn: the chat tokens as reported, the image tool estimated (notebook 05).

    The Responses API's `usage` counts the chat model's tokens only; the image tool's own tokens are billed
    at the image model's prices but not reported, so that part stays an estimate.
    """
    chat = chat_cost(chat_model, usage)
    tool = _image_call_cost(image_model, size, quality, image_sizes, text_tokens=CHAT_REPLY_TOKENS)
    return None if chat is None or tool is None else chat + tool
