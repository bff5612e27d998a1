"""Is this laptop ready for the workshop? The pre-flight check of `make check` (and of notebook 01).

Each check returns a `CheckResult` (name, ok, detail, what to do) and prints nothing; `format_results` turns the
list into a short list. Nothing is downloaded or left behind, and Milvus Lite is tried in a temporary folder, never on
your own database. A dataset or model weights not downloaded yet are `to do` in notebook 01 (`first_run=True`: the
notebooks download them), and a failing line for `make check`, which a workshop runs before the room's network is
relied on. `python -m helpers.commands.checks` runs every check and exits with 1 when a required one fails.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers import config

DISTRIBUTION = "milvus-comics-tutorial"  # this package, as pip knows it
KEY_PACKAGES = ("torch", "timm", "onnxruntime", "pymilvus", "milvus-lite", "openai", "ipywidgets")
# A full run of the five notebooks writes about 0.5 GB under the data folder with ResNet-50 (dataset 123 MB and its
# zip while extracting, ONNX exports about 100 MB fp32 + 25 MB int8, Milvus Lite and caches, figures); the weights
# (about 100 MB) go to the Hugging Face cache on the same disk. 1 GB leaves about twice that.
MIN_FREE_BYTES = 1_000_000_000
OFFLINE_MODEL = "efficientnet_lite0"


@dataclass(frozen=True)
class CheckResult:
    """One line of the pre-flight check: what was checked, whether it passed, what was found, what to do."""

    name: str
    ok: bool
    detail: str
    fix: str = ""  # what to do when the check fails
    required: bool = True  # False: the workshop still works without it (the OpenAI key)
    later: str = ""  # a download the notebooks make on a first run, e.g. "notebook 02 downloads them"


def project_requirements() -> dict[str, str]:
    """Package name -> version specifier of the runtime dependencies, with `python` for requires-python.

    Read from pyproject.toml in a checkout, else from the installed package's metadata (Colab).
    """
    pyproject = config.REPO_ROOT / "pyproject.toml"
    if pyproject.is_file() and sys.version_info >= (3, 11):
        import tomllib

        project = tomllib.loads(pyproject.read_text())["project"]
        requirements, python = project["dependencies"], project.get("requires-python", "")
    else:
        metadata = md.metadata(DISTRIBUTION)
        requirements = [r for r in md.requires(DISTRIBUTION) or [] if "extra ==" not in r]
        python = metadata.get("Requires-Python") or ""
    specifiers = {"python": python}
    for requirement in requirements:
        name, specifier = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*([^;]*)", requirement).groups()
        specifiers[name.lower().replace("_", "-")] = specifier.strip()
    return specifiers


def _meets(version: str, specifier: str) -> bool:
    """True when `version` satisfies a PEP 440 specifier such as '>=2.4,!=2.13.0' (empty: any version)."""
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(specifier).contains(version, prereleases=True)


def check_python(specifier: str | None = None) -> CheckResult:
    """The Python version against the package's requires-python."""
    specifier = project_requirements()["python"] if specifier is None else specifier
    version = platform.python_version()
    if _meets(version, specifier):
        return CheckResult("python", True, f"{version} ({specifier or 'any'})")
    return CheckResult("python", False, f"{version}, the tutorial needs {specifier}",
                       "Install a newer Python (python.org, or conda: environment.yml), then `make run` again.")


def check_packages(packages: tuple[str, ...] = KEY_PACKAGES, specifiers: dict[str, str] | None = None) -> CheckResult:
    """The installed versions of the key packages against the minimums of pyproject.toml."""
    specifiers = project_requirements() if specifiers is None else specifiers
    found, problems = [], []
    for name in packages:
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            problems.append(f"{name} not installed")
            continue
        found.append(f"{name} {version}")
        if not _meets(version, specifiers.get(name, "")):
            problems.append(f"{name} {version} (needs {specifiers[name]})")
    if not problems:
        return CheckResult("packages", True, ", ".join(found))
    wanted = " ".join(f"'{name}{specifiers.get(name, '')}'" for name in packages
                      if any(p.startswith(f"{name} ") for p in problems))
    return CheckResult("packages", False, "; ".join(problems),
                       f"Run `make install` (or `pip install --upgrade {wanted}` in the tutorial's environment).")


def _existing_parent(path: Path) -> Path:
    """`path` or its nearest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folders(settings: config.Settings) -> CheckResult:
    """The data and output folders can be written (tried with a temporary file; nothing is created)."""
    problems = []
    for variable, folder in (("TUTORIAL_DATA_DIR", settings.data_dir), ("OUTPUT_DIR", settings.output_dir)):
        where = _existing_parent(folder)
        try:
            with tempfile.TemporaryFile(dir=where):
                pass
        except OSError as err:
            problems.append(f"{variable}={folder}: cannot write in {where} ({err.strerror or err})")
    if not problems:
        return CheckResult("folders", True, f"data {settings.data_dir}, outputs {settings.output_dir}")
    return CheckResult("folders", False, "; ".join(problems),
                       "Point TUTORIAL_DATA_DIR and OUTPUT_DIR (.env or environment) at folders you can write to, "
                       "for example ~/milvus-comics/data and ~/milvus-comics/outputs.")


def check_disk_space(settings: config.Settings, min_free_bytes: int = MIN_FREE_BYTES) -> CheckResult:
    """Free space on the disk of the data folder, against `min_free_bytes`."""
    where = _existing_parent(settings.data_dir)
    free = shutil.disk_usage(where).free
    detail = f"{free / 1e9:.1f} GB free on {where} (needs {min_free_bytes / 1e9:.1f} GB)"
    if free >= min_free_bytes:
        return CheckResult("disk space", True, detail)
    return CheckResult("disk space", False, detail,
                       "Free some space, or set TUTORIAL_DATA_DIR to a folder on a disk with more room.")


def check_dataset(settings: config.Settings) -> CheckResult:
    """The sample dataset is there and complete (DATASET_SOURCE, else the data folder's copy); never downloads."""
    from helpers.photos import data

    source = Path(settings.dataset_source).expanduser() if settings.dataset_source else None
    fix = ("Run `make data` (downloads 123 MB) or the dataset cell of notebook 01; without network, set "
           "DATASET_SOURCE to a copy of reverse_image_search.zip (the offline bundle has one).")
    if source is not None and not source.exists():
        return CheckResult("dataset", False, f"DATASET_SOURCE={source} does not exist", fix)
    if source is not None and source.is_file() and not settings.dataset_dir.exists():
        return _check_dataset_zip(source, fix)
    root = source if source is not None and source.is_dir() else settings.dataset_dir
    if not root.exists():
        return CheckResult("dataset", False, f"not downloaded yet (no {root})", fix,
                           later="notebook 01 downloads it in section 2 (123 MB)")
    try:
        data.verify_dataset(root)
    except data.DatasetError as err:
        return CheckResult("dataset", False, str(err), fix)
    return CheckResult("dataset", True, f"complete in {root}")


def _check_dataset_zip(zip_path: Path, fix: str) -> CheckResult:
    """A DATASET_SOURCE zip not extracted yet: it must open and hold the dataset's CSV."""
    from helpers.photos import data

    try:
        with zipfile.ZipFile(zip_path) as archive:
            has_csv = any(name.endswith(data.CSV_NAME) for name in archive.namelist())
    except (zipfile.BadZipFile, OSError) as err:
        return CheckResult("dataset", False, f"{zip_path} is not a readable zip ({err})", fix)
    if not has_csv:
        return CheckResult("dataset", False, f"{zip_path} has no {data.CSV_NAME}: not the sample dataset", fix)
    return CheckResult("dataset", True, f"{zip_path} (notebook 01 extracts it)")


def _model_spec(model_name: str):  # -> models.ModelSpec, or None for an unknown name
    """The model registry entry: the one place this module reads it (helpers.vectors.models)."""
    from helpers.vectors import models

    return models.MODELS.get(model_name)


def hub_repo_id(model_name: str) -> str:
    """The Hugging Face repository the model's pretrained weights come from ('timm/resnet50.a1_in1k')."""
    from helpers.vectors import models

    return models.hub_files(model_name)[0]


def cached_weights(model_name: str) -> Path | None:
    """The model's pretrained weights file in this machine's Hugging Face cache, or None; never downloads."""
    from huggingface_hub import constants, try_to_load_from_cache

    from helpers.vectors import models

    repo_id, filenames = models.hub_files(model_name)
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=constants.HF_HUB_CACHE)
        if isinstance(found, str):
            return Path(found)
    return None


def check_model(settings: config.Settings) -> CheckResult:
    """The MODEL_NAME model can be loaded here without a download."""
    model_name = settings.model_name
    spec = _model_spec(model_name)
    offline = f"Use the offline model: MODEL_NAME={OFFLINE_MODEL} (in .env or the environment)"
    if spec is None:
        return CheckResult("model", False, f"MODEL_NAME={model_name!r} is not a known model", offline + ".")
    if spec.weights != "hub":
        return _load_local_model(model_name)
    weights = cached_weights(model_name)
    if weights is None:
        return CheckResult("model", False, f"{model_name}: its pretrained weights are not downloaded yet",
                           f"{offline}, or fetch them first with network: `python -c \"from helpers import "
                           f"vectors; vectors.load_model('{model_name}')\"`.",
                           later="notebook 02 downloads them the first time it loads the model")
    from safetensors import SafetensorError, safe_open

    try:
        if weights.suffix == ".safetensors":
            with safe_open(str(weights), "pt") as stored:
                stored.keys()
    except (SafetensorError, OSError) as err:  # a truncated or damaged download
        return CheckResult("model", False, f"{model_name}: the cached weights {weights} are damaged ({err})",
                           f"Delete {weights.parent} and fetch them again, or: {offline}.")
    return CheckResult("model", True, f"{model_name}: weights cached ({weights.stat().st_size / 1e6:.0f} MB)")


def _load_local_model(model_name: str) -> CheckResult:
    """Load a model whose weights come with a package (or random ones) and report its vector length."""
    from helpers.vectors import models

    try:
        dim = models.load_model(model_name).num_features
    except models.ModelLoadError as err:
        return CheckResult("model", False, f"{model_name}: {err}", "Run `make install` again.")
    return CheckResult("model", True, f"{model_name}: loads offline ({dim}-d vectors)")


def check_milvus_lite() -> CheckResult:
    """Milvus Lite starts, opens a database in a temporary folder and releases it."""
    from pymilvus.exceptions import MilvusException

    from helpers.collection import database

    try:
        with tempfile.TemporaryDirectory(prefix="preflight-milvus-") as tmp:
            client = database.connect(str(Path(tmp) / "preflight.db"))
            collections = client.list_collections()
            database.release_database(client)
    except (database.StoreError, MilvusException, OSError, RuntimeError) as err:
        return CheckResult("milvus lite", False, f"{type(err).__name__}: {err}",
                           "Reinstall it: `pip install --upgrade 'pymilvus[milvus-lite]'`, and check that the "
                           "temporary folder (TMPDIR) is writable; on Windows see docs/WORKSHOP.md.")
    return CheckResult("milvus lite", True, f"opens and releases a database ({len(collections)} collections)")


def check_openai_key() -> CheckResult:
    """Whether an OpenAI key is set (environment, .env or Colab secrets); the key itself is never shown."""
    if config.get_openai_api_key(prompt=False):
        return CheckResult("openai key", True, "set (not shown)", required=False)
    return CheckResult("openai key", False, "not set: notebook 05 shows what it would send, without generating",
                       "To generate comics, put OPENAI_API_KEY=... in the .env file (never in a notebook cell).",
                       required=False)


def run_checks(settings: config.Settings | None = None, min_free_bytes: int = MIN_FREE_BYTES) -> list[CheckResult]:
    """Every pre-flight check, in the order the workshop needs them; prints nothing."""
    try:
        settings = settings or config.load_settings()
    except config.SettingsError as err:  # a folder setting that names a file, a MILVUS_URI that is no address
        return [CheckResult("settings", False, str(err), "Correct it in .env or the environment, then check again.")]
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("python", check_python), ("packages", check_packages), ("folders", lambda: check_folders(settings)),
        ("disk space", lambda: check_disk_space(settings, min_free_bytes)),
        ("dataset", lambda: check_dataset(settings)), ("model", lambda: check_model(settings)),
        ("milvus lite", check_milvus_lite), ("openai key", check_openai_key)]
    return [_safely(name, check) for name, check in checks]


def _safely(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """Run one check; a check that crashes becomes a failing line instead of stopping the others."""
    try:
        return check()
    except Exception as err:  # noqa: BLE001 - the report must go on; the line names the error
        return CheckResult(name, False, f"the check itself failed: {type(err).__name__}: {err}",
                           "Run `make install` again; if this stays, report it with this line.")


def all_required_pass(results: list[CheckResult], first_run: bool = False) -> bool:
    """True when every required check passed (a missing OpenAI key does not count; on a first run, nor a `to do`)."""
    return all(r.ok or (first_run and r.later) for r in results if r.required)


def format_results(results: list[CheckResult], first_run: bool = False) -> str:
    """One line per check (ok, to do, note, FAIL), what to do under each failing one, and a verdict.

    `first_run=True` (notebook 01): a download the notebooks make for you is `to do`, not FAIL. `make check`
    leaves it False: before a workshop, a dataset or weights still to download is a problem to fix.
    """
    lines = []
    for r in results:
        to_do = first_run and not r.ok and bool(r.later)
        mark = "ok" if r.ok else "to do" if to_do else "FAIL" if r.required else "note"
        lines.append(f"{mark:<5} {r.name:<12} {r.detail}" + (f": {r.later}" if to_do else ""))
        if not r.ok and r.fix and not to_do:
            lines.append(f"{'':<5} {'':<12} -> {r.fix}")
    failed = [r.name for r in results if r.required and not r.ok and not (first_run and r.later)]
    if failed:
        lines.append(f"Not ready: fix {', '.join(failed)} (lines marked FAIL), then run the check again.")
    elif first_run and any(not r.ok and r.later for r in results):
        lines.append("Ready to start: the notebooks download what is marked `to do` (this needs the network).")
    else:
        lines.append("Ready for the workshop.")
    return "\n".join(lines)


def main() -> int:
    """`python -m helpers.commands.checks`: print the list; exit status 1 when a required check fails."""
    results = run_checks()
    print(format_results(results))
    return 0 if all_required_pass(results) else 1


if __name__ == "__main__":
    sys.exit(main())
