"""From found photos to a comic with OpenAI image generation: the lesson of notebook 05.

The steps: pick reference photos among the search hits (`choose_references`), write a prompt
(`build_prompt`), see exactly what would be sent and roughly what it costs (`plan_comic`,
`describe_request`), then pay for one call (`generate_comic`) and refine the result in turns
(`plan_refinement`). Each result is a PNG with a JSON sidecar, written atomically under OUTPUT_DIR/comics.
`load_results` reads back the comics of a folder, such as a teacher's shared with a room without a key.

How the client retries, explains failures and checks the model lives in `openai_api`; prices and
shutdown dates, which go stale on OpenAI's schedule, live in `openai_models`. The same comic as a
conversation, as in ChatGPT (the Responses API), is `comic_chat`.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import openai
from PIL import Image, UnidentifiedImageError

from helpers import config
from helpers.comic import openai_api, openai_models
from helpers.photos import data, files
from helpers.photos.hits import Hit

MAX_REFERENCE_IMAGES = 16  # the most input images images.edit accepts
REFERENCE_MAX_SIDE = 512  # pixels: references are shrunk to fit, which keeps the upload small
REFERENCE_JPEG_QUALITY = 85
MAX_PROMPT_CHARS = 32_000  # the API's limit for GPT image models
QUALITIES = ("low", "medium", "high", "auto")

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

    def image(self) -> Image.Image:
        """The uploaded JPEG as a picture, to look at before paying."""
        return Image.open(io.BytesIO(self.jpeg)).convert("RGB")


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
    def estimated_cost_usd(self) -> float | None:
        """Rough price of this call before it is made (see `openai_models.estimate_cost`)."""
        sizes = [(ref.width, ref.height) for ref in self.references]
        return openai_models.estimate_cost(self.model, self.size, self.quality, sizes, self.prompt)


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

    @property
    def input_paths(self) -> list[Path]:
        """The photos (or the previous turn) this image was made from, where they still exist."""
        sent = self.record.get("reference_files") or ([self.record["parent"]] if self.record.get("parent") else [])
        return [Path(p) for p in sent if Path(p).is_file()]

    @property
    def input_title(self) -> str:
        """What the inputs were: reference photos, or the previous turn of a refinement."""
        return "previous turn (input)" if self.record.get("parent") else "reference photos (input)"

    @property
    def caption(self) -> str:
        """Which model made it, how long it took and about what it cost."""
        cost = self.record.get("estimated_cost_usd")
        via = f" via {self.record['chat_model']}" if self.record.get("chat_model") else ""  # a conversation turn
        return (f"generated by {self.record.get('model')}{via} in {self.record.get('seconds', 0):.0f} s"
                + (f", about ${cost:.3f}" if cost is not None else ""))


def choose_references(hits: Sequence[Hit], max_images: int = 8, label: str | None = None) -> list[Path]:
    """The best distinct photos among search hits, optionally of one label, at most 16 (notebook 05)."""
    if not 1 <= max_images <= MAX_REFERENCE_IMAGES:
        raise ValueError(f"max_images={max_images}: images.edit takes 1 to {MAX_REFERENCE_IMAGES} input images.")
    chosen = [Path(hit.path) for hit in hits if label is None or hit.label == label]  # hits come best first
    return list(dict.fromkeys(chosen))[:max_images]


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
    upload_kb = sum(len(ref.jpeg) for ref in request.references) / 1024
    lines = [
        f"Call:      client.{request.endpoint}(...)  -> POST /v1/images/"
        + ("edits" if request.references else "generations"),
        f"Model:     {request.model}  (the IMAGE_MODEL setting)",
        f"Output:    {request.size}, quality {request.quality}, 1 image, PNG",
        f"Photos:    {len(request.references)} reference photos, {upload_kb:.0f} KB in all",
        f"Cost:      about ${cost:.3f} (a rough estimate; the sidecar records the real usage)" if cost is not None
        else f"Cost:      unknown for {request.model}: see {openai_models.PRICES_SOURCE}",
        *[f"           - {ref.path.name} ({ref.width}x{ref.height})" for ref in request.references],
        "Prompt:    " + request.prompt,
    ]
    return "\n".join(lines)


def request_image(openai_client: openai.OpenAI, request: ComicRequest) -> Any:
    """One image call: images.edit with the reference photos, images.generate without (notebook 05)."""
    options = {"model": request.model, "prompt": request.prompt, "size": request.size,
               "quality": request.quality, "n": 1, "output_format": "png"}
    if request.references:
        uploads = [ref.as_upload(i) for i, ref in enumerate(request.references)]  # sent as image[] parts
        return openai_client.images.edit(image=uploads, **options)
    return openai_client.images.generate(**options)


def generate_comic(openai_client: openai.OpenAI, request: ComicRequest, output_dir: Path | None = None,
                   *, check_model: bool = True) -> ComicResult:
    """Pay for one image: check the model, call the API, save the PNG and its sidecar (notebook 05)."""
    if check_model:
        openai_api.require_image_model(openai_client, request.model)
    started = time.monotonic()
    response = openai_api.send(lambda: request_image(openai_client, request))
    seconds = round(time.monotonic() - started, 2)
    png = _png_from_response(response)
    usage = response.usage.model_dump() if getattr(response, "usage", None) else None
    cost = openai_models.cost_from_usage(request.model, usage)
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
    """The first image of an ImagesResponse as PNG bytes; RequestError(reason="bad_response") if there is none."""
    try:
        b64 = response.data[0].b64_json
    except (AttributeError, IndexError, TypeError) as err:
        raise openai_api.RequestError(openai_api.FAILURE_HELP["bad_response"] + f" ({type(err).__name__})",
                                      reason="bad_response") from err
    return png_from_base64(b64)


def png_from_base64(b64: str | None) -> bytes:
    """A base64 image from the API as PNG bytes; RequestError(reason="bad_response") if it is none (notebook 05)."""
    try:
        raw = base64.b64decode(b64, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            if image.format == "PNG":
                return raw
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return buffer.getvalue()
    except (AttributeError, IndexError, TypeError, ValueError, UnidentifiedImageError, OSError) as err:
        raise openai_api.RequestError(openai_api.FAILURE_HELP["bad_response"] + f" ({type(err).__name__})",
                                      reason="bad_response") from err


def save_result(png: bytes, record: dict[str, Any], output_dir: Path | None = None) -> ComicResult:
    """Write the PNG and its JSON sidecar atomically: both appear complete, or neither does (notebook 05)."""
    output_dir = Path(output_dir or config.load_settings().output_dir / "comics")
    stem = f"comic-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    image_path = output_dir / f"{stem}.png"
    record = {**record, "image_file": image_path.name}
    text = json.dumps(record, indent=2, ensure_ascii=False)  # fails before anything is written
    files.write_atomically({image_path: png, image_path.with_suffix(".json"): text.encode()})  # sidecar last
    return ComicResult(image_path, record)


def load_result(image_path: Path | str) -> ComicResult:
    """A saved result from its PNG path, with the record of its sidecar (notebook 05)."""
    image_path = Path(image_path)
    return ComicResult(image_path, json.loads(image_path.with_suffix(".json").read_text()))


@dataclass(frozen=True)
class SavedComics:
    """The comics found in a folder, newest first, and every other file in it with the reason it was skipped."""

    results: list[ComicResult]
    skipped: list[tuple[Path, str]]


def load_results(folder: Path | str) -> SavedComics:
    """Every comic saved in `folder` (PNG + JSON sidecar), newest first; other files skipped with why (notebook 05).

    For a room with one key: the teacher copies OUTPUT_DIR/comics to a shared folder (SHARED_COMICS_DIR) and
    learners without a key look at the results. Only the files directly in `folder` are read.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"No folder at {folder}: give the folder that holds the comics "
                                "(PNG files with their JSON sidecars), for example a copy of OUTPUT_DIR/comics.")
    entries = sorted(folder.iterdir())
    pngs = {p.stem for p in entries if p.is_file() and p.suffix.lower() == ".png"}
    results, skipped = [], []
    for path in entries:
        if path.is_file() and path.suffix.lower() == ".png":
            result, reason = _read_saved(path)
            results += [result] if result else []
            skipped += [(path, reason)] if reason else []
        elif path.is_file() and path.suffix.lower() == ".json":
            if path.stem not in pngs:
                skipped.append((path, f"a sidecar without its image ({path.stem}.png): copy both files"))
        else:
            skipped.append((path, "not a comic: only PNG files with their JSON sidecars are read"
                            + (" (sub-folders are not searched)" if path.is_dir() else "")))
    return SavedComics(sorted(results, key=_created_at, reverse=True), skipped)


def _read_saved(image_path: Path) -> tuple[ComicResult | None, str]:
    """One saved comic, or None and why it cannot be shown."""
    sidecar = image_path.with_suffix(".json")
    if not sidecar.is_file():
        return None, f"no JSON sidecar ({sidecar.name}): copy the PNG together with its sidecar"
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"its sidecar {sidecar.name} is damaged ({type(err).__name__}: {err})"
    if not isinstance(record, dict) or not {"prompt", "model"} <= set(record):
        return None, f"its sidecar {sidecar.name} is not a comic's record (it has no prompt and model)"
    try:
        with Image.open(image_path) as image:
            image.verify()
    except (OSError, SyntaxError, UnidentifiedImageError) as err:
        return None, f"the image cannot be read ({type(err).__name__}: {err})"
    return ComicResult(image_path, record), ""


def _created_at(result: ComicResult) -> datetime:
    """When a result was made: its sidecar's `created_at`, else the PNG's modification time."""
    try:
        created = datetime.fromisoformat(str(result.record["created_at"]))
    except (KeyError, ValueError):
        created = datetime.fromtimestamp(result.image_path.stat().st_mtime, timezone.utc)
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)
