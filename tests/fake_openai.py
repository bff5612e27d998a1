"""A local OpenAI-compatible API for the tests, and for trying notebook 05 without paying.

    with FakeOpenAI(api_key="sk-test-...") as server:      # 127.0.0.1, a free port, a background thread
        client = openai.OpenAI(api_key="sk-test-...", base_url=server.base_url, max_retries=0)
        server.fail_next("429", retry_after=1)              # the next paid call answers 429 once

It speaks GET /v1/models (entries with `shutdown_date`), JSON POST /v1/images/generations, multipart
POST /v1/images/edits (`image[]` parts) and JSON POST /v1/responses with the `image_generation` tool (input
images as data URLs, `previous_response_id` continuation of a response it issued and stored). Every request
is checked as the real API would (key, models, prompt, size, quality, every image a real PNG/JPEG/WebP, the
tool and its options, the chat model able to call it) and recorded in `server.requests` (never the key); the
answer is a small generated PNG with a usage block, or the failure asked for with `fail_next`: 401, 403
(verification), moderation (400), 429 (with Retry-After), quota (429), 500, slow, drop, garbage, and for
/v1/responses also tool_moderation (the tool refuses inside a 200) and no_image (the model only talks).

Run it alone to point notebook 05 at it:
    python tests/fake_openai.py   # prints the OPENAI_BASE_URL and OPENAI_API_KEY to export
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw, UnidentifiedImageError

TEST_KEY = "sk-test-LEAKCHECK-0123456789abcdef0123456789abcdef"  # recognisable: the leak tests search for it
DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    {"id": "gpt-image-2", "shutdown_date": None},
    {"id": "gpt-image-2-2026-04-21", "shutdown_date": None},
    {"id": "gpt-image-1.5", "shutdown_date": "2026-12-01"},
    {"id": "gpt-image-1-mini"},  # no shutdown_date field: the client falls back to its own table
    {"id": "gpt-image-1", "shutdown_date": "2026-10-23"},
    {"id": "gpt-5", "shutdown_date": None},  # not an image model
    {"id": "gpt-5.5", "shutdown_date": None},  # chat models for /v1/responses
    {"id": "gpt-4o", "shutdown_date": "2027-01-14"},
    {"id": "gpt-test-notools", "shutdown_date": None},  # a chat model that cannot call the image tool
)
TOOL_CHAT_MODELS = {"gpt-5.5": (), "gpt-5": (), "gpt-4o": ("gpt-image-2",)}  # chat model -> image models it fails
TOOL_OPTIONS = {"type", "model", "size", "quality", "output_format", "output_compression", "background",
                "moderation", "partial_images", "action", "input_fidelity", "input_image_mask"}
RESPONSE_FIELDS = {"model", "input", "tools", "tool_choice", "store", "previous_response_id", "instructions",
                   "metadata", "reasoning", "max_output_tokens", "parallel_tool_calls", "text", "user"}
TOOL_DEFINITION_TOKENS, IMAGE_INPUT_TOKENS, REPLY_TOKENS = 265, 765, 120  # plausible sizes for the usage block
QUALITY_TOKENS = {"low": 195, "medium": 1756, "high": 7024, "auto": 7024}  # 1024x1024 output tokens
IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}

ERRORS: dict[str, tuple[int, dict[str, Any]]] = {  # kind -> (status, error body) as the real API sends them
    "401": (401, {"message": "Incorrect API key provided: {masked}. You can find your API key at "
                  "https://platform.openai.com/account/api-keys.", "type": "invalid_request_error",
                  "param": None, "code": "invalid_api_key"}),
    "403": (403, {"message": "Your organization must be verified to use the model `{model}`. Please go to: "
                  "https://platform.openai.com/settings/organization/general and click on Verify Organization. "
                  "If you just verified, it can take up to 15 minutes for access to propagate.",
                  "type": "invalid_request_error", "param": None, "code": None}),
    "moderation": (400, {"message": "Your request was rejected as a result of our safety system. Your request may "
                         "contain content that is not allowed by our safety system.",
                         "type": "image_generation_user_error", "param": None, "code": "moderation_blocked"}),
    "429": (429, {"message": "Rate limit reached for {model} in organization org-test on images per minute "
                  "(IPM): Limit 5, Used 5, Requested 1. Please try again in 1s.", "type": "requests",
                  "param": None, "code": "rate_limit_exceeded"}),
    "quota": (429, {"message": "You exceeded your current quota, please check your plan and billing details.",
                    "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}),
    "500": (500, {"message": "The server had an error while processing your request. Sorry about that!",
                  "type": "server_error", "param": None, "code": None}),
    # /v1/responses only: how OpenAI answers a chat model that cannot call the tool (public bug reports,
    # 2026), a pairing it cannot drive (gstack issue #1771), an unknown model and a forgotten response.
    "tool_unsupported": (400, {"message": "Tool 'image_generation' is not supported with {model}.",
                               "type": "invalid_request_error", "param": "tools", "code": None}),
    "pairing": (400, {"message": "There was an issue with your request. Please check your inputs and try again",
                      "type": "invalid_request_error", "param": None, "code": None}),
    "model_not_found": (404, {"message": "The model `{model}` does not exist or you do not have access to it.",
                              "type": "invalid_request_error", "param": None, "code": "model_not_found"}),
    "previous_response_not_found": (400, {"message": "Previous response with id '{model}' not found.",
                                          "type": "invalid_request_error", "param": "previous_response_id",
                                          "code": "previous_response_not_found"}),
}
RESPONSE_ONLY_FAILURES = ("tool_moderation", "no_image")


@dataclass
class Failure:
    """One queued failure: its kind, how many image calls it answers, and its options."""

    kind: str
    times: int = 1
    retry_after: float | None = None
    delay: float = 3.0  # for "slow": seconds before answering


@dataclass
class RecordedRequest:
    """What the server received (never the key itself) and what it answered."""

    method: str
    path: str
    key_ok: bool
    fields: dict[str, Any] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)  # one per image: name, format, size, bytes
    status: int = 0
    answer: dict[str, Any] | None = None  # the JSON the server sent back (responses: without the image)


class FakeOpenAI:
    """The server: start() / stop() or a `with` block; `base_url` for the client; `requests` for the checks."""

    def __init__(self, api_key: str | None = TEST_KEY, models: tuple[dict[str, Any], ...] = DEFAULT_MODELS) -> None:
        self.api_key = api_key  # None: any key is accepted
        self.models = models
        self.requests: list[RecordedRequest] = []
        self.failures: list[Failure] = []
        self.responses: dict[str, dict[str, Any]] = {}  # stored responses by id: what a continuation may name
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def fail_next(self, kind: str, times: int = 1, retry_after: float | None = None, delay: float = 3.0) -> None:
        """Answer the next `times` paid calls with a failure: a key of ERRORS, 'slow', 'drop', 'garbage', or for
        /v1/responses 'tool_moderation' or 'no_image'."""
        if kind not in (*ERRORS, "slow", "drop", "garbage", *RESPONSE_ONLY_FAILURES):
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._lock:
            self.failures.append(Failure(kind, times, retry_after, delay))

    def image_requests(self) -> list[RecordedRequest]:
        """The requests to /v1/images/*."""
        return [r for r in self.requests if r.path.startswith("/v1/images/")]

    def response_requests(self) -> list[RecordedRequest]:
        """The requests to /v1/responses."""
        return [r for r in self.requests if r.path == "/v1/responses"]

    def forget(self, response_id: str) -> None:
        """Drop a stored response, as OpenAI does after 30 days: continuing it then fails."""
        self.responses.pop(response_id, None)

    def start(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _take_failure(self) -> Failure | None:
        with self._lock:
            if not self.failures:
                return None
            failure = self.failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self.failures.pop(0)
            return failure


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (the name http.server expects)
        record = self._record("GET")
        if not record.key_ok:
            return self._error(record, "401", model="")
        if self.path.rstrip("/") != "/v1/models":
            return self._json(record, 404, {"error": {"message": f"Unknown path {self.path}"}})
        entries = [{"object": "model", "created": 1_700_000_000, "owned_by": "system", **m} for m in self.fake.models]
        self._json(record, 200, {"object": "list", "data": entries})

    def do_POST(self) -> None:  # noqa: N802
        record = self._record("POST")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not record.key_ok:
            return self._error(record, "401", model="")
        try:
            if self.path == "/v1/responses":
                return self._respond(record, body)
            if self.path == "/v1/images/edits":
                record.fields, parts = _parse_multipart(self.headers.get("Content-Type", ""), body)
                record.images = [_check_image(name, filename, payload) for name, filename, payload in parts]
            elif self.path == "/v1/images/generations":
                record.fields = json.loads(body)
            else:
                return self._json(record, 404, {"error": {"message": f"Unknown path {self.path}"}})
            _check_fields(record, self.fake.models)
        except _Refusal as refusal:  # a refusal the real API words this way
            return self._error(record, refusal.kind, model=refusal.name)
        except ValueError as err:  # a request the real API would refuse: the tests look at this message
            return self._json(record, 400, {"error": {"message": f"fake server check failed: {err}",
                                                      "type": "invalid_request_error", "code": "fake_check"}})
        self._answer(record, self.fake._take_failure())

    def _respond(self, record: RecordedRequest, body: bytes) -> None:
        """POST /v1/responses: check the request, then answer with the tool's image or the failure asked for."""
        request = json.loads(body)
        if not isinstance(request, dict):
            raise ValueError("the body must be a JSON object")
        record.fields, record.images = _redact_images(request), []
        chain = _check_response_request(request, record, self.fake)
        failure = self.fake._take_failure()
        if failure is not None and failure.kind in RESPONSE_ONLY_FAILURES + ("garbage",):
            return self._json(record, 200, _response_body(record, request, chain, self.fake, broken=failure.kind))
        if failure is None or failure.kind == "slow":
            if failure is not None:
                time.sleep(failure.delay)
            return self._json(record, 200, _response_body(record, request, chain, self.fake))
        self._answer(record, failure)

    def _record(self, method: str) -> RecordedRequest:
        expected = self.fake.api_key
        key_ok = expected is None or self.headers.get("Authorization") == f"Bearer {expected}"
        if self.headers.get("Authorization", "") in ("", "Bearer "):
            key_ok = False
        record = RecordedRequest(method, self.path, key_ok)
        self.fake.requests.append(record)
        return record

    def _answer(self, record: RecordedRequest, failure: Failure | None) -> None:
        model = record.fields.get("model", "")
        if failure is None or failure.kind == "slow":
            if failure is not None:
                time.sleep(failure.delay)
            return self._json(record, 200, _image_response(record))
        if failure.kind == "drop":  # close the connection without an answer
            record.status = -1
            self.close_connection = True
            return
        if failure.kind == "garbage":
            return self._json(record, 200, {"created": int(time.time()), "data": [{"b64_json": "bm90IGFuIGltYWdl"}]})
        headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
        self._error(record, failure.kind, model=model, headers=headers)

    def _error(self, record: RecordedRequest, kind: str, model: str, headers: dict[str, str] | None = None) -> None:
        status, error = ERRORS[kind]
        message = error["message"].format(model=model, masked="sk-test-****cdef")
        self._json(record, status, {"error": {**error, "message": message}}, headers)

    def _json(self, record: RecordedRequest, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        record.status = status
        record.answer = _redact_images(payload)
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", f"req_fake_{uuid.uuid4().hex[:12]}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
    """Form fields and (field name, file name, bytes) file parts of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        raise ValueError(f"images/edits needs multipart/form-data, got {content_type!r}")
    message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, Any] = {}
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is None:
            fields[name] = payload.decode()
        else:
            parts.append((name, part.get_filename(), payload))
    return fields, parts


def _check_image(name: str, filename: str, payload: bytes) -> dict[str, Any]:
    """One uploaded image part, checked: the right field name, a real PNG/JPEG/WebP under 50 MB."""
    if name != "image[]":
        raise ValueError(f"image parts must be named image[], got {name!r}")
    if len(payload) >= 50 * 1024 * 1024:
        raise ValueError(f"{filename} is larger than 50 MB")
    try:
        with Image.open(io.BytesIO(payload)) as image:
            image.verify()
            info = {"filename": filename, "format": image.format, "size": image.size, "bytes": len(payload)}
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{filename} is not a valid image ({err})") from err
    if info["format"] not in IMAGE_FORMATS:
        raise ValueError(f"{filename} is {info['format']}; use PNG, JPEG or WebP")
    return info


def _check_fields(record: RecordedRequest, models: tuple[dict[str, Any], ...]) -> None:
    """The checks the real API makes on model, prompt, size, quality, n and the number of images."""
    fields = record.fields
    model = fields.get("model")
    listed = {m["id"]: m.get("shutdown_date") for m in models}
    if model not in listed or not str(model).startswith(("gpt-image", "chatgpt-image")):
        raise ValueError(f"unknown image model {model!r}")
    if listed[model] and listed[model] <= time.strftime("%Y-%m-%d"):
        raise ValueError(f"model {model!r} was shut down on {listed[model]}")
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > 32_000:
        raise ValueError("prompt must be a non-empty string of at most 32000 characters")
    if fields.get("quality", "auto") not in QUALITY_TOKENS:
        raise ValueError(f"bad quality {fields.get('quality')!r}")
    if str(fields.get("n", 1)) != "1":
        raise ValueError("these tests always ask for n=1")
    if record.path.endswith("/edits") and not 1 <= len(record.images) <= 16:
        raise ValueError(f"images/edits takes 1 to 16 images, got {len(record.images)}")


class _Refusal(Exception):  # noqa: N818 (a refusal, not an error of the server)
    """A request the real API refuses with one of ERRORS (`kind`), naming a model or a response id."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(kind)
        self.kind, self.name = kind, name


def _redact_images(value: Any) -> Any:
    """A copy of a JSON value with every base64 image (data URL or tool result) replaced by its length."""
    if isinstance(value, dict):
        return {k: (f"<base64, {len(v)} characters>" if k in ("result", "b64_json") and isinstance(v, str)
                    else _redact_images(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_images(v) for v in value]
    if isinstance(value, str) and value.startswith("data:"):
        return f"<data URL, {len(value)} characters>"
    return value


def _check_response_request(request: dict[str, Any], record: RecordedRequest, fake: FakeOpenAI) -> dict[str, Any]:
    """The checks the real API makes on a Responses request with the image tool; returns the continued chain."""
    unknown = set(request) - RESPONSE_FIELDS
    if unknown:
        raise ValueError(f"Unknown parameter: {sorted(unknown)[0]!r}")
    listed = {m["id"]: m.get("shutdown_date") for m in fake.models}
    model = request.get("model")
    if model not in listed or (listed[model] and listed[model] <= time.strftime("%Y-%m-%d")):
        raise _Refusal("model_not_found", str(model))
    tools = request.get("tools")
    if not isinstance(tools, list) or len(tools) != 1 or not isinstance(tools[0], dict):
        raise ValueError("these tests send exactly one tool")
    tool = tools[0]
    if tool.get("type") != "image_generation" or set(tool) - TOOL_OPTIONS:
        raise ValueError(f"bad tool {sorted(tool)}: type image_generation and its documented options only")
    if model not in TOOL_CHAT_MODELS:
        raise _Refusal("tool_unsupported", model)
    image_model = tool.get("model", "gpt-image-2")
    if image_model not in listed or not str(image_model).startswith(("gpt-image", "chatgpt-image")):
        raise ValueError(f"unknown image model {image_model!r} in the tool")
    if listed[image_model] and listed[image_model] <= time.strftime("%Y-%m-%d"):
        raise ValueError(f"model {image_model!r} was shut down on {listed[image_model]}")
    if image_model in TOOL_CHAT_MODELS[model]:
        raise _Refusal("pairing", model)
    _check_tool_options(tool)
    if request.get("tool_choice", "auto") not in ("auto", "required", {"type": "image_generation"}):
        raise ValueError(f"Tool choice {request['tool_choice']!r} not found in 'tools' parameter.")
    if not isinstance(request.get("store", True), bool):
        raise ValueError("store must be true or false")
    chain = {"tokens": 0, "images": 0, "turn": 0}
    if "previous_response_id" in request:
        previous = fake.responses.get(request["previous_response_id"])
        if previous is None:
            raise _Refusal("previous_response_not_found", str(request["previous_response_id"]))
        chain = previous
    record.images = _check_input(request.get("input"))
    return chain


def _check_tool_options(tool: dict[str, Any]) -> None:
    """Size, quality and output format of the image tool, as the API accepts them."""
    size = tool.get("size", "auto")
    match = re.fullmatch(r"(\d+)x(\d+)", str(size))
    if size != "auto" and not (match and int(match[1]) % 16 == 0 and int(match[2]) % 16 == 0):
        raise ValueError(f"bad size {size!r}")
    if tool.get("quality", "auto") not in QUALITY_TOKENS:
        raise ValueError(f"bad quality {tool.get('quality')!r}")
    if tool.get("output_format", "png") not in ("png", "jpeg", "webp"):
        raise ValueError(f"bad output_format {tool.get('output_format')!r}")


def _check_input(items: Any) -> list[dict[str, Any]]:
    """The input: text, or user messages of input_text and input_image parts; returns the images, checked."""
    if isinstance(items, str) and items.strip():
        return []
    if not isinstance(items, list) or not items:
        raise ValueError("input must be a non-empty string or a list of messages")
    images, texts = [], []
    for message in items:
        if not isinstance(message, dict) or message.get("role") not in ("user", "system", "developer"):
            raise ValueError(f"each input item must be a message with a role, got {message!r:.80}")
        parts = message.get("content")
        parts = [{"type": "input_text", "text": parts}] if isinstance(parts, str) else parts
        for part in parts if isinstance(parts, list) else [None]:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "input_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "input_image":
                images.append(_check_input_image(part, len(images)))
            else:
                raise ValueError(f"unknown content part {part!r:.80}")
    if not "".join(texts).strip():
        raise ValueError("the input holds no text")
    return images


def _check_input_image(part: dict[str, Any], index: int) -> dict[str, Any]:
    """One input_image part: a data URL of a real PNG/JPEG/WebP (this server has no files and no network)."""
    if part.get("detail", "auto") not in ("low", "high", "auto", "original"):
        raise ValueError(f"bad detail {part.get('detail')!r}")
    url = part.get("image_url")
    match = re.fullmatch(r"data:image/(png|jpeg|webp|gif);base64,([A-Za-z0-9+/=]+)", url or "")
    if "file_id" in part or not match:
        raise ValueError("input_image: this server takes data URLs only (data:image/jpeg;base64,...)")
    info = _check_image("image[]", f"input_image[{index}]", base64.b64decode(match[2], validate=True))
    if info["format"].lower() != match[1].replace("jpg", "jpeg"):
        raise ValueError(f"input_image[{index}] is {info['format']} but its data URL says image/{match[1]}")
    return info


def _response_body(record: RecordedRequest, request: dict[str, Any], chain: dict[str, Any], fake: FakeOpenAI,
                   broken: str | None = None) -> dict[str, Any]:
    """A Responses API answer: the tool's image and a short reply, with usage; stored for a continuation."""
    tool, turn = request["tools"][0], chain["turn"] + 1
    text = _input_text(request["input"])
    images_in_context = chain["images"] + len(record.images)
    input_tokens = chain["tokens"] + TOOL_DEFINITION_TOKENS + len(text) // 4 + IMAGE_INPUT_TOKENS * len(record.images)
    response_id = f"resp_fake_{uuid.uuid4().hex}"
    size = "1024x1024" if tool.get("size", "auto") == "auto" else tool["size"]
    call = {"id": f"ig_fake_{uuid.uuid4().hex[:16]}", "type": "image_generation_call", "status": "completed",
            "action": "edit" if images_in_context else "generate", "background": "opaque", "output_format": "png",
            "quality": tool.get("quality", "auto"), "size": size,
            "result": _test_png(f"{text}{turn}", f"turn {turn}, {images_in_context} images in context"),
            "revised_prompt": f"A comic, turn {turn}: {text[:200]}"}
    reply = f"Here is turn {turn} of your comic."
    if broken == "garbage":
        call["result"] = "bm90IGFuIGltYWdl"
    elif broken == "tool_moderation":
        call.update(status="failed", result=None, error={
            "code": "moderation_blocked", "type": "image_generation_user_error",
            "message": "Your request was rejected as a result of our safety system."})
        reply = "I can't create that image."
    output = [] if broken == "no_image" else [call]
    output.append({"id": f"msg_fake_{uuid.uuid4().hex[:16]}", "type": "message", "status": "completed",
                   "role": "assistant", "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                                                     "text": "Which panel should I change?" if broken else reply}]})
    usage = {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": chain["tokens"]},
             "output_tokens": REPLY_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": input_tokens + REPLY_TOKENS}
    if not broken and request.get("store", True):
        fake.responses[response_id] = {"tokens": input_tokens + REPLY_TOKENS + IMAGE_INPUT_TOKENS,
                                       "images": images_in_context + 1, "turn": turn}
    return {"id": response_id, "object": "response", "created_at": int(time.time()), "status": "completed",
            "error": None, "incomplete_details": None, "model": request["model"], "output": output,
            "parallel_tool_calls": True, "previous_response_id": request.get("previous_response_id"),
            "store": request.get("store", True), "tool_choice": request.get("tool_choice", "auto"),
            "tools": [tool], "usage": usage}


def _input_text(items: Any) -> str:
    """The text parts of a (checked) input, joined."""
    if isinstance(items, str):
        return items
    parts = [m["content"] if isinstance(m["content"], str) else " ".join(
        p.get("text", "") for p in m["content"] if p.get("type") == "input_text") for m in items]
    return " ".join(parts).strip()


def _test_png(seed_text: str, caption: str = "") -> str:
    """A small generated PNG, base64: four coloured panels from `seed_text`, marked as a test image."""
    seed = hashlib.sha256(seed_text.encode()).digest()
    image = Image.new("RGB", (256, 284), "white")
    draw = ImageDraw.Draw(image)
    for i in range(4):
        x, y = (i % 2) * 128, (i // 2) * 128
        draw.rectangle([x + 4, y + 4, x + 123, y + 123], fill=tuple(seed[3 * i: 3 * i + 3]), outline="black", width=3)
    draw.text((8, 258), "made by the local test server, not by OpenAI", fill="black")
    draw.text((8, 270), caption, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _image_response(record: RecordedRequest) -> dict[str, Any]:
    """A small generated PNG (four coloured panels, marked as a test image) with a plausible usage block."""
    prompt = record.fields["prompt"]
    text_tokens, image_tokens = max(1, len(prompt) // 4), 255 * len(record.images)
    output_tokens = QUALITY_TOKENS[record.fields.get("quality", "auto")]
    usage = {"input_tokens": text_tokens + image_tokens, "output_tokens": output_tokens,
             "total_tokens": text_tokens + image_tokens + output_tokens,
             "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens}}
    return {"created": int(time.time()), "data": [{"b64_json": _test_png(prompt)}],
            "output_format": "png", "size": record.fields.get("size", "1024x1024"), "usage": usage}


if __name__ == "__main__":
    with FakeOpenAI() as server:
        print(f"export OPENAI_BASE_URL={server.base_url}\nexport OPENAI_API_KEY={TEST_KEY}\n(Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
