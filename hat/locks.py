"""Exclusive outputs: one long-running writer per output (latency CSV, search folder, save dir, workdir).

A run takes an advisory ``fcntl.flock`` on ``<output>.lock`` (a file beside a file output, inside a folder
output) for as long as it writes. The kernel drops the lock when the process dies, however it dies, so
a lock file left by a killed run never blocks a rerun; the file itself only records who held it last.
A second run on the same output fails at once with :class:`~hat.errors.OutputError`, naming the output
and the process that holds it. Holding the lock, a run removes the temporary files that a killed
predecessor left beside its output (atomic writes write ``.<name>.<random>.tmp`` and fairseq
``<checkpoint>.pt.tmp``, then rename): no other run can be writing them.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from .errors import OutputError
from .io import PathLike

def lock_path(output: PathLike, is_dir: bool) -> Path:
    """The lock file of ``output``: ``<dir>/.lock`` for a folder, ``<file>.lock`` beside a file."""
    output = Path(output)
    return output / ".lock" if is_dir else output.with_name(output.name + ".lock")


def check_writable_dir(folder: PathLike, what: str) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it; else one clear OutputError."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check."):
            pass
    except OSError as exc:
        raise OutputError(f"{what} {folder} is not writable ({exc.strerror or exc})") from None
    return folder


@contextlib.contextmanager
def exclusive_output(output: PathLike, what: str, is_dir: bool = False) -> Iterator[Path]:
    """Hold the lock of ``output`` (checked writable first) while the body runs.

    ``what`` names the output in messages ("latency dataset", "search folder", "save dir"...)."""
    output = Path(output)
    check_writable_dir(output if is_dir else output.parent, f"the folder of the {what}")
    path = lock_path(output, is_dir)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise OutputError(f"the {what} {output} is in use by another run ({holder or 'unknown process'}); "
                              "wait for it to finish, or choose another output") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        remove_stale_temporaries(output, is_dir)
        yield output
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def remove_stale_temporaries(output: Path, is_dir: bool) -> list[Path]:
    """Remove the temporary files of ``output`` left by a killed run (call only while holding its lock)."""
    stale = list(output.glob("*.tmp") if is_dir else output.parent.glob(f".{output.name}.*.tmp"))
    for path in stale:
        with contextlib.suppress(OSError):
            path.unlink()
    return stale


def _holder(fd: int) -> Optional[str]:
    """What the lock file says about its holder ("pid N"), if anything."""
    with contextlib.suppress(OSError):
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
        return text or None
    return None
