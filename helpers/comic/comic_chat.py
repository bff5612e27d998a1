"""A comic as a conversation, as in ChatGPT: a chat model calls the image generation tool turn after turn (nb 05).

In ChatGPT ("GPT-4o image generation") you send photos and a request, then say "make panel three funnier",
and the model still sees everything said and drawn before. The Images API of `comics` makes one image per
request and remembers nothing. The Responses API comes closest to ChatGPT: a chat model (the CHAT_MODEL
setting) calls the built-in `image_generation` tool, which draws with a GPT Image model (IMAGE_MODEL), and
each follow-up names the previous response (`previous_response_id`), so that OpenAI keeps the earlier turns,
the reference photos and the earlier images in context. Nothing is uploaded twice.

The steps mirror `comics`: plan a turn for free (`plan_conversation`, `plan_follow_up`, `describe_turn`), then
pay for it (`send_turn`). Each turn is saved like any comic (PNG + JSON sidecar, `comics.save_result`) with the
response ids that link the turns. What goes stale (which chat models can call the tool, their prices) lives in
`openai_models`; the client, retries and failures in `openai_api`.

The request and response shapes follow OpenAI's guide to the tool
(https://developers.openai.com/api/docs/guides/tools-image-generation, read through search excerpts on
2026-11-27) and the types of the openai package (3.57): input images are `input_image` parts holding a data URL
(or a file id); the image comes back as an `image_generation_call` output item whose `result` is base64, with
the `revised_prompt` the tool drew from; `tool_choice={"type": "image_generation"}` forces the tool; a stored
response (`store=True`, kept 30 days) can be continued with `previous_response_id`; `usage` counts the chat
model's tokens only, the tool's image is billed at the image model's prices without being reported.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import openai
from PIL import Image

from helpers import config
from helpers.comic import comics, openai_api, openai_models

IMAGE_DETAIL = "auto"  # how closely the chat model looks at each photo: low, high, auto or original
PREVIEW_ID = "<the response id of turn {turn}>"  # stands in for an id that only a paid turn gets


@dataclass(frozen=True)
class TurnRequest:
    """Everything one conversation turn sends, except the key: look at it before paying (notebook 05)."""

    prompt: str
    chat_model: str
    image_model: str
    references: tuple[comics.ReferenceImage, ...] = ()  # photos uploaded with this turn
    previous_response_id: str | None = None  # the turn this one continues; None starts a conversation
    size: str = "1024x1024"
    quality: str = "medium"
    turn: int = 1
    parent: Path | None = None  # the image of the previous turn
    context_tokens: int = 0  # the chat model's input tokens of the conversation so far (estimated until paid)
    context_images: tuple[tuple[int, int], ...] = ()  # (width, height) of the images already in the conversation

    @property
    def endpoint(self) -> str:
        """Always `responses.create`: the Responses API."""
        return "responses.create"

    @property
    def tool(self) -> dict[str, Any]:
        """The `image_generation` tool with its options: the image model, size, quality and format."""
        return {"type": "image_generation", "model": self.image_model, "size": self.size,
                "quality": self.quality, "output_format": "png"}

    @property
    def image_sizes(self) -> list[tuple[int, int]]:
        """(width, height) of every image the turn's model sees: earlier ones, then this turn's photos."""
        return [*self.context_images, *((ref.width, ref.height) for ref in self.references)]

    @property
    def estimated_input_tokens(self) -> int:
        """The chat model's input tokens: the conversation so far, the prompt (~4 characters a token), the photos."""
        photos = sum(openai_models.image_tokens(ref.width, ref.height) for ref in self.references)
        return self.context_tokens + len(self.prompt) // 4 + photos

    @property
    def estimated_cost_usd(self) -> float | None:
        """Rough price of this turn before it is made (see `openai_models.estimate_turn_cost`)."""
        return openai_models.estimate_turn_cost(self.chat_model, self.image_model, self.size, self.quality,
                                                self.estimated_input_tokens, self.image_sizes)

    @property
    def is_preview(self) -> bool:
        """True for a follow-up planned from a plan, not from a paid turn: it can be described, not sent."""
        return (self.previous_response_id or "").startswith("<")


def plan_conversation(prompt: str, reference_paths: Sequence[Path | str] = (), *,
                      chat_model: str | None = None, image_model: str | None = None, size: str = "1024x1024",
                      quality: str = "medium") -> TurnRequest:
    """Prepare the first turn: the prompt and the photos, nothing sent yet, no key needed (notebook 05)."""
    plan = comics.plan_comic(prompt, reference_paths, model=image_model, size=size, quality=quality)  # checks
    return TurnRequest(plan.prompt, chat_model or config.load_settings().chat_model, plan.model, plan.references,
                       size=plan.size, quality=plan.quality)


def plan_follow_up(previous: comics.ComicResult | TurnRequest, follow_up: str,
                   reference_paths: Sequence[Path | str] = (), **options: Any) -> TurnRequest:
    """Prepare the next turn: your follow-up as written, continuing `previous` (notebook 05).

    The earlier turns, photos and images stay with OpenAI, so nothing is uploaded again unless you pass new
    `reference_paths`. From a sent turn (a result) the plan can be sent; from a plan it is a free preview.
    Options: chat_model, image_model, size, quality (by default those of `previous`).
    """
    if not follow_up.strip():
        raise ValueError("The follow-up is empty: say what to change, for example 'make panel three funnier'.")
    before, response_id, parent, context_tokens, images = _before(previous)
    settings = {**before, **{k: v for k, v in options.items() if v is not None}}
    plan = plan_conversation(follow_up, reference_paths, chat_model=settings["chat_model"],
                             image_model=settings["image_model"], size=settings["size"], quality=settings["quality"])
    return TurnRequest(plan.prompt, plan.chat_model, plan.image_model, plan.references, response_id, plan.size,
                       plan.quality, before["turn"] + 1, parent, context_tokens, images)


def _before(previous: comics.ComicResult | TurnRequest) -> tuple[dict[str, Any], str, Path | None, int,
                                                                  tuple[tuple[int, int], ...]]:
    """What a follow-up continues: settings, response id, image, the conversation's tokens and image sizes."""
    if isinstance(previous, TurnRequest):  # a preview: the previous turn is not paid for yet
        output = _output_size(previous.size)
        before = {"chat_model": previous.chat_model, "image_model": previous.image_model, "size": previous.size,
                  "quality": previous.quality, "turn": previous.turn}
        tokens = (previous.estimated_input_tokens + openai_models.TOOL_DEFINITION_TOKENS
                  + openai_models.CHAT_REPLY_TOKENS + openai_models.image_tokens(*output))
        return (before, PREVIEW_ID.format(turn=previous.turn), previous.parent, tokens,
                (*previous.image_sizes, output))
    record = previous.record
    if not record.get("response_id"):
        raise ValueError(f"{previous.image_path.name} was made by the Images API, which keeps no conversation: "
                         "refine it with comics.plan_refinement, or start a conversation with plan_conversation.")
    before = {"chat_model": record["chat_model"], "image_model": record["model"], "size": record["size"],
              "quality": record["quality"], "turn": record.get("turn", 1)}
    usage = record.get("usage") or {}  # the real count: everything said so far, read again next turn
    tokens = (usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
              + openai_models.image_tokens(*_output_size(record["size"])))
    images = tuple(tuple(size) for size in record.get("context_images", []))  # with this turn's own image
    return before, record["response_id"], previous.image_path, tokens, images


def _output_size(size: str) -> tuple[int, int]:
    """The (width, height) an image of `size` will have; 'auto' is counted as the square default."""
    width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
    return width, height


def describe_turn(request: TurnRequest) -> str:
    """Exactly what a turn would send (the key aside), as text for the notebook (notebook 05)."""
    cost = request.estimated_cost_usd
    upload_kb = sum(len(ref.jpeg) for ref in request.references) / 1024
    context = ("a new conversation" if request.previous_response_id is None else
               f"continues {request.previous_response_id}: the earlier turns, photos and images stay in context")
    photos = (f"{len(request.references)} reference photos as data URLs, {upload_kb:.0f} KB in all"
              if request.references else "none uploaded (the conversation already has them)")
    lines = [
        f"Call:      client.{request.endpoint}(...)  -> POST /v1/responses, turn {request.turn}",
        f"Models:    {request.chat_model} (CHAT_MODEL) calls the image_generation tool, which draws with "
        f"{request.image_model} (IMAGE_MODEL)",
        f"Output:    {request.size}, quality {request.quality}, 1 image, PNG",
        f"Context:   {context}",
        f"Photos:    {photos}",
        f"Cost:      about ${cost:.3f} (chat tokens and the tool's image, both estimated; the sidecar records "
        "the chat usage)" if cost is not None
        else f"Cost:      unknown for {request.chat_model} or {request.image_model}: see {openai_models.PRICES_SOURCE}",
        "Prompt:    " + request.prompt,
    ]
    return "\n".join(lines)


def request_turn(openai_client: openai.OpenAI, request: TurnRequest) -> Any:
    """One conversation turn: responses.create with the image generation tool (notebook 05)."""
    content = [{"type": "input_text", "text": request.prompt}]
    content += [{"type": "input_image", "image_url": _data_url(ref.jpeg), "detail": IMAGE_DETAIL}
                for ref in request.references]
    continued = {"previous_response_id": request.previous_response_id} if request.previous_response_id else {}
    return openai_client.responses.create(
        model=request.chat_model, input=[{"role": "user", "content": content}],
        tools=[request.tool], tool_choice={"type": "image_generation"},  # always draw, never just talk
        store=True, **continued)  # stored by OpenAI, so that the next turn can continue this one


def _data_url(jpeg: bytes) -> str:
    """A JPEG as a data URL, the way an image travels inside a JSON request."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def send_turn(openai_client: openai.OpenAI, request: TurnRequest, output_dir: Path | None = None, *,
              check_models: bool = True) -> comics.ComicResult:
    """Pay for one turn: check both models, call the Responses API, save the PNG and its sidecar (notebook 05)."""
    if request.is_preview:
        raise ValueError("This follow-up was planned from a plan, so it is only a preview: send the first turn, "
                         "then plan the follow-up from its result.")
    if check_models:
        openai_api.require_chat_models(openai_client, request.chat_model, request.image_model)
    started = time.monotonic()
    response = openai_api.send(lambda: request_turn(openai_client, request))
    seconds = round(time.monotonic() - started, 2)
    call = _image_call(response)
    png = comics.png_from_base64(call.result)
    usage = response.usage.model_dump() if getattr(response, "usage", None) else None
    cost = openai_models.turn_cost_from_usage(request.chat_model, request.image_model, usage, request.size,
                                              request.quality, request.image_sizes)
    record = {
        "prompt": request.prompt, "model": request.image_model, "chat_model": request.chat_model,
        "endpoint": request.endpoint, "turn": request.turn, "response_id": response.id,
        "previous_response_id": request.previous_response_id, "image_call_id": call.id,
        "revised_prompt": getattr(call, "revised_prompt", None), "reply": response.output_text,
        "reference_files": [str(ref.path) for ref in request.references],
        "parent": str(request.parent) if request.parent else None,
        "size": request.size, "quality": request.quality, "usage": usage,
        "context_images": [list(size) for size in (*request.image_sizes, Image.open(io.BytesIO(png)).size)],
        "estimated_cost_usd": cost if cost is not None else request.estimated_cost_usd,
        "cost_basis": "chat usage + image estimate" if cost is not None else "estimate",
        "seconds": seconds, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return comics.save_result(png, record, output_dir)


def _image_call(response: Any) -> Any:
    """The finished `image_generation_call` of a response; RequestError when the tool drew nothing."""
    calls = [item for item in response.output or [] if getattr(item, "type", None) == "image_generation_call"]
    done = [call for call in calls if call.status == "completed" and call.result]
    if done:
        return done[-1]
    errors = [str(getattr(call, "error", None) or "") for call in calls] + [str(response.error or "")]
    if any("moderation" in text or "policy" in text for text in errors):
        raise openai_api.RequestError(openai_api.FAILURE_HELP["moderation"], reason="moderation")
    said = (response.output_text or "").strip()
    raise openai_api.RequestError(openai_api.FAILURE_HELP["bad_response"]
                                  + (f"\nThe model answered: {said[:300]}" if said else ""), reason="bad_response")


def follow_conversation(last: comics.ComicResult) -> list[comics.ComicResult]:
    """Every turn of a conversation, first to `last`, by the `parent` links of the sidecars (notebook 05)."""
    turns = [last]
    while (parent := turns[0].record.get("parent")) and Path(parent).with_suffix(".json").is_file():
        if len(turns) > 1000 or any(turn.image_path == Path(parent) for turn in turns):
            raise ValueError(f"The sidecars of {last.image_path.name} link in a circle.")
        turns.insert(0, comics.load_result(parent))
    return turns


def describe_apis(image_model: str, chat_model: str) -> str:
    """How ChatGPT's image generation maps onto the two APIs, as a Markdown table with today's models (nb 05)."""
    rows = [
        ("", "ChatGPT (\"GPT-4o image generation\")", "Images API (`images.edit`)",
         "Responses API (`responses.create`)"),
        ("you talk to", "a chat model", f"the image model `{image_model}`", f"the chat model `{chat_model}`"),
        ("who draws", "a GPT Image model", f"`{image_model}`", f"the `image_generation` tool with `{image_model}`"),
        ("one call", "one message", "one request, one image", "one turn: the tool's image and a short reply"),
        ("memory", "the whole chat", "none: the next call sends the last image again",
         "earlier turns, photos and images, via `previous_response_id`"),
        ("helper", "", "`comics.generate_comic`", "`comic_chat.send_turn`"),
        ("billed", "the subscription", "image tokens", "chat tokens, plus the tool's image tokens"),
    ]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([lines[0], "|" + "---|" * len(rows[0]), *lines[1:]])
