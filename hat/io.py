"""Atomic file writes: a temporary file in the target's folder, flushed, then renamed over the target."""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator, List, Mapping, Union

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def atomic_output(path: PathLike, binary: bool = False) -> Iterator[IO[Any]]:
    """A temporary file in ``path``'s folder, renamed to ``path`` when the block ends without error (and
    deleted when it raises): readers never see a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: PathLike, write: Callable[[IO[Any]], None], binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file, then rename it to ``path`` (see :func:`atomic_output`)."""
    with atomic_output(path, binary) as stream:
        write(stream)


def write_text_atomic(path: PathLike, text: str) -> None:
    atomic_write(path, lambda stream: stream.write(text))


def changed_settings(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> List[str]:
    """``'key: old -> new'`` for every key whose value differs between two settings records."""
    return [f"{key}: {recorded.get(key)!r} -> {current.get(key)!r}"
            for key in sorted(set(recorded) | set(current)) if recorded.get(key) != current.get(key)]
