"""helpers.photos.files: a file appears complete or not at all, whatever fails on the way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.photos import files


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_write_atomically_writes_every_file_and_no_temporary(tmp_path: Path) -> None:
    files.write_atomically({tmp_path / "a" / "x.png": b"png", tmp_path / "a" / "x.json": b"{}"})
    assert _names(tmp_path / "a") == ["x.json", "x.png"]
    assert (tmp_path / "a" / "x.png").read_bytes() == b"png"


def test_a_failing_rename_takes_back_the_files_already_placed(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    real_replace, calls = os.replace, []

    def failing_replace(src: Path, dst: Path) -> None:  # the disk fails while the second file is put in place
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomically({tmp_path / "x.png": b"png", tmp_path / "x.json": b"{}"})
    assert len(calls) == 2 and _names(tmp_path) == []  # the first file was taken back, no temporary left


def test_a_failing_write_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_fsync, calls = os.fsync, []

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space"):
        files.write_atomically({tmp_path / "x.png": b"png", tmp_path / "x.json": b"{}"})
    assert _names(tmp_path) == []


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "cache.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer crashed"), files.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer crashed")
    assert target.read_bytes() == b"old" and _names(tmp_path) == ["cache.npz"]


def test_atomic_path_replaces_the_file_when_the_writer_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.onnx"
    with files.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and _names(target.parent) == ["model.onnx"]
