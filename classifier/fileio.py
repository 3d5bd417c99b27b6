"""The one home for replacing a file safely: write beside it, fsync, rename over it.

A reader (the service watching ``models/CURRENT``, a user opening a report) sees the old file or
the new one, never half of either; a crash or an exception leaves the old file as it was and no
temporary file behind.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PARTIAL_SUFFIX = ".partial"


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place (same folder, so the rename is atomic)."""
    path = Path(path)
    return path.with_name(f"{path.name}{PARTIAL_SUFFIX}")


@contextmanager
def replacing(path: Path, mode: str = "w", encoding: str | None = "utf-8",
              newline: str | None = "") -> Iterator[IO]:
    """A file that replaces ``path`` only when the block succeeds: flushed and fsynced, then renamed.

    A ``.partial`` left by a killed earlier run is overwritten, and removed on any failure."""
    path = Path(path)
    tmp = partial_path(path)
    binary = "b" in mode
    try:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step."""
    with replacing(path) as f:
        f.write(text)


def replace_with(tmp: Path, path: Path) -> None:
    """Move an already written ``tmp`` over ``path`` after syncing it to disk (for files that a library
    writes by name, such as joblib's)."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
