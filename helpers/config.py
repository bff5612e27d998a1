"""Settings for the whole tutorial, in one place (introduced in notebook 01).

Every setting has a default and can be overridden by an environment variable
(or a `.env` file next to the notebooks). `SETTINGS` below is the single list
of them: the README's settings table is checked against it by a test.

Where files go by default depends on how the helpers were installed. In a clone
(`make run`, an editable install) the data and output folders are `data/` and
`outputs/` at the repository root. Installed as a package (the Colab setup cell,
`pip install git+...`) they are `milvus-comics/data` and `milvus-comics/outputs`
under the current working folder (on Colab `/content`), never inside the Python
installation. `project_dir()` names that folder; `.env` is looked for there too.

Nothing is read at import time: call `load_settings()` when you need values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

# The folder that holds the `helpers` package: the repository root in a clone (tests and tools find the
# notebooks and pyproject.toml there); site-packages when installed, so never a place for data: see project_dir().
REPO_ROOT = Path(__file__).resolve().parent.parent
# The repository, and the branch or tag that the badges open and the notebooks' setup cell installs. Both are
# written into the notebooks and the README by tools/sync_notebook_headers.py; publish a tag, then set REPO_REF.
REPO_URL = "https://github.com/milvus-comics/milvus-comics-tutorial"
REPO_REF = "main"
INSTALLED_PROJECT_DIR = "milvus-comics"  # installed mode: data and outputs under ./milvus-comics/

# environment variable -> (Settings field, default, what it changes); folder defaults are relative to project_dir()
SETTINGS: dict[str, tuple[str, str, str]] = {
    "TUTORIAL_DATA_DIR": ("data_dir", "data",
                          "Folder for the dataset, the Milvus Lite database, model exports and caches."),
    "DATASET_SOURCE": ("dataset_source", "",
                       "Offline setting: a local folder or .zip of the sample dataset, used instead of the network."),
    "MODEL_NAME": ("model_name", "resnet50",
                   "Feature extractor: `resnet50` (the blog's, downloads weights), `efficientnet_lite0` (offline) "
                   "or `clip-vit-b-32` (CLIP: also searches by words; downloads weights)."),
    "EMBED_BACKEND": ("backend", "auto",
                      "`auto` (torch on a GPU, ONNX Runtime on a CPU), `torch`, `onnx` or `onnx-int8`."),
    "MILVUS_URI": ("milvus_uri", "",
                   "Milvus server to use (`http://host:19530` or a Zilliz Cloud endpoint); "
                   "empty for a Milvus Lite database under the data folder."),
    "MILVUS_TOKEN": ("milvus_token", "", "Token for a Milvus server (`user:password`) or Zilliz Cloud (API key)."),
    "MILVUS_LITE_PATH": ("milvus_lite_file", "",
                         "The Milvus Lite database (a folder) when MILVUS_URI is empty; empty: milvus.db in the data "
                         "folder."),
    "COLLECTION_NAME": ("collection_name", "reverse_image_search", "Name of the Milvus collection."),
    "IMAGE_MODEL": ("image_model", "gpt-image-2",
                    "OpenAI image model for the comics (checked against your account's model list)."),
    "CHAT_MODEL": ("chat_model", "gpt-5.5",
                   "OpenAI chat model that calls the image generation tool in the comic conversation (notebook 05)."),
    "OUTPUT_DIR": ("output_dir", "outputs", "Where figures and generated comics are saved."),
    "SHARED_COMICS_DIR": ("shared_comics_dir", "",
                          "A folder of comics someone else generated (PNG + JSON sidecar), for example the "
                          "teacher's copy of OUTPUT_DIR/comics: notebook 05 shows them without a key."),
    "HEIC_FULL_DECODE": ("heic_full_decode", "0",
                         "`1`: embed every HEIC/HEIF photo (iPhone) from the photo itself, about 50x slower, instead "
                         "of its embedded thumbnail when that covers the model's input (224 pixels)."),
}
_FOLDER_FIELDS = ("data_dir", "output_dir")  # relative defaults resolved against project_dir()
_VARIABLE_OF = {field_name: env_name for env_name, (field_name, _, _) in SETTINGS.items()}


def is_installed() -> bool:
    """True when the helpers run from an installed package (pip, Colab) rather than from a clone."""
    return not ((REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir())


def project_dir() -> Path:
    """The folder of the default `data/`, `outputs/` and `.env`: the clone, or ./milvus-comics when installed."""
    return Path.cwd() / INSTALLED_PROJECT_DIR if is_installed() else REPO_ROOT


class SettingsError(ValueError):
    """A setting (environment variable or .env) has a value that cannot work; the message says what to write."""

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it: the message, which says what to do, without a traceback."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


@dataclass(frozen=True)
class Settings:
    """The tutorial's settings; see `SETTINGS` for what each one changes."""

    data_dir: Path
    dataset_source: str
    model_name: str
    backend: str
    milvus_uri: str
    milvus_token: str
    milvus_lite_file: str
    collection_name: str
    image_model: str
    chat_model: str
    output_dir: Path
    shared_comics_dir: str
    heic_full_decode: str

    @property
    def decodes_heic_in_full(self) -> bool:
        """True when HEIC_FULL_DECODE asks for every HEIC photo to be decoded in full, never its thumbnail."""
        return self.heic_full_decode.lower() in ("1", "true", "yes", "on")

    @property
    def dataset_dir(self) -> Path:
        """Folder the sample dataset is extracted into."""
        return self.data_dir / "reverse_image_search"

    @property
    def milvus_lite_path(self) -> Path:
        """The Milvus Lite database file used when `MILVUS_URI` is empty."""
        return Path(self.milvus_lite_file).expanduser().resolve() if self.milvus_lite_file else \
            self.data_dir / "milvus.db"

    @property
    def uses_milvus_lite(self) -> bool:
        """True when the database is a local Milvus Lite database (no MILVUS_URI)."""
        return not self.milvus_uri

    @property
    def resolved_milvus_uri(self) -> str:
        """The URI handed to `MilvusClient`: a server address or a Milvus Lite database path."""
        return self.milvus_uri or str(self.milvus_lite_path)

    def __repr__(self) -> str:  # never show the token, even in a traceback
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["milvus_token"]:
            shown["milvus_token"] = "***"
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def load_settings(**overrides: str | Path) -> Settings:
    """Read the settings from the environment (and `.env`), then apply keyword overrides."""
    _load_dotenv()
    values: dict[str, object] = {}
    for env_name, (field_name, default, _) in SETTINGS.items():
        values[field_name] = os.environ.get(env_name, "").strip() or _default(field_name, default)
    unknown = set(overrides) - set(values)
    if unknown:
        raise TypeError(f"Unknown setting(s) {sorted(unknown)}; known: {sorted(values)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    for path_field in _FOLDER_FIELDS:
        values[path_field] = Path(values[path_field]).expanduser().resolve()
        _check_folder(_VARIABLE_OF[path_field], values[path_field])
    _check_milvus_uri(str(values["milvus_uri"]))
    return Settings(**values)  # type: ignore[arg-type]


def use_google_drive(folder: str = INSTALLED_PROJECT_DIR, mount_point: str = "/content/drive") -> Path:
    """On Colab, keep the photos, caches, model exports and results on your Google Drive (every notebook's setup).

    Mounts Drive (Colab asks you to allow it), then points TUTORIAL_DATA_DIR and OUTPUT_DIR at `MyDrive/<folder>`
    for this kernel, so a new session finds the dataset and the cached vectors and skips the slow steps. The
    Milvus Lite database stays on the runtime's own disk (MILVUS_LITE_PATH): Milvus Lite locks its database,
    which Drive's network file system does not reliably support, and rebuilding it from the cached vectors
    takes seconds.
    """
    try:
        from google.colab import drive  # type: ignore[import-not-found]
    except ImportError as err:
        raise RuntimeError("use_google_drive() works on Colab only. Elsewhere, set TUTORIAL_DATA_DIR and OUTPUT_DIR "
                           "(environment or .env) to the folders you want.") from err
    drive.mount(mount_point)
    root = Path(mount_point) / "MyDrive" / folder
    os.environ["TUTORIAL_DATA_DIR"] = str(root / "data")
    os.environ["OUTPUT_DIR"] = str(root / "outputs")
    os.environ["MILVUS_LITE_PATH"] = str(Path.cwd() / folder / "milvus.db")  # the runtime's disk, not Drive
    return root


def _default(field_name: str, default: str) -> str:
    """A setting's default value; a folder's default lies under `project_dir()`."""
    return str(project_dir() / default) if field_name in _FOLDER_FIELDS else default


def check_milvus_uri_variable() -> None:
    """Raise SettingsError for a MILVUS_URI (environment or .env) that is not a server address (notebook 03).

    pymilvus reads MILVUS_URI itself when it is imported, and a file name or a host without `http://` ends in
    its traceback there; `helpers.collection` calls this first, so that the advice comes instead.
    """
    uri = os.environ.get("MILVUS_URI")
    _check_milvus_uri(_dotenv_value("MILVUS_URI") if uri is None else uri)


def _check_milvus_uri(uri: str) -> None:
    """MILVUS_URI names a server (http://host:19530); pymilvus itself reads the variable and rejects anything else."""
    if not uri:
        return
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https", "tcp") and parts.netloc and uri == uri.strip():
        return
    if uri.strip().endswith(".db") or ("/" in uri and "://" not in uri):
        raise SettingsError(f"MILVUS_URI={uri} names a file, but MILVUS_URI is for a Milvus server. For Milvus "
                            f"Lite, leave MILVUS_URI empty and set MILVUS_LITE_PATH={uri.strip()} (or nothing: "
                            "milvus.db in the data folder).")
    if "://" not in uri and uri.strip():
        raise SettingsError(f"MILVUS_URI={uri} has no http:// in front: write MILVUS_URI=http://{uri.strip()} "
                            "(https:// for Zilliz Cloud), or leave it empty to use the Milvus Lite database.")
    raise SettingsError(f"MILVUS_URI={uri!r} is not a server address such as http://localhost:19530: correct it, "
                        "or leave it empty to use the Milvus Lite database in the data folder.")


def _check_folder(variable: str, folder: Path) -> None:
    """Raise SettingsError when a folder setting names a file, or a place inside one: no folder can be made there."""
    for existing in (folder, *folder.parents):
        if existing.exists():
            if existing.is_dir():
                return
            where = "is a file" if existing == folder else f"cannot be made: {existing} is a file"
            raise SettingsError(f"{variable}={folder} {where}, not a folder: point {variable} at a folder "
                                "(it is made when first needed).")


def _dotenv_value(name: str) -> str:
    """A variable's value in `.env` as `_load_dotenv` would set it (the current folder's first), without setting it."""
    try:
        from dotenv import dotenv_values
    except ImportError:
        return ""
    for candidate in (Path.cwd() / ".env", project_dir() / ".env"):
        value = dotenv_values(candidate).get(name) if candidate.is_file() else None
        if value:
            return value
    return ""


def _load_dotenv() -> None:
    """Load `.env` from the current folder, then from `project_dir()`; real variables always win."""
    try:
        from dotenv import load_dotenv
    except ImportError:  # python-dotenv is optional; environment variables still work
        return
    for candidate in (Path.cwd() / ".env", project_dir() / ".env"):
        if candidate.is_file():
            load_dotenv(candidate, override=False)


def describe_environment() -> dict[str, str]:
    """Python and package versions plus the compute device, for the first cell of every notebook."""
    import importlib.metadata as md
    import platform

    info = {"python": platform.python_version()}
    for package in ("torch", "timm", "onnxruntime", "pymilvus", "milvus-lite", "openai"):
        try:
            info[package] = md.version(package)
        except md.PackageNotFoundError:
            info[package] = "not installed"
    info["device"] = _describe_device()
    return info


def detect_device() -> str:
    """The fastest device PyTorch can use here: 'cuda' (a GPU), then 'mps' (Apple), else 'cpu' (notebook 01)."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _describe_device() -> str:
    """'cuda (GPU name)', 'mps (Apple GPU)' or 'cpu (N cores)'."""
    try:
        device = detect_device()
    except ImportError:
        return "unknown (torch not installed)"
    if device == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "mps (Apple GPU)" if device == "mps" else f"cpu ({os.cpu_count()} cores)"


def get_openai_api_key(prompt: bool = False) -> str | None:
    """Find the OpenAI key in the environment, `.env` or Colab secrets; ask for it only if `prompt` is True.

    The key is returned, never printed or saved. Returns None when there is none, also when the front end
    cannot show a prompt (nbval, CI).
    """
    _load_dotenv()
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        key = _colab_secret("OPENAI_API_KEY") or ""
    if not key and prompt:
        key = _ask_hidden("OpenAI API key (input hidden, leave empty to skip): ")
    if key:
        os.environ["OPENAI_API_KEY"] = key  # for this kernel only; nothing is written to disk
    return key or None


def _ask_hidden(question: str) -> str:
    """getpass, or "" where nobody can answer: a kernel without input support (nbval), or no terminal."""
    import getpass

    try:
        from IPython.core.error import StdinNotImplementedError
    except ImportError:  # plain Python: getpass reads the terminal
        StdinNotImplementedError = EOFError  # noqa: N806
    try:
        return getpass.getpass(question).strip()
    except (StdinNotImplementedError, EOFError):
        return ""


def _colab_secret(name: str) -> str | None:
    """Read a secret from Colab's key panel, or None outside Colab or when access is not granted."""
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return None
    expected = tuple(getattr(userdata, n) for n in ("SecretNotFoundError", "NotebookAccessError")
                     if hasattr(userdata, n))
    try:
        return userdata.get(name)
    except expected:  # no such secret, or the notebook was not given access to it
        return None
