"""Run a real Milvus standalone server (PyPI package `milvus` 2.3.5) for the server tests and the benchmark.

Milvus 2.3.5 listens on every network interface (its Go code binds ":port" and no setting changes that), and
the servers we start must be reachable on loopback only. So the server runs in a network namespace of its
own (Linux `unshare --net`), where loopback is the only interface. A small bridge inside it forwards a Unix
socket file to the server's port, and this process forwards a free port on 127.0.0.1 to that file, so that
clients use an ordinary URI, `http://127.0.0.1:<port>`.

    with running_server(tmp_dir) as uri:
        client = database.connect(uri)

Where no namespace can be made (not Linux, or unprivileged user namespaces are disabled, as on Ubuntu 24.04
unless `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`), `isolation_problem()` says why and
the tests skip. Run as a script (`python tests/milvus_server.py serve DATA_DIR SOCKET`) it is that bridge.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child"]
COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


class ServerUnavailable(RuntimeError):
    """The Milvus server could not be started (isolated) here."""


def isolation_problem() -> str | None:
    """Why the server cannot run in its own network namespace here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "the Milvus server tests need Linux network namespaces"
    if shutil.which("unshare") is None:
        return "`unshare` (util-linux) is not installed"
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return ("cannot create a network namespace for the Milvus server "
                f"({probe.stderr.strip() or probe.returncode}); on Ubuntu 24.04 allow unprivileged user "
                "namespaces with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`")
    return None


@contextlib.contextmanager
def running_server(data_dir: Path, timeout: float = 180) -> Iterator[str]:
    """Start Milvus with its data in `data_dir`, yield its URI, stop it on exit."""
    problem = isolation_problem()
    if problem:
        raise ServerUnavailable(problem)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_dir = Path(tempfile.mkdtemp(prefix="milvus-"))  # short path: Unix socket names have a 108-byte limit
    socket_path = socket_dir / "milvus.sock"
    log = open(data_dir / "bridge.log", "w")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen([*UNSHARE, sys.executable, __file__, "serve", str(data_dir), str(socket_path)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    listener = socket.create_server(("127.0.0.1", 0))  # loopback only
    try:
        _wait_until_ready(process, timeout, data_dir / "bridge.log")
        threading.Thread(target=_accept_forever, args=(listener, lambda: _unix_connection(socket_path)),
                         daemon=True).start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            process.stdin.close()  # the bridge stops Milvus when its input closes
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # --kill-child: every process in the namespace goes with it
            process.wait(timeout=30)
        log.close()
        shutil.rmtree(socket_dir, ignore_errors=True)
        shutil.rmtree(data_dir / "bin", ignore_errors=True)  # ~500 MB of server binaries, unpacked at each start


def _wait_until_ready(process: subprocess.Popen, timeout: float, log_path: Path) -> None:
    """Wait for the bridge's READY line; raise ServerUnavailable with its log when it does not come."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result or not result[0].startswith("READY"):
        process.kill()
        raise ServerUnavailable(f"Milvus did not start within {timeout:.0f} s; see {log_path} and the "
                                f"logs under {log_path.parent}/logs:\n{log_path.read_text()[-2000:]}")


# --- inside the namespace -----------------------------------------------------------------------------------------


def _serve(data_dir: str, socket_path: str) -> None:
    """Bring loopback up, start Milvus on it, bridge `socket_path` to it until stdin closes."""
    _bring_loopback_up()
    from milvus import default_server

    default_server.set_base_dir(data_dir)
    for component in COMPONENTS:  # advertise loopback addresses between the components
        default_server.config.set(f"{component}.ip", "127.0.0.1")
    started = time.perf_counter()
    default_server.start()
    port = default_server.listen_port
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen()
    threading.Thread(target=_accept_forever, args=(listener, lambda: socket.create_connection(("127.0.0.1", port))),
                     daemon=True).start()
    print(f"READY port={port} started_in={time.perf_counter() - started:.1f}s", flush=True)
    sys.stdin.read()
    default_server.stop()


def _bring_loopback_up() -> None:
    """`ip link set lo up`, without needing iproute2 (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


def _accept_forever(listener: socket.socket, open_upstream: Callable[[], socket.socket]) -> None:
    """For each client of `listener`, open an upstream connection and copy bytes both ways, until it closes."""
    with contextlib.suppress(OSError):  # raised by accept() once the listener is closed
        while True:
            client, _ = listener.accept()
            upstream = open_upstream()
            for sock in (client, upstream):
                if sock.family != socket.AF_UNIX:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_copy, args=(source, target), daemon=True).start()


def _unix_connection(path: Path) -> socket.socket:
    """A connection to the bridge's Unix socket file."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    return sock


def _copy(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes until either side closes, then close both."""
    try:
        with contextlib.suppress(OSError):  # raised when the other direction has closed the sockets
            while data := source.recv(1 << 16):
                target.sendall(data)
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    _serve(sys.argv[2], sys.argv[3])
