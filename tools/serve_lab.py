"""`make run`: JupyterLab with the Milvus Lite database served to every notebook, so that several can be open at once.

    python tools/serve_lab.py [-- JUPYTERLAB ARGUMENTS]        # what `make run` calls
    python tools/serve_lab.py --command CMD [ARG ...]          # any command instead of JupyterLab (tests)

Milvus Lite runs inside the process that opens its file and allows one such process per file, so two notebooks
(two kernels) cannot both open `data/milvus.db` themselves. Here one process, `milvus-lite server` (the command
that the milvus-lite package installs), opens the file and serves it on 127.0.0.1; JupyterLab and every kernel it
starts get MILVUS_URI=http://127.0.0.1:<port> and use it like any Milvus server: no lock, no release needed. The
server starts before JupyterLab and stops after it, also when JupyterLab is stopped with Ctrl-C (the server has a
process group of its own, so it is not stopped by the first Ctrl-C, which JupyterLab only asks about) or this
script is terminated; on Linux it also stops if this script is killed outright. Stopping it releases the file.

When MILVUS_URI is already set (your own server), nothing is served and the command starts as it is. Wherever
one kernel runs alone (Colab, a plain `jupyter lab`, nbval) the notebooks open the file in-process, as before.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import config  # noqa: E402

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60  # opening a large database (replaying its log) can take a while
STOP_TIMEOUT_S = 15
LOG_NAME = "milvus-lite-server.log"  # in the data folder, beside milvus.db


class ServeError(RuntimeError):
    """The Milvus Lite server could not start; the message says why and what to do."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.create_server((HOST, 0)) as sock:
        return sock.getsockname()[1]


def server_command(database: Path, port: int) -> list[str]:
    """`milvus-lite server` for `database` on 127.0.0.1:`port`, run by this Python (so from this environment)."""
    return [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(database), "--host", HOST,
            "--port", str(port)]


def _stop_with_parent() -> None:
    """In the server process (Linux): be terminated when the launcher dies, even by SIGKILL, so no server lingers."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def served_database(database: Path, port: int | None = None) -> Iterator[str]:
    """Serve the Milvus Lite file `database` on 127.0.0.1 while the block runs; yields its URI."""
    database.parent.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = database.parent / LOG_NAME
    with open(log_path, "w") as log:
        server = subprocess.Popen(server_command(database, port), stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True,
                                  preexec_fn=_stop_with_parent if sys.platform == "linux" else None)
    try:
        _wait_until_listening(server, port, log_path, database)
        yield f"http://{HOST}:{port}"
    finally:
        _stop(server)


def _wait_until_listening(server: subprocess.Popen, port: int, log_path: Path, database: Path) -> None:
    """Wait until the server accepts connections; raise ServeError, with its log and advice, if it exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = log_path.read_text(errors="replace")
            if "DataDirLockedError" in log:
                raise ServeError(
                    f"The Milvus Lite database {database} is open in another process, usually a notebook kernel "
                    "of another JupyterLab. Shut that kernel (or that JupyterLab) down, then run `make run` again.")
            raise ServeError(f"milvus-lite server stopped at once (exit code {server.returncode}); its log, "
                             f"{log_path}:\n{log[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.2)
    _stop(server)
    raise ServeError(f"milvus-lite server did not answer on {HOST}:{port} within {READY_TIMEOUT_S} s; see {log_path}.")


def _stop(server: subprocess.Popen) -> None:
    """Stop the server as Ctrl-C would (it then closes the database and releases the file); kill it if it hangs."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=STOP_TIMEOUT_S)


def run_command(command: Sequence[str], env: dict[str, str]) -> int:
    """Run `command` (JupyterLab) to its end and return its exit code.

    Ctrl-C reaches JupyterLab directly (same process group), which asks before it stops; this script only waits.
    A SIGTERM or SIGHUP sent to this script is passed on to the command.
    """
    process = subprocess.Popen(list(command), env=env)

    def pass_on(signum: int, frame: object) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, pass_on) for signum in _FORWARDED}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, lambda signum, frame: None)  # JupyterLab decides
    try:
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=STOP_TIMEOUT_S)


_FORWARDED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--command", nargs=argparse.REMAINDER,
                        help="run this command instead of JupyterLab (with MILVUS_URI set)")
    parser.add_argument("lab_args", nargs="*", help="arguments for `jupyter lab` (after --)")
    args = parser.parse_args(argv)
    command = args.command or [sys.executable, "-m", "jupyterlab", *args.lab_args]
    settings = config.load_settings()
    if settings.milvus_uri:
        print(f"MILVUS_URI is set ({settings.milvus_uri}): every notebook uses that server; nothing to serve.",
              flush=True)
        return run_command(command, dict(os.environ))
    database = settings.milvus_lite_path
    try:
        with served_database(database) as uri:
            print(f"Serving the Milvus Lite database {database} at {uri} to every notebook (MILVUS_URI); it stops "
                  "with JupyterLab.", flush=True)
            return run_command(command, {**os.environ, "MILVUS_URI": uri})
    except ServeError as err:
        print(f"serve_lab: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
