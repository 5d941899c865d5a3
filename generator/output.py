"""Putting rendered files into the output folder, or comparing them with it.

The whole folder is written beside the old one and swapped in by renames, so a
failure at any point leaves the previous output as it was. obsgen owns the
folder: a manifest lists what it wrote, and a folder holding anything else is
refused rather than overwritten.
"""

from __future__ import annotations

import difflib
import fcntl
import logging
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generator.errors import OutputError

log = logging.getLogger(__name__)

MANIFEST = ".obsgen-manifest"


def write_output(files: dict[str, str], output_dir: Path) -> None:
    """Replace `output_dir` with exactly `files`."""
    output_dir = output_dir.resolve()
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _cannot_write(output_dir, error) from None

    with _render_lock(output_dir):
        ensure_owned(output_dir)
        _replace(files, output_dir)
    log.info("wrote files=%d output=%s", len(files), output_dir)


def _replace(files: dict[str, str], output_dir: Path) -> None:
    staging, retired = _siblings(output_dir)
    try:
        # Leftovers of a render that was killed half-way.
        for leftover in (staging, retired):
            shutil.rmtree(leftover, ignore_errors=True)
        staging.mkdir()
        if output_dir.is_dir():
            os.chmod(staging, stat.S_IMODE(output_dir.stat().st_mode))

        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
        manifest = "".join(f"{relative}\n" for relative in sorted(files))
        (staging / MANIFEST).write_text(manifest, encoding="utf-8")
        _swap(staging, retired, output_dir)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise _cannot_write(output_dir, error) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def _render_lock(output_dir: Path) -> Iterator[None]:
    """Hold the output's parent folder so that two renders cannot interleave.

    The lock is on the folder itself, so it leaves no file behind, and the
    kernel drops it when a killed render's process ends.
    """
    handle = os.open(output_dir.parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"{output_dir}: another obsgen render is writing here; try again"
            ) from None
        yield
    finally:
        os.close(handle)


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _cannot_write(output_dir: Path, error: OSError) -> OutputError:
    return OutputError(f"{output_dir}: cannot write output: {_reason(error)}")


def _siblings(output_dir: Path) -> tuple[Path, Path]:
    """Where the new output is built and where the old one waits to be removed.

    Fixed names, so that the next render finds and removes what a killed one
    left behind.
    """
    return (
        output_dir.with_name(f".{output_dir.name}.obsgen-new"),
        output_dir.with_name(f".{output_dir.name}.obsgen-old"),
    )


def _swap(staging: Path, retired: Path, output_dir: Path) -> None:
    if not output_dir.exists():
        os.rename(staging, output_dir)
        return

    os.rename(output_dir, retired)
    try:
        os.rename(staging, output_dir)
    except OSError:
        os.rename(retired, output_dir)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def ensure_owned(output_dir: Path) -> None:
    """Raise OutputError unless `output_dir` is absent, empty or obsgen's own."""
    if not output_dir.exists():
        return
    if not output_dir.is_dir():
        raise OutputError(f"{output_dir}: exists and is not a folder")

    owned = _manifest(output_dir) | {MANIFEST}
    try:
        # Stops at the first stranger, so a mistaken `-o /` is refused at once.
        for path in output_dir.rglob("*"):
            relative = path.relative_to(output_dir).as_posix()
            if relative not in owned and (path.is_file() or path.is_symlink()):
                raise OutputError(
                    f"{output_dir}: holds files obsgen did not write ({relative}); "
                    "render into an empty folder or one obsgen wrote"
                )
    except OSError as error:
        raise OutputError(f"{output_dir}: cannot read: {_reason(error)}") from None


def _manifest(output_dir: Path) -> set[str]:
    path = output_dir / MANIFEST
    if not path.is_file():
        return set()
    return {line for line in path.read_text(encoding="utf-8").splitlines() if line}


def stale_diff(files: dict[str, str], output_dir: Path) -> str:
    """A unified diff from what `output_dir` holds to `files`; empty when up to date."""
    present = _manifest(output_dir) if output_dir.is_dir() else set()
    chunks: list[str] = []

    for relative in sorted(present | files.keys()):
        path = output_dir / relative
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        new = files.get(relative, "")
        if relative in files and path.is_file() and old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{relative}" if path.is_file() else "/dev/null",
                tofile=f"b/{relative}" if relative in files else "/dev/null",
            )
        )
        if chunks and not chunks[-1].endswith("\n"):
            chunks.append("\n")
    return "".join(chunks)
