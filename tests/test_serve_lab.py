"""Tests for tools/serve_lab.py (`make run`): one Milvus Lite database served to several kernels, and stopped.

Each test runs the launcher as `make run` does, with a small command in place of JupyterLab, against a Milvus Lite
file in the test's own data folder.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import database_held_elsewhere

from helpers import config
from helpers.collection import database, store

SERVE_LAB = config.REPO_ROOT / "tools" / "serve_lab.py"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
WAIT_A_WHILE = [sys.executable, "-c", "import os, time; print('ready', os.environ['MILVUS_URI'], flush=True); "
                "time.sleep(120)"]


def launcher(*command: str | Path) -> list[str]:
    return [sys.executable, str(SERVE_LAB), "--command", *map(str, command)]


def assert_file_is_free(timeout: float = 0) -> None:
    """This process can open the Milvus Lite file itself (so no server holds it any more), within `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = database.connect()
            break
        except database.DatabaseLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    database.release_database(client)


@pytest.mark.slow  # starts two kernels and the server
def test_two_kernels_share_the_served_database_which_is_free_afterwards(tmp_settings: config.Settings) -> None:
    run = subprocess.run(launcher(sys.executable, SCRIPTS / "use_served_database.py"), capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert re.search(r"^uri http://127\.0\.0\.1:\d+$", run.stdout, re.MULTILINE), run.stdout
    assert "second process: ok" in run.stdout
    assert "images seen by the first: 2" in run.stdout  # the second process's rows, seen by the first at once
    assert "released a file: False" in run.stdout  # a served database has no lock to release
    assert (tmp_settings.data_dir / "milvus-lite-server.log").is_file()
    client = database.connect()  # the server has stopped: this process can open the file, and the rows are there
    try:
        assert store.count_images(client, "shared") == 2
    finally:
        database.release_database(client)


@pytest.mark.slow  # starts a kernel
def test_a_database_held_by_a_kernel_is_refused_with_advice(tmp_settings: config.Settings) -> None:
    with database_held_elsewhere(tmp_settings.milvus_lite_path):
        run = subprocess.run(launcher(sys.executable, "-c", "print('the command ran')"), capture_output=True,
                             text=True, timeout=120)
    assert run.returncode == 1 and "the command ran" not in run.stdout
    assert "open in another process" in run.stderr and "Shut that kernel" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_the_server_stops_with_the_launcher(tmp_settings: config.Settings, how: str) -> None:
    if how == "SIGKILL" and sys.platform != "linux":
        pytest.skip("only Linux lets the server follow a launcher killed outright (PR_SET_PDEATHSIG)")
    process = subprocess.Popen(launcher(*WAIT_A_WHILE), stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout.readline().startswith("Serving the Milvus Lite database")
        assert process.stdout.readline().startswith("ready http://127.0.0.1:")
        with pytest.raises(database.DatabaseLockedError):
            database.connect()  # served: the server holds the file
        process.send_signal(getattr(signal, how))
        process.wait(timeout=60)
        assert_file_is_free(timeout=30 if how == "SIGKILL" else 0)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_a_server_in_milvus_uri_is_used_as_it_is(tmp_settings: config.Settings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_URI", "http://127.0.0.1:1")
    run = subprocess.run(launcher(sys.executable, "-c", "import os; print('uri', os.environ['MILVUS_URI'])"),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "nothing to serve" in run.stdout and "uri http://127.0.0.1:1" in run.stdout
    assert not tmp_settings.milvus_lite_path.exists()


@pytest.mark.slow  # two kernels index the sample photos at once: 30-50 s, left out of `make unit`
def test_two_runs_indexing_one_collection_at_once_store_each_photo_once(tmp_settings: config.Settings) -> None:
    """With `make run`, two notebooks (or a notebook and a terminal) can index one collection at the same moment."""
    run = subprocess.run(launcher(sys.executable, SCRIPTS / "index_at_once.py"), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    said = sorted(line.removeprefix("run said: ") for line in run.stdout.splitlines() if line.startswith("run said"))
    assert said[0] == "added 20", run.stdout
    assert said[1].startswith("busy: process ") and "is indexing the collection 'photos'" in said[1], run.stdout
    assert "rows: 20 distinct paths: 20" in run.stdout
