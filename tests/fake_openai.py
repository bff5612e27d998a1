"""A local OpenAI-compatible Images API for the tests, and for trying notebook 05 without paying.

    with FakeOpenAI(api_key="sk-test-...") as server:      # 127.0.0.1, a free port, a background thread
        client = openai.OpenAI(api_key="sk-test-...", base_url=server.base_url, max_retries=0)
        server.fail_next("429", retry_after=1)              # the next image call answers 429 once

It speaks GET /v1/models (entries with `shutdown_date`), JSON POST /v1/images/generations and multipart
POST /v1/images/edits (`image[]` parts). Every request is checked as the real API would (key, model,
prompt, size, quality, each image part a real PNG/JPEG/WebP) and recorded in `server.requests`; the
answer is a small generated PNG (b64_json plus usage) or the failure asked for with `fail_next`:
401, 403 (verification), moderation (400), 429 (with Retry-After), quota (429), 500, slow, drop, garbage.

Run it alone to point notebook 05 at it:
    python tests/fake_openai.py   # prints the OPENAI_BASE_URL and OPENAI_API_KEY to export
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
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
)
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
}


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
    images: list[dict[str, Any]] = field(default_factory=list)  # one per image[] part: name, format, size, bytes
    status: int = 0


class FakeOpenAI:
    """The server: start() / stop() or a `with` block; `base_url` for the client; `requests` for the checks."""

    def __init__(self, api_key: str | None = TEST_KEY, models: tuple[dict[str, Any], ...] = DEFAULT_MODELS) -> None:
        self.api_key = api_key  # None: any key is accepted
        self.models = models
        self.requests: list[RecordedRequest] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def fail_next(self, kind: str, times: int = 1, retry_after: float | None = None, delay: float = 3.0) -> None:
        """Answer the next `times` image calls with a failure: a key of ERRORS, 'slow', 'drop' or 'garbage'."""
        if kind not in (*ERRORS, "slow", "drop", "garbage"):
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._lock:
            self.failures.append(Failure(kind, times, retry_after, delay))

    def image_requests(self) -> list[RecordedRequest]:
        """The requests to /v1/images/*."""
        return [r for r in self.requests if r.path.startswith("/v1/images/")]

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
            if self.path == "/v1/images/edits":
                record.fields, parts = _parse_multipart(self.headers.get("Content-Type", ""), body)
                record.images = [_check_image(name, filename, payload) for name, filename, payload in parts]
            elif self.path == "/v1/images/generations":
                record.fields = json.loads(body)
            else:
                return self._json(record, 404, {"error": {"message": f"Unknown path {self.path}"}})
            _check_fields(record, self.fake.models)
        except ValueError as err:  # a request the real API would refuse: the tests look at this message
            return self._json(record, 400, {"error": {"message": f"fake server check failed: {err}",
                                                      "type": "invalid_request_error", "code": "fake_check"}})
        self._answer(record, self.fake._take_failure())

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


def _image_response(record: RecordedRequest) -> dict[str, Any]:
    """A small generated PNG (four coloured panels, marked as a test image) with a plausible usage block."""
    prompt = record.fields["prompt"]
    seed = hashlib.sha256(prompt.encode()).digest()
    image = Image.new("RGB", (256, 272), "white")
    draw = ImageDraw.Draw(image)
    for i in range(4):
        x, y = (i % 2) * 128, (i // 2) * 128
        draw.rectangle([x + 4, y + 4, x + 123, y + 123], fill=tuple(seed[3 * i: 3 * i + 3]), outline="black", width=3)
    draw.text((8, 258), "made by the local test server, not by OpenAI", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    text_tokens, image_tokens = max(1, len(prompt) // 4), 255 * len(record.images)
    output_tokens = QUALITY_TOKENS[record.fields.get("quality", "auto")]
    usage = {"input_tokens": text_tokens + image_tokens, "output_tokens": output_tokens,
             "total_tokens": text_tokens + image_tokens + output_tokens,
             "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens}}
    return {"created": int(time.time()), "data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}],
            "output_format": "png", "size": record.fields.get("size", "1024x1024"), "usage": usage}


if __name__ == "__main__":
    with FakeOpenAI() as server:
        print(f"export OPENAI_BASE_URL={server.base_url}\nexport OPENAI_API_KEY={TEST_KEY}\n(Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
