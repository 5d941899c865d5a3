"""Putting rendered files into the output folder, or comparing them with it.

The whole folder is written beside the old one and swapped in by renames, so a
failure at any point leaves the previous output as it was. obsgen owns the
folder: a manifest lists what it wrote, and a folder holding anything else is
refused rather than overwritten.
"""

from __future__ import annotations

import difflib
import logging
import os
import shutil
import stat
from pathlib import Path

from generator.errors import OutputError

log = logging.getLogger(__name__)

MANIFEST = ".obsgen-manifest"


def write_output(files: dict[str, str], output_dir: Path) -> None:
    """Replace `output_dir` with exactly `files`."""
    output_dir = output_dir.resolve()
    ensure_owned(output_dir)
    staging, retired = _siblings(output_dir)

    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
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
        reason = error.strerror or str(error)
        raise OutputError(f"{output_dir}: cannot write output: {reason}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("wrote files=%d output=%s", len(files), output_dir)


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

    present = {
        path.relative_to(output_dir).as_posix()
        for path in output_dir.rglob("*")
        if path.is_file() or path.is_symlink()
    }
    foreign = sorted(present - _manifest(output_dir) - {MANIFEST})
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise OutputError(
            f"{output_dir}: holds files obsgen did not write ({foreign[0]}{more}); "
            "render into an empty folder or one obsgen wrote"
        )


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
